// The one table of settings: each has a flag and an environment variable (an initContainer
// passes env only). A flag beats the variable; an empty variable counts as unset, because
// Argo passes an empty string for an optional parameter nobody set.
import { configError } from "../core/errors.ts";

export interface OptionSpec {
  flag: string;
  env: string;
  description: string;
  default?: string;
  /** the commands that take it (each command's --help lists only its own) */
  commands: readonly Command[];
}

export const COMMANDS = ["mint", "refresh", "revoke", "installations"] as const;
export type Command = (typeof COMMANDS)[number];
export const isCommand = (word: string): word is Command => (COMMANDS as readonly string[]).includes(word);

const APP = ["mint", "refresh", "installations"] as const; // need the App's credentials
const WRITE = ["mint", "refresh"] as const; // write the token file
const GITHUB = ["mint", "refresh", "revoke", "installations"] as const; // talk to GitHub

export const OPTIONS = [
  { flag: "app-id", env: "APP_ID", description: "GitHub App ID, or the App's Client ID (Iv23…); the JWT issuer", commands: APP },
  { flag: "private-key-file", env: "PRIVATE_KEY_FILE", description: "path to the App's private key (a mounted secret file); preferred", commands: APP },
  { flag: "private-key", env: "PRIVATE_KEY", description: "the App's private key itself (PEM, base64 PEM, \\n-escaped PEM); prefer PRIVATE_KEY_FILE, and never pass it as a flag: argv is visible to every process", commands: APP },
  // Brokered mode (issue 21, broker-mode.ts): a projected service-account token exchanged at the
  // runner broker instead of the App's credentials; never together with APP_ID and the key.
  { flag: "broker-url", env: "BROKER_URL", description: "brokered mode: the runner broker's URL (https://HOST[:PORT]); tokens come from its POST /api/v1/tokens instead of the App's key", commands: WRITE },
  { flag: "oidc-token-file", env: "OIDC_TOKEN_FILE", description: "brokered mode: the projected service-account token (OIDC) presented to the broker; re-read at every mint", commands: WRITE },
  { flag: "broker-ca-file", env: "BROKER_CA_FILE", description: "brokered mode: PEM bundle of the CA that signed the broker's certificate, when not a public one", commands: WRITE },
  { flag: "installation-id", env: "INSTALLATION_ID", description: "installation ID; when absent the installation is discovered", commands: WRITE },
  { flag: "owner", env: "OWNER", description: "account login (org or user) that selects the installation, case-insensitive", commands: WRITE },
  { flag: "repositories", env: "REPOSITORIES", description: "repo or owner/repo entries, separated by commas, newlines or blanks, to scope the token to", commands: WRITE },
  { flag: "permissions", env: "PERMISSIONS", description: "comma list of name=level (read, write, admin) to scope the token to", commands: WRITE },
  { flag: "output-path", env: "OUTPUT_PATH", description: "where the token is written", default: "/var/run/github/token", commands: ["mint", "refresh", "revoke"] as const },
  { flag: "token-file-mode", env: "TOKEN_FILE_MODE", description: "mode of the token file: 0600, 0640 for a reader in the same group (fsGroup), 0400 or 0440", default: "0600", commands: WRITE },
  { flag: "metadata-path", env: "METADATA_PATH", description: "where to write token metadata (installation_id, expires_at, permissions, repository_selection, repositories, app_id, written_at; never the token); 'none' to skip", default: "<output-path>.json", commands: WRITE },
  { flag: "github-api-url", env: "GITHUB_API_URL", description: "GitHub API URL; GitHub Enterprise Server: https://HOST/api/v3", default: "https://api.github.com", commands: GITHUB },
  { flag: "log-level", env: "LOG_LEVEL", description: "debug, info, warn or error", default: "info", commands: GITHUB },
  { flag: "log-format", env: "LOG_FORMAT", description: "json (one object per line, for log collectors), text (for people), or auto: text when stderr is a terminal, else json", default: "auto", commands: GITHUB },
  { flag: "request-timeout", env: "REQUEST_TIMEOUT", description: "time for each request to GitHub, body included (1s to 5m)", default: "10s", commands: GITHUB },
  { flag: "max-retry-wait", env: "MAX_RETRY_WAIT", description: "longest single wait for a rate limit (0s to 1h); a longer one fails with exit 5", default: "60s", commands: GITHUB },
  { flag: "refresh-interval", env: "REFRESH_INTERVAL", description: "replace the token this often (1m to 55m, e.g. 45m) instead of at 80% of its lifetime", commands: ["refresh"] as const },
  { flag: "listen-addr", env: "LISTEN_ADDR", description: "address of /livez, /healthz, /readyz and /metrics", default: "0.0.0.0:8080", commands: ["refresh"] as const },
  { flag: "revoke-on-exit", env: "REVOKE_ON_EXIT", description: "revoke the token on SIGTERM/SIGINT (true/false)", default: "false", commands: ["refresh"] as const },
] as const satisfies readonly OptionSpec[];

export type OptionFlag = (typeof OPTIONS)[number]["flag"];
export type RawOptions = Partial<Record<OptionFlag, string>>;

/** Merges flags over environment variables; empty values are unset. */
export function mergeOptions(flags: Record<string, unknown>, env: Record<string, string | undefined>): RawOptions {
  const merged: RawOptions = {};
  for (const o of OPTIONS) {
    const fromFlag = flags[o.flag];
    const value = fromFlag !== undefined && fromFlag !== "" ? String(fromFlag) : env[o.env];
    if (value !== undefined && value.trim() !== "") merged[o.flag] = value;
  }
  return merged;
}

/**
 * ghapp-runner-broker's names for settings ghapp-token also has (generator/src/broker/config.ts,
 * BROKER_OPTIONS). The two executables often share a secret's keys and a copied env block: a
 * broker name reaching ghapp-token is named, with the name it wants, instead of "not set".
 */
export const BROKER_NAMES: ReadonlyArray<{ env: string; flag: OptionFlag }> = [
  { env: "GITHUB_APP_ID", flag: "app-id" },
  { env: "GITHUB_APP_PRIVATE_KEY_FILE", flag: "private-key-file" },
  { env: "GITHUB_APP_PRIVATE_KEY_PATH", flag: "private-key-file" },
  { env: "GITHUB_APP_INSTALLATION_ID", flag: "installation-id" },
  { env: "GITHUB_ORG", flag: "owner" },
];

/**
 * A broker name set where ghapp-token's own name (and its flag) is not: a configuration error
 * (exit 2) naming both names, never the value. Only for settings the command takes.
 */
export function checkBrokerNames(command: Command, flags: Record<string, unknown>, env: Record<string, string | undefined>): void {
  const set = (v: unknown) => v !== undefined && String(v).trim() !== "";
  for (const b of BROKER_NAMES) {
    const own = OPTIONS.find((o) => o.flag === b.flag)!;
    if (!(own.commands as readonly string[]).includes(command) || !set(env[b.env]) || set(env[own.env]) || set(flags[b.flag])) continue;
    throw configError(`${b.env} is set, which is ghapp-runner-broker's name for this setting; ghapp-token reads ${own.env} (or --${own.flag}): rename ${b.env} to ${own.env}`);
  }
}
