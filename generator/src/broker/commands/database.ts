// The operator commands that work on DATABASE_URL alone: init-db, list-runners, export-audit-log,
// policies apply / list. They need no OIDC token and no GitHub; their output goes to stdout (or a
// file written whole, never half).
import { existsSync, renameSync, writeFileSync } from "node:fs";
import { configError } from "../../core/errors.ts";
import type { Logger } from "../../core/logger.ts";
import { connectGitHub, openDatabase, type BrokerParts } from "../broker.ts";
import { checkPolicyRunnerGroups } from "../start-checks.ts";
import { parseDatabaseUrl } from "../storage/database-url.ts";
import type { BrokerConfig } from "../config.ts";
import { auditJson } from "../http/audit-log.ts";
import { policyJson } from "../http/label-policies.ts";
import { runnerJson } from "../http/runners.ts";
import { readPolicyDocument } from "../policy-file.ts";
import { RUNNER_STATUSES, type RunnerStatus } from "../storage/storage.ts";

export type Flags = Record<string, string | boolean | undefined>;
type Out = (text: string) => void;

/**
 * The database a read command (list-runners, export-audit-log, policies list) reads: it must be
 * named and, for SQLite, exist. Opening a missing file would create an empty database and answer
 * "nothing" about the wrong one; the operator gets exit 2 naming DATABASE_URL instead, and nothing
 * is created.
 */
export async function openForReading(config: BrokerConfig): Promise<BrokerParts> {
  if (config.databaseUrlIsDefault) {
    throw configError("DATABASE_URL is not set: a read command never creates a database; set it to the broker's database, e.g. sqlite:///var/lib/runner-broker/broker.db or postgres://USER:PASSWORD@HOST:5432/DATABASE");
  }
  const target = parseDatabaseUrl(config.databaseUrl);
  if (target.kind === "sqlite" && target.path !== ":memory:" && !existsSync(target.path)) {
    throw configError(`DATABASE_URL names the SQLite file ${target.path}, which does not exist: a read command creates nothing; point DATABASE_URL at the broker's database (init-db creates a new one)`);
  }
  return openDatabase(config);
}

export async function runInitDb(config: BrokerConfig, out: Out): Promise<number> {
  const { storage } = await openDatabase(config).catch((e) => Promise.reject(e));
  const again = await storage.migrate();
  out(`database ready (${storage.kind}), schema version ${again.version}\n`);
  await storage.close();
  return 0;
}

export async function runListRunners(config: BrokerConfig, flags: Flags, out: Out): Promise<number> {
  const status = flags.status as string | undefined;
  if (status !== undefined && !(RUNNER_STATUSES as readonly string[]).includes(status)) throw configError(`--status "${status.slice(0, 20)}" is not one of ${RUNNER_STATUSES.join(", ")}`);
  const { storage } = await openForReading(config);
  try {
    const runners = await storage.listRunners({
      ...(typeof flags.user === "string" ? { provisionedBy: flags.user } : {}),
      ...(status ? { status: status as RunnerStatus, includeDeleted: status === "deleted" } : {}),
      limit: 1000,
    });
    if (flags.json) out(`${JSON.stringify(runners.map(runnerJson), null, 2)}\n`);
    else {
      const rows = [["NAME", "STATUS", "MODE", "GITHUB_ID", "PROVISIONED_BY", "LABELS", "CREATED"], ...runners.map((r) => [r.name, r.status, r.mode, String(r.githubRunnerId ?? "-"), r.provisionedBy, r.labels.join(","), r.createdAt.toISOString()])];
      const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
      out(rows.map((row) => row.map((c, i) => c.padEnd(widths[i]!)).join("  ").trimEnd()).join("\n") + "\n");
    }
  } finally {
    await storage.close();
  }
  return 0;
}

const csvCell = (v: unknown) => {
  const s = typeof v === "string" ? v : v === null || v === undefined ? "" : JSON.stringify(v);
  // A cell starting with = + - @ would be a formula in a spreadsheet: prefix it.
  const safe = /^[=+\-@\t\r]/.test(s) ? `'${s}` : s;
  return /[",\n\r]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
};

export async function runExportAuditLog(config: BrokerConfig, flags: Flags, out: Out): Promise<number> {
  const format = (flags.format as string | undefined) ?? "jsonl";
  if (format !== "jsonl" && format !== "csv") throw configError(`--format "${format.slice(0, 20)}" is not jsonl or csv`);
  let since: Date | undefined;
  if (typeof flags.since === "string") {
    const t = Date.parse(flags.since);
    if (!Number.isFinite(t)) throw configError(`--since "${flags.since.slice(0, 40)}" is not a time: write e.g. 2026-01-31T00:00:00Z`);
    since = new Date(t);
  }
  const { storage } = await openForReading(config);
  const lines: string[] = format === "csv" ? ["id,at,actor,action,result,runner_name,github_runner_id,details"] : [];
  try {
    let afterId = 0;
    for (;;) {
      const page = await storage.listAudit({ order: "asc", afterId, limit: 1000, ...(since ? { since } : {}) });
      for (const a of page) {
        const j = auditJson(a);
        lines.push(format === "csv" ? [j.id, j.at, j.actor, j.action, j.result, j.runner_name, j.github_runner_id, j.details].map(csvCell).join(",") : JSON.stringify(j));
      }
      if (page.length < 1000) break;
      afterId = page[page.length - 1]!.id;
    }
  } finally {
    await storage.close();
  }
  const text = lines.length ? `${lines.join("\n")}\n` : "";
  if (typeof flags.output === "string") {
    const tmp = `${flags.output}.tmp-${process.pid}`;
    try {
      writeFileSync(tmp, text, { mode: 0o600 });
      renameSync(tmp, flags.output);
    } catch {
      throw configError(`--output ${flags.output}: cannot write there; check the folder exists and is writable`);
    }
  } else out(text);
  return 0;
}

export async function runPoliciesApply(config: BrokerConfig, file: string, out: Out, logger?: Logger): Promise<number> {
  const document = readPolicyDocument(file, "the policy file", config.defaultRunnerGroupId);
  const policies = document.labelPolicies;
  // A policy of an organisation the broker does not serve would give runners nowhere.
  policies.forEach((p, i) => {
    if (p.org !== undefined && config.orgs.length && !config.orgs.some((o) => o.toLowerCase() === p.org!.toLowerCase())) {
      throw configError(`the policy file ${file}: ${i}.org (the policy for "${p.userIdentity.slice(0, 256)}") is ${p.org}, which the broker does not serve: name one of ${config.orgs.join(", ")}, or add it to GITHUB_ORGS`);
    }
  });
  const parts = await openDatabase(config);
  const { storage, policies: service, trustPolicies } = parts;
  try {
    // With the App's credentials at hand, the file's runner groups are checked at GitHub as the
    // API checks a policy it writes; without them the command works on the database alone.
    if (logger && config.appId && config.privateKeyFile && config.org) {
      const { perOrg } = connectGitHub(config, parts, logger);
      // Each policy's group in its own organisation (one naming none: the first of GITHUB_ORGS).
      for (const [n, { org, github }] of perOrg.entries()) {
        const mine = policies.filter((p) => (p.org ?? config.org).toLowerCase() === org.toLowerCase());
        await checkPolicyRunnerGroups({ github, logger, org, policies: mine, where: `the policy file ${file}`, ...(n === 0 && config.defaultRunnerGroupId !== undefined ? { defaultRunnerGroupId: config.defaultRunnerGroupId } : {}) });
      }
    } else logger?.warn("runner groups not checked at GitHub (GITHUB_APP_ID, GITHUB_APP_PRIVATE_KEY_FILE and GITHUB_ORG are not all set): the sync reports a group that does not exist");
    for (const p of policies) {
      const r = await service.put("cli", p);
      out(`${r.created ? "created" : "replaced"} ${p.userIdentity}\n`);
    }
    for (const p of document.trustPolicies) {
      const r = await trustPolicies.put("cli", p);
      out(`${r.created ? "created" : "replaced"} trust policy ${p.name}\n`);
    }
  } finally {
    await storage.close();
  }
  return 0;
}

export async function runPoliciesList(config: BrokerConfig, flags: Flags, out: Out): Promise<number> {
  const { storage, policies } = await openForReading(config);
  try {
    const list = (await policies.list()).map(policyJson);
    if (flags.json) out(`${JSON.stringify(list, null, 2)}\n`);
    else for (const p of list) out(`${p.user_identity}: group ${p.runner_group_id}, max ${p.max_runners}, labels [${p.allowed_labels.join(", ")}] patterns [${p.label_patterns.join(", ")}] required [${p.required_labels.join(", ")}]${p.allow_registration_token ? ", registration tokens allowed" : ""}\n`);
  } finally {
    await storage.close();
  }
  return 0;
}
