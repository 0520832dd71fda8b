// The broker's command line: `ghapp-runner-broker [COMMAND] [FLAGS]`. Every setting of the
// configuration table is also a flag (--oidc-issuer for OIDC_ISSUER, ...); commands add their own.
// node:util parseArgs, strict: an unknown flag is a configuration error (exit 2), never ignored.
import { parseArgs } from "node:util";
import { configError } from "../core/errors.ts";
import { VERSION } from "../core/version.ts";
import { BROKER_OPTIONS } from "./config.ts";

export const BROKER_COMMANDS = {
  serve: "run the API and the background sync (default)",
  "init-db": "create or migrate the database, then exit",
  "list-runners": "list runners from the database [--user ID] [--status S] [--json]",
  "cleanup-stale-runners": "remove runners pending past PENDING_RUNNER_TTL (and offline past OFFLINE_RUNNER_TTL) [--dry-run]",
  "sync-github": "run one sync with GitHub now (takes the sync lease)",
  "export-audit-log": "write the audit log [--since TIME] [--format jsonl|csv] [--output FILE]",
  "policies apply FILE": "create or replace the label policies in a YAML file",
  "policies list": "print the label policies [--json]",
} as const;

const COMMAND_FLAGS = {
  user: { type: "string" },
  status: { type: "string" },
  json: { type: "boolean" },
  "dry-run": { type: "boolean" },
  since: { type: "string" },
  format: { type: "string" },
  output: { type: "string" },
  help: { type: "boolean", short: "h" },
  version: { type: "boolean" },
} as const;

export type BrokerCommand = "serve" | "init-db" | "list-runners" | "cleanup-stale-runners" | "sync-github" | "export-audit-log" | "policies-apply" | "policies-list";

export type BrokerCli =
  | { kind: "output"; text: string }
  | { kind: "run"; command: BrokerCommand; flags: Record<string, string | boolean | undefined>; args: string[] };

export function helpText(): string {
  const cmds = Object.entries(BROKER_COMMANDS).map(([c, d]) => `  ${c.padEnd(24)} ${d}`);
  const opts = BROKER_OPTIONS.map((o) => `  --${o.flag.padEnd(22)} ${o.env}: ${o.description}${"default" in o ? ` (default ${o.default})` : ""}`);
  return `ghapp-runner-broker ${VERSION}: self-hosted runners for callers with their own OIDC identity\n\nUsage: ghapp-runner-broker [COMMAND] [FLAGS]\n\nCommands:\n${cmds.join("\n")}\n\nSettings (flag or environment variable):\n${opts.join("\n")}\n\nExit codes: 0 ok, 2 configuration, 3 GitHub refused the credentials, 4 not found, 5 unavailable (retry later).\n`;
}

export function parseBrokerArgv(argv: string[]): BrokerCli {
  const options: Record<string, { type: "string" | "boolean"; short?: string }> = { ...COMMAND_FLAGS };
  for (const o of BROKER_OPTIONS) options[o.flag] = { type: "string" };
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (e) {
    const flag = /'(-[^']*)'/.exec((e as Error).message)?.[1];
    throw configError(`${flag ? `unknown or malformed flag ${flag.slice(0, 60)}` : "the command line does not parse"}: see ghapp-runner-broker --help`);
  }
  const { values, positionals } = parsed;
  if (values.help) return { kind: "output", text: helpText() };
  if (values.version) return { kind: "output", text: `${VERSION}\n` };
  const [first = "serve", second, ...rest] = positionals;
  const flags = values as Record<string, string | boolean | undefined>;
  if (first === "policies") {
    if (second === "apply") {
      if (rest.length !== 1) throw configError("policies apply takes one FILE: ghapp-runner-broker policies apply policies.yaml");
      return { kind: "run", command: "policies-apply", flags, args: rest };
    }
    if (second === "list" && rest.length === 0) return { kind: "run", command: "policies-list", flags, args: [] };
    throw configError("policies takes apply FILE or list: see ghapp-runner-broker --help");
  }
  const known = ["serve", "init-db", "list-runners", "cleanup-stale-runners", "sync-github", "export-audit-log"];
  if (!known.includes(first)) throw configError(`unknown command "${first.slice(0, 40)}": one of ${known.join(", ")}, policies apply FILE, policies list`);
  if (second !== undefined) throw configError(`${first} takes no arguments (got "${second.slice(0, 40)}"): see ghapp-runner-broker --help`);
  return { kind: "run", command: first as BrokerCommand, flags, args: [] };
}
