// The broker's configuration and operator commands, as an operator runs them: exit codes,
// messages naming the variable and the fix, output, and what reaches the database and GitHub.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { runCommand } from "../helpers/run.ts";
import { ADMIN, ALICE, BROKER, logLines, policy, runBroker, startBroker, startWorld, type World } from "./harness.ts";

let w: World;
beforeAll(async () => {
  w = await startWorld();
});
afterAll(() => w?.close());

const lastError = (stderr: string) => String(logLines(stderr).at(-1)?.message ?? "");

describe("configuration", () => {
  test.each([
    ["OIDC_ISSUER", { OIDC_ISSUER: "" }, /OIDC_ISSUER is not set/],
    ["OIDC_AUDIENCE", { OIDC_AUDIENCE: "" }, /OIDC_AUDIENCE is not set/],
    ["GITHUB_ORG", { GITHUB_ORG: "" }, /GITHUB_ORG is not set/],
    ["GITHUB_APP_ID", { GITHUB_APP_ID: "abc" }, /GITHUB_APP_ID is neither/],
    ["SYNC_INTERVAL without a unit", { SYNC_INTERVAL: "60" }, /SYNC_INTERVAL "60" has no unit: write 60s/],
    ["PENDING_RUNNER_TTL out of range", { PENDING_RUNNER_TTL: "48h" }, /PENDING_RUNNER_TTL 48h is outside/],
    ["LISTEN_ADDR", { LISTEN_ADDR: "localhost" }, /LISTEN_ADDR "localhost" is not host:port/],
    ["OIDC_ISSUER over plain http", { OIDC_ISSUER: "http://issuer.example.com" }, /OIDC_ISSUER uses plain http/],
    ["ADMIN_IDENTITIES with *", { ADMIN_IDENTITIES: "*" }, /ADMIN_IDENTITIES contains "\*"/],
  ])("bad %s: exit 2 naming the variable and the fix", async (_, bad, message) => {
    const r = await runBroker(["serve"], w.env(bad as Record<string, string>));
    expect(r.code).toBe(2);
    expect(lastError(r.stderr)).toMatch(message);
  });

  test("a missing key file and a port in use are exit 2 naming the setting", async () => {
    const noKey = await runBroker(["serve"], w.env({ GITHUB_APP_PRIVATE_KEY_FILE: join(w.dir, "absent.pem") }));
    expect(noKey.code).toBe(2);
    expect(lastError(noKey.stderr)).toContain("GITHUB_APP_PRIVATE_KEY_FILE does not exist");
    // The value is not repeated (issue 9 §5): the operator knows the path they set.
    expect(noKey.stderr).not.toContain("absent.pem");
    const blocker = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response() });
    try {
      const busy = await runBroker(["serve"], w.env({ LISTEN_ADDR: `127.0.0.1:${blocker.port}` }));
      expect(busy.code).toBe(2);
      expect(lastError(busy.stderr)).toContain(`LISTEN_ADDR 127.0.0.1:${blocker.port} cannot be listened on`);
    } finally {
      blocker.stop(true);
    }
  });

  test("a bad DATABASE_URL is exit 2 and never shows its password", async () => {
    const r = await runBroker(["serve"], w.env({ DATABASE_URL: "mysql://u:hunter2secret@db/x" }));
    expect(r.code).toBe(2);
    expect(lastError(r.stderr)).toContain("DATABASE_URL");
    expect(r.stderr).not.toContain("hunter2secret");
  });

  test("there is no switch that turns authentication off", async () => {
    const r = await runBroker(["serve"], w.env({ OIDC_ISSUER: "", ENABLE_OIDC_AUTH: "false", AUTH_ENABLED: "false" }));
    expect(r.code).toBe(2);
    const b = await startBroker(w.env({ ENABLE_OIDC_AUTH: "false" }));
    try {
      expect((await b.call("GET", "/api/v1/runners")).status).toBe(401);
    } finally {
      await b.stop();
    }
  });

  test("flags stand for the variables, GITHUB_APP_PRIVATE_KEY_PATH and SERVICE_PORT are accepted", async () => {
    const env = w.env({ OIDC_ISSUER: "", GITHUB_APP_PRIVATE_KEY_FILE: "", GITHUB_APP_PRIVATE_KEY_PATH: w.keyFile, LISTEN_ADDR: "" });
    const b = await startBroker({ ...env, SERVICE_PORT: "0" }, ["serve", "--oidc-issuer", w.sim.oidc.issuer]);
    try {
      expect((await b.call("GET", "/ready")).status).toBe(200);
    } finally {
      expect(await b.stop()).toBe(0);
    }
  });

  test("an unknown flag or command is exit 2; --help and --version are exit 0", async () => {
    expect((await runBroker(["serve", "--auth=off"], w.env())).code).toBe(2);
    expect((await runBroker(["frobnicate"], w.env())).code).toBe(2);
    const help = await runBroker(["--help"], {});
    expect(help.code).toBe(0);
    for (const word of ["serve", "init-db", "list-runners", "cleanup-stale-runners", "sync-github", "export-audit-log", "policies apply", "OIDC_ISSUER", "PENDING_RUNNER_TTL"]) expect(help.stdout).toContain(word);
    expect((await runBroker(["--version"], {})).stdout).toMatch(/^\d+\.\d+\.\d+/);
  });

  test("POLICY_FILE is applied at start; a bad one stops the start with exit 2", async () => {
    const file = join(w.dir, "policies.yaml");
    writeFileSync(file, `- user_identity: "${ALICE}"\n  allowed_labels: [team-a]\n  runner_group_id: 2\n`);
    const env = w.env({ POLICY_FILE: file });
    const b = await startBroker(env);
    try {
      const r = await b.call("GET", "/api/v1/admin/label-policies", { token: await w.token(ADMIN) });
      expect(r.json.policies.map((p: any) => p.user_identity)).toEqual([ALICE]);
    } finally {
      await b.stop();
    }
    writeFileSync(file, "- user_identity: x\n  label_patterns: ['team-x)|(?:.*']\n  runner_group_id: 2\n");
    const bad = await runBroker(["serve"], w.env({ POLICY_FILE: file }));
    expect(bad.code).toBe(2);
    expect(lastError(bad.stderr)).toMatch(/POLICY_FILE .*0\.label_patterns\[0\]: is not a regular expression the broker accepts/);
  });
});

describe("operator commands (DATABASE_URL only, no token)", () => {
  const env = () => {
    const e = w.env();
    // Nothing of GitHub or OIDC is needed for the database commands.
    for (const k of ["GITHUB_APP_ID", "GITHUB_APP_PRIVATE_KEY_FILE", "GITHUB_ORG", "OIDC_ISSUER", "OIDC_AUDIENCE"]) delete e[k];
    return e;
  };

  test("init-db creates the database and is idempotent", async () => {
    const e = env();
    const first = await runBroker(["init-db"], e);
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(/database ready \(sqlite\), schema version \d+/);
    expect(existsSync(e.DATABASE_URL!.slice("sqlite://".length))).toBe(true);
    expect((await runBroker(["init-db"], e)).code).toBe(0);
  });

  test("policies apply FILE and policies list", async () => {
    // A policy without runner_group_id takes DEFAULT_RUNNER_GROUP_ID (and is refused without it).
    const e = { ...env(), DEFAULT_RUNNER_GROUP_ID: "2" };
    const file = join(w.dir, "p.yaml");
    writeFileSync(file, "- user_identity: '*'\n  allowed_labels: [small]\n- user_identity: team-a\n  label_patterns: ['a-.*']\n  max_runners: 2\n");
    const applied = await runBroker(["policies", "apply", file], e);
    expect([applied.code, applied.stdout]).toEqual([0, "created *\ncreated team-a\n"]);
    expect((await runBroker(["policies", "apply", file], e)).stdout).toBe("replaced *\nreplaced team-a\n");
    const listed = JSON.parse((await runBroker(["policies", "list", "--json"], e)).stdout);
    expect(listed.map((p: any) => [p.user_identity, p.max_runners, p.runner_group_id])).toEqual([["*", 10, 2], ["team-a", 2, 2]]);
    writeFileSync(file, "user_identity: not-a-list\n");
    expect((await runBroker(["policies", "apply", file], e)).code).toBe(2);
  });

  test("list-runners, export-audit-log (jsonl, csv, --since, --output) read what serve wrote", async () => {
    const e = w.env();
    const b = await startBroker(e);
    await b.call("POST", "/api/v1/admin/label-policies", { token: await w.token(ADMIN), body: policy(ALICE) });
    const t = await w.token(ALICE);
    await b.call("POST", "/api/v1/runners/provision", { token: t, body: { runner_name: "cli-1", labels: ["team-a"] } });
    // An identity that starts like a spreadsheet formula (a hostile issuer's sub), refused for want of a policy.
    await b.call("POST", "/api/v1/runners/provision", { token: await w.token("=cmd|calc"), body: { runner_name: "cli-2", labels: ["team-a"] } });
    await b.stop();
    const table = await runBroker(["list-runners"], e);
    expect(table.stdout.split("\n")[0]).toMatch(/^NAME +STATUS +MODE +GITHUB_ID +PROVISIONED_BY/);
    expect(table.stdout).toContain("cli-1");
    const json = JSON.parse((await runBroker(["list-runners", "--json", "--user", ALICE, "--status", "pending"], e)).stdout);
    expect(json.map((r: any) => r.runner_name).sort()).toEqual(["cli-1"]);
    expect(JSON.parse((await runBroker(["list-runners", "--json", "--user", "nobody"], e)).stdout)).toEqual([]);
    expect((await runBroker(["list-runners", "--status", "bogus"], e)).code).toBe(2);

    const jsonl = (await runBroker(["export-audit-log"], e)).stdout.trim().split("\n").map((l) => JSON.parse(l));
    expect(jsonl.map((a) => `${a.action}:${a.result}`)).toEqual(["policy.put:success", "runner.provision:success", "runner.provision:denied"]);
    expect(jsonl[0].id).toBeLessThan(jsonl[2].id);
    const out = join(w.dir, "audit.csv");
    expect((await runBroker(["export-audit-log", "--format", "csv", "--output", out], e)).code).toBe(0);
    const csv = readFileSync(out, "utf8").split("\n");
    expect(csv[0]).toBe("id,at,actor,action,result,runner_name,github_runner_id,details");
    expect(csv.length).toBe(5);
    // A name that starts like a spreadsheet formula is defused.
    expect(csv.some((l) => l.includes(",'=cmd|calc,"))).toBe(true);
    expect((await runBroker(["export-audit-log", "--since", new Date(Date.now() + 60_000).toISOString()], e)).stdout).toBe("");
    expect((await runBroker(["export-audit-log", "--format", "xml"], e)).code).toBe(2);
  });
});

describe("operator commands at GitHub", () => {
  test("cleanup-stale-runners --dry-run lists, then without it removes, runners that never connected", async () => {
    const e = w.env({ PENDING_RUNNER_TTL: "1s" });
    const b = await startBroker(e);
    await b.call("POST", "/api/v1/admin/label-policies", { token: await w.token(ADMIN), body: policy(ALICE) });
    const p = await b.call("POST", "/api/v1/runners/provision", { token: await w.token(ALICE), body: { runner_name: "stale-1", labels: ["team-a"] } });
    await b.stop();
    await Bun.sleep(1200);
    const dry = await runBroker(["cleanup-stale-runners", "--dry-run"], e);
    expect([dry.code, dry.stdout]).toEqual([0, `would remove stale-1 (pending_expired, provisioned by ${ALICE})\n`]);
    expect(w.sim.runners.get(p.json.github_runner_id)).toBeDefined();
    const real = await runBroker(["cleanup-stale-runners"], e);
    expect(real.stdout).toBe(`removed stale-1 (pending_expired, provisioned by ${ALICE})\n`);
    expect(w.sim.runners.get(p.json.github_runner_id)).toBeUndefined();
    expect((await runBroker(["cleanup-stale-runners"], e)).stdout).toBe("no stale runners\n");
  });

  test("sync-github runs one sync now and reports what it did", async () => {
    const e = w.env();
    const b = await startBroker(e);
    await b.call("POST", "/api/v1/admin/label-policies", { token: await w.token(ADMIN), body: policy(ALICE) });
    await b.call("POST", "/api/v1/runners/provision", { token: await w.token(ALICE), body: { runner_name: "sync-1", labels: ["team-a"] } });
    await b.stop();
    const intruder = w.sim.runners.seed({ name: "intruder-cli", labels: ["team-a"], runner_group_id: 2 });
    const r = await runBroker(["sync-github"], e);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("synced runner groups [2]");
    expect(r.stdout).toContain("removed intruder-cli (unprovisioned_runner)");
    expect(w.sim.runners.get(intruder.id)).toBeUndefined();
  });

  test("sync-github pages through a large group: 150 runners that were there first are all kept", async () => {
    const w2 = await startWorld();
    try {
      for (let i = 0; i < 150; i++) w2.sim.runners.seed({ name: `old-${i}`, labels: ["whatever"], runner_group_id: 2 });
      const e = w2.env();
      const file = join(w2.dir, "p.yaml");
      writeFileSync(file, "- user_identity: '*'\n  allowed_labels: [team-a]\n  runner_group_id: 2\n");
      expect((await runBroker(["policies", "apply", file], e)).code).toBe(0);
      expect((await runBroker(["sync-github"], e)).stdout).toContain("150 runners seen, 0 status changes, 0 marked deleted, 0 removed");
      const late = w2.sim.runners.seed({ name: "late-1", labels: ["team-a"], runner_group_id: 2 });
      const second = await runBroker(["sync-github"], e);
      expect(second.stdout).toContain("151 runners seen");
      expect(second.stdout).toContain("removed late-1 (unprovisioned_runner)");
      expect(w2.sim.runners.get(late.id)).toBeUndefined();
      expect(w2.sim.runners.list().filter((r) => r.name.startsWith("old-")).length).toBe(150);
    } finally {
      await w2.close();
    }
  });

  test("sync-github refuses (exit 5) while a running broker holds the sync lease", async () => {
    const e = w.env({ SYNC_INTERVAL: "1s" });
    const b = await startBroker(e);
    try {
      await Bun.sleep(300);
      const r = await runBroker(["sync-github"], e);
      expect(r.code).toBe(5);
      expect(lastError(r.stderr)).toContain("holds the sync lease");
    } finally {
      await b.stop();
    }
    // Stopped gracefully, it gave the lease up: the command runs at once.
    expect((await runBroker(["sync-github"], e)).code).toBe(0);
  });
});

describe("read commands never invent a database", () => {
  const readCommands = [["list-runners"], ["export-audit-log"], ["policies", "list"]];
  const dbFree = (extra: Record<string, string>) => {
    const e = w.env(extra);
    for (const k of ["GITHUB_APP_ID", "GITHUB_APP_PRIVATE_KEY_FILE", "GITHUB_ORG", "OIDC_ISSUER", "OIDC_AUDIENCE"]) delete e[k];
    return e;
  };

  test.each(readCommands)("%s with DATABASE_URL unset: exit 2 naming DATABASE_URL, and no runner-broker.db appears", async (...args) => {
    const e = dbFree({});
    delete e.DATABASE_URL;
    const cwd = mkdtempSync(join(w.dir, "cwd-"));
    const r = await runCommand([BROKER, ...args], { env: e, cwd, timeoutMs: 20_000 });
    expect(r.code).toBe(2);
    expect(lastError(r.stderr)).toStartWith("DATABASE_URL is not set: a read command never creates a database");
    expect(readdirSync(cwd)).toEqual([]);
  });

  test.each(readCommands)("%s on a SQLite file that does not exist: exit 2 naming DATABASE_URL, and the file is not created", async (...args) => {
    const path = join(w.dir, `absent-${args.join("-")}.db`);
    const r = await runBroker(args, dbFree({ DATABASE_URL: `sqlite://${path}` }));
    expect(r.code).toBe(2);
    expect(lastError(r.stderr)).toContain(`DATABASE_URL names the SQLite file ${path}, which does not exist`);
    expect(existsSync(path)).toBe(false);
    expect(existsSync(`${path}-wal`)).toBe(false);
  });

  test("init-db still creates the database; the read commands then read it", async () => {
    const e = dbFree({});
    expect((await runBroker(["init-db"], e)).code).toBe(0);
    const r = await runBroker(["policies", "list", "--json"], e);
    expect([r.code, JSON.parse(r.stdout)]).toEqual([0, []]);
  });
});
