// The broker's settings: one table (flag and environment variable for each), merged flag over
// variable, and turned into a validated BrokerConfig or a configuration error (exit 2) that names
// the variable and the fix. Pure: receives env and flags, touches nothing.
//
// There is deliberately no setting that turns authentication off: prototypes of such services
// ship ENABLE_OIDC_AUTH=false, and that switch is how brokers end up exposed. For development the
// GitHub simulator is an OIDC issuer (docs/runner-broker.md).
import { configError } from "../core/errors.ts";
import { parseDuration } from "../core/duration.ts";
import type { LogLevel } from "../core/logger.ts";
import { parseDatabaseUrl } from "./storage/database-url.ts";
import { parseDashboardConfig, type DashboardConfig } from "./dashboard/settings.ts";

export interface BrokerOptionSpec {
  flag: string;
  env: string;
  /** other variable names accepted for the same setting (older spellings) */
  aliases?: string[];
  /** ghapp-token's names for the same setting: recognised, never read, so the broker can say which name it wants */
  otherNames?: string[];
  description: string;
  default?: string;
}

export const BROKER_OPTIONS = [
  { flag: "app-id", env: "GITHUB_APP_ID", otherNames: ["APP_ID"], description: "GitHub App ID, or its Client ID (Iv23…)" },
  { flag: "private-key-file", env: "GITHUB_APP_PRIVATE_KEY_FILE", aliases: ["GITHUB_APP_PRIVATE_KEY_PATH"], otherNames: ["PRIVATE_KEY_FILE", "PRIVATE_KEY"], description: "path to the App's private key (PEM)" },
  { flag: "org", env: "GITHUB_ORG", otherNames: ["OWNER"], description: "the organisation whose runners the broker manages (a list of one; GITHUB_ORGS for several)" },
  { flag: "orgs", env: "GITHUB_ORGS", description: "the organisations (logins, comma or blank separated) whose runners the broker manages; the App must be installed on each" },
  { flag: "installation-id", env: "GITHUB_APP_INSTALLATION_ID", otherNames: ["INSTALLATION_ID"], description: "the App's installation on the org; found from the org when absent" },
  { flag: "github-api-url", env: "GITHUB_API_URL", description: "GitHub API URL; GitHub Enterprise Server: https://HOST/api/v3", default: "https://api.github.com" },
  { flag: "github-url", env: "GITHUB_URL", description: "GitHub's web URL, which runners register against (config.sh --url)", default: "https://github.com" },
  { flag: "database-url", env: "DATABASE_URL", description: "sqlite:///absolute/path.db, sqlite://relative.db or postgres://user@host/db", default: "sqlite://runner-broker.db" },
  { flag: "listen-addr", env: "LISTEN_ADDR", description: "host:port of the API", default: "0.0.0.0:8000" },
  { flag: "service-port", env: "SERVICE_PORT", description: "port only (host 0.0.0.0); LISTEN_ADDR wins when both are set" },
  { flag: "oidc-issuer", env: "OIDC_ISSUER", description: "the callers' OIDC issuer; tokens' iss must equal it exactly" },
  { flag: "oidc-audience", env: "OIDC_AUDIENCE", description: "the audience callers' tokens must carry in aud" },
  { flag: "oidc-jwks-url", env: "OIDC_JWKS_URL", description: "the issuer's JWKS URL; discovered from the issuer when absent" },
  { flag: "oidc-identity-claim", env: "OIDC_IDENTITY_CLAIM", description: "the claim that names the caller", default: "sub" },
  { flag: "admin-identities", env: "ADMIN_IDENTITIES", description: "comma list of identities allowed on /api/v1/admin" },
  { flag: "allowed-repository-owners", env: "ALLOWED_REPOSITORY_OWNERS", description: "other GitHub owners (logins, comma or blank separated) whose repositories' tokens are accepted (repository_owner); the broker's organisation always is" },
  { flag: "policy-file", env: "POLICY_FILE", description: "YAML list of label policies applied at start (GitOps)" },
  { flag: "default-runner-group-id", env: "DEFAULT_RUNNER_GROUP_ID", description: "runner group of a policy that names none; unset: such a policy is refused" },
  { flag: "manage-runner-groups", env: "MANAGE_RUNNER_GROUPS", description: "true: the broker creates and keeps one runner group per policy (visibility selected, the policy's repositories and workflows) and sets it back when someone widens it", default: "false" },
  { flag: "ready-check-interval", env: "READY_CHECK_INTERVAL", description: "how often /ready's checks of GitHub, the issuer and the database run, whatever the number of callers", default: "10s" },
  { flag: "pending-runner-ttl", env: "PENDING_RUNNER_TTL", description: "remove runners that never connected after this long", default: "15m" },
  { flag: "offline-runner-ttl", env: "OFFLINE_RUNNER_TTL", description: "remove broker runners offline for this long; unset: never" },
  { flag: "sync-interval", env: "SYNC_INTERVAL", description: "how often one replica re-reads the org's runners", default: "1m" },
  { flag: "caller-rate-limit", env: "CALLER_RATE_LIMIT", description: "API requests per minute one identity may make (per replica)", default: "120" },
  { flag: "token-rate-limit", env: "TOKEN_RATE_LIMIT", description: "token exchanges (POST /api/v1/tokens) per minute one identity (issuer and subject) may make (per replica)", default: "600" },
  { flag: "token-mint-rate-limit", env: "TOKEN_MINT_RATE_LIMIT", description: "installation tokens (GitHub calls) per minute the exchanges of one identity may cause (per replica); cache hits do not count", default: "10" },
  { flag: "issuer-jwks-files", env: "ISSUER_JWKS_FILES", description: "issuers whose keys come from a file, not OIDC discovery: ISSUER=PATH pairs separated by commas or blanks (a cluster's /openid/v1/jwks in a mounted ConfigMap)" },
  { flag: "request-timeout", env: "REQUEST_TIMEOUT", description: "timeout of each request to GitHub and the issuer", default: "10s" },
  { flag: "max-retry-wait", env: "MAX_RETRY_WAIT", description: "longest wait for a GitHub rate limit before answering 503", default: "10s" },
  { flag: "github-webhook-secret-file", env: "GITHUB_WEBHOOK_SECRET_FILE", description: "file holding the App's webhook secret; unset: POST /api/v1/webhooks/github answers 404" },
  { flag: "dashboard-client-id", env: "DASHBOARD_CLIENT_ID", description: "the dashboard's OIDC client at OIDC_ISSUER (authorization code with PKCE); unset: the dashboard (/ui) is off" },
  { flag: "dashboard-client-secret-file", env: "DASHBOARD_CLIENT_SECRET_FILE", description: "file holding the dashboard client's secret; unset: a public client (PKCE alone)" },
  { flag: "dashboard-url", env: "DASHBOARD_URL", description: "the dashboard's public address (https), e.g. https://broker.example.com; the redirect URI is DASHBOARD_URL/ui/callback" },
  { flag: "dashboard-session-ttl", env: "DASHBOARD_SESSION_TTL", description: "how long a dashboard sign-in lasts", default: "30m" },
  { flag: "dashboard-session-key-file", env: "DASHBOARD_SESSION_KEY_FILE", description: "file holding the key that seals dashboard session cookies (32+ random bytes), the same for every replica; unset: a random key per process" },
  { flag: "log-level", env: "LOG_LEVEL", description: "debug, info, warn or error", default: "info" },
] as const satisfies readonly BrokerOptionSpec[];

export type BrokerFlag = (typeof BROKER_OPTIONS)[number]["flag"];
export type BrokerRawOptions = Partial<Record<BrokerFlag, string>> & {
  /** settings left unset whose ghapp-token name is set instead: the flag and that name */
  misnamed?: { flag: BrokerFlag; env: string; name: string }[];
};

/** Flags over variables (and their aliases); empty values count as unset. */
export function mergeBrokerOptions(flags: Record<string, unknown>, env: Record<string, string | undefined>): BrokerRawOptions {
  const merged: BrokerRawOptions = {};
  const isSet = (v: string | undefined): v is string => v !== undefined && v.trim() !== "";
  for (const o of BROKER_OPTIONS as readonly BrokerOptionSpec[]) {
    const fromFlag = flags[o.flag];
    const names = [o.env, ...(o.aliases ?? [])];
    const fromEnv = names.map((n) => env[n]).find(isSet);
    const value = fromFlag !== undefined && fromFlag !== "" ? String(fromFlag) : fromEnv;
    if (value !== undefined && value.trim() !== "") merged[o.flag as BrokerFlag] = value.trim();
    else {
      const other = (o.otherNames ?? []).find((n) => isSet(env[n]));
      if (other) (merged.misnamed ??= []).push({ flag: o.flag as BrokerFlag, env: o.env, name: other });
    }
  }
  return merged;
}

export interface BrokerConfig {
  appId: string;
  privateKeyFile: string;
  /** the first of `orgs`: the organisation of a policy that names none while there is only one */
  org: string;
  /** GITHUB_ORGS, or GITHUB_ORG as a list of one; never empty for serve */
  orgs: string[];
  installationId?: number;
  apiUrl: string;
  githubUrl: string;
  /** DATABASE_URL as given (it may hold a password: never log it; storage/database-url.ts masks it) */
  databaseUrl: string;
  /** true when DATABASE_URL was not set and databaseUrl is the default (read commands refuse that) */
  databaseUrlIsDefault: boolean;
  listen: { hostname: string; port: number };
  oidc: { issuer: string; audience: string; jwksUrl?: string; identityClaim: string };
  adminIdentities: string[];
  /** owners besides GITHUB_ORG whose tokens (repository_owner) are accepted */
  allowedRepositoryOwners: string[];
  policyFile?: string;
  /** DEFAULT_RUNNER_GROUP_ID: the group of a policy that names none; unset: such a policy is refused */
  defaultRunnerGroupId?: number;
  /** MANAGE_RUNNER_GROUPS: one runner group per policy, created and kept by the broker */
  manageRunnerGroups: boolean;
  readyCheckIntervalMs: number;
  pendingRunnerTtlMs: number;
  offlineRunnerTtlMs?: number;
  syncIntervalMs: number;
  callerRatePerMinute: number;
  /** POST /api/v1/tokens per minute per identity (TOKEN_RATE_LIMIT) */
  tokenRatePerMinute: number;
  /** GitHub calls per minute one identity's exchanges may cause (TOKEN_MINT_RATE_LIMIT) */
  tokenMintRatePerMinute: number;
  /** issuer → JWKS file (ISSUER_JWKS_FILES) */
  issuerJwksFiles: Map<string, string>;
  requestTimeoutMs: number;
  maxRetryWaitMs: number;
  logLevel: LogLevel;
  /** path of the App's webhook secret (read at start, never logged); unset: no webhook route */
  webhookSecretFile?: string;
  /** the web dashboard (DASHBOARD_*); unset: /ui answers 404 */
  dashboard?: DashboardConfig;
}

/** What a command needs: serve needs everything; the operator commands only the database. */
export type BrokerNeeds = "serve" | "github" | "database";

const LOG_LEVELS = new Set(["debug", "info", "warn", "error"]);

function httpUrl(name: string, text: string, example: string): string {
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    throw configError(`${name} "${text.slice(0, 200)}" is not a URL: e.g. ${example}`);
  }
  if (u.protocol !== "https:" && u.protocol !== "http:") throw configError(`${name} must be an http(s) URL: e.g. ${example}`);
  if (u.username || u.password) throw configError(`${name} must not carry credentials: e.g. ${example}`);
  if (u.protocol === "http:" && !isLoopback(u.hostname)) {
    throw configError(`${name} uses plain http to ${u.hostname}: use https (plain http is accepted on loopback only, for development)`);
  }
  return text.replace(/\/+$/, "");
}

export function isLoopback(host: string): boolean {
  return host === "localhost" || host === "::1" || host === "[::1]" || /^127\.\d+\.\d+\.\d+$/.test(host);
}

function positiveInt(name: string, text: string, fix: string): number {
  if (!/^\d+$/.test(text) || Number(text) <= 0 || Number(text) > 2 ** 31) throw configError(`${name} "${text.slice(0, 40)}" is not a positive whole number: ${fix}`);
  return Number(text);
}

function duration(name: string, text: string, min: number, max: number, example: string): number {
  if (/^\d+(\.\d+)?$/.test(text)) throw configError(`${name} "${text}" has no unit: write ${text}s, or e.g. ${example}`);
  const ms = parseDuration(text, name);
  if (ms < min || ms > max) throw configError(`${name} ${text} is outside ${min / 1000}s..${max / 3_600_000}h: e.g. ${example}`);
  return ms;
}

export function parseBrokerConfig(o: BrokerRawOptions, needs: BrokerNeeds = "serve"): BrokerConfig {
  const databaseUrl = o["database-url"] ?? "sqlite://runner-broker.db";
  parseDatabaseUrl(databaseUrl);

  const logLevel = (o["log-level"] ?? "info").toLowerCase();
  if (!LOG_LEVELS.has(logLevel)) throw configError(`LOG_LEVEL "${logLevel.slice(0, 20)}" is not one of debug, info, warn, error`);

  const appId = o["app-id"] ?? "";
  if (o.org && o.orgs) throw configError("GITHUB_ORG and GITHUB_ORGS are both set: keep one (GITHUB_ORG=acme-org for one organisation, GITHUB_ORGS=acme-org,acme-labs for several)");
  const orgs = o.orgs ? [...new Set(o.orgs.split(/[\s,]+/).filter(Boolean))] : o.org ? [o.org] : [];
  const org = orgs[0] ?? "";
  const privateKeyFile = o["private-key-file"] ?? "";
  if (needs !== "database") {
    // ghapp-token's names (APP_ID, OWNER, ...) set for the broker: say which name it reads
    // rather than fail later on "not set" or, for an optional one, silently do something else.
    const m = o.misnamed?.[0];
    if (m?.name === "PRIVATE_KEY") throw configError("PRIVATE_KEY is set, but ghapp-runner-broker reads the App's key from a file only (PRIVATE_KEY is ghapp-token's name): mount the key as a file and set GITHUB_APP_PRIVATE_KEY_FILE to its path");
    if (m) throw configError(`${m.name} is set, but ghapp-runner-broker reads ${m.env} (${m.name} is ghapp-token's name): rename the variable to ${m.env}, or pass --${m.flag}`);
    if (!appId) throw configError("GITHUB_APP_ID is not set: give the GitHub App's ID (a number) or its Client ID (Iv23…)");
    if (!/^\d+$/.test(appId) && !/^Iv[0-9A-Za-z.]+$/.test(appId)) throw configError("GITHUB_APP_ID is neither a numeric App ID nor a Client ID (Iv…): copy it from the App's settings page");
    if (!privateKeyFile) throw configError("GITHUB_APP_PRIVATE_KEY_FILE is not set: mount the App's private key and give its path (GITHUB_APP_PRIVATE_KEY_PATH is accepted too)");
    if (!org) throw configError("GITHUB_ORG is not set: give the login of the organisation whose runners the broker manages (or GITHUB_ORGS, a comma list, for several)");
    const name = o.orgs ? "GITHUB_ORGS" : "GITHUB_ORG";
    for (const one of orgs) {
      if (!/^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$/.test(one)) throw configError(`${name} has "${one.slice(0, 60)}", which is not an organisation login: letters, digits and hyphens, e.g. acme-org${o.orgs ? " (list logins separated by commas)" : ""}`);
    }
    const lower = orgs.map((x) => x.toLowerCase());
    if (new Set(lower).size !== lower.length) throw configError(`${name} names an organisation twice (logins are case-insensitive): list each once`);
    if (orgs.length > 1 && o["installation-id"]) throw configError("GITHUB_APP_INSTALLATION_ID is set with several organisations in GITHUB_ORGS: leave it unset, the broker finds each organisation's installation");
  }
  const installationId = o["installation-id"] ? positiveInt("GITHUB_APP_INSTALLATION_ID", o["installation-id"], "copy it from the installation's settings URL, or leave it unset to find it from GITHUB_ORG") : undefined;
  const apiUrl = httpUrl("GITHUB_API_URL", o["github-api-url"] ?? "https://api.github.com", "https://api.github.com or https://HOST/api/v3");
  const githubUrl = httpUrl("GITHUB_URL", o["github-url"] ?? "https://github.com", "https://github.com or https://HOST for GitHub Enterprise Server");

  let listen = { hostname: "0.0.0.0", port: 8000 };
  if (o["listen-addr"]) {
    const m = /^(\[[0-9a-fA-F:]+\]|[^:\s]*):(\d{1,5})$/.exec(o["listen-addr"]);
    if (!m || Number(m[2]) > 65535) throw configError(`LISTEN_ADDR "${o["listen-addr"].slice(0, 60)}" is not host:port, e.g. 0.0.0.0:8000 or 127.0.0.1:8000`);
    listen = { hostname: (m[1] || "0.0.0.0").replace(/^\[|\]$/g, ""), port: Number(m[2]) };
  } else if (o["service-port"]) {
    const port = Number(o["service-port"]);
    if (!/^\d{1,5}$/.test(o["service-port"]) || port > 65535) throw configError(`SERVICE_PORT "${o["service-port"].slice(0, 20)}" is not a port number, e.g. 8000`);
    listen = { hostname: "0.0.0.0", port };
  }

  const issuer = o["oidc-issuer"] ?? "";
  const audience = o["oidc-audience"] ?? "";
  if (needs === "serve") {
    if (!issuer) throw configError("OIDC_ISSUER is not set: give your callers' OIDC issuer, e.g. https://token.actions.githubusercontent.com (authentication cannot be turned off)");
    if (!audience) throw configError("OIDC_AUDIENCE is not set: choose the audience callers request their tokens for, e.g. ghapp-runner-broker");
  }
  const oidc = {
    issuer: issuer ? httpUrl("OIDC_ISSUER", issuer, "https://token.actions.githubusercontent.com") : "",
    audience,
    identityClaim: o["oidc-identity-claim"] ?? "sub",
    ...(o["oidc-jwks-url"] ? { jwksUrl: httpUrl("OIDC_JWKS_URL", o["oidc-jwks-url"], "https://token.actions.githubusercontent.com/.well-known/jwks") } : {}),
  };
  // The issuer string is compared exactly; keep what the operator wrote (a trailing slash matters).
  if (issuer) oidc.issuer = issuer;
  if (!/^[A-Za-z_][A-Za-z0-9_.:-]{0,63}$/.test(oidc.identityClaim)) throw configError(`OIDC_IDENTITY_CLAIM "${oidc.identityClaim.slice(0, 60)}" is not a claim name, e.g. sub or repository`);

  const adminIdentities = (o["admin-identities"] ?? "").split(",").map((s) => s.trim()).filter(Boolean);
  if (adminIdentities.includes("*")) throw configError("ADMIN_IDENTITIES contains \"*\": name each administrator's identity (the value of OIDC_IDENTITY_CLAIM in their token)");
  const allowedRepositoryOwners = (o["allowed-repository-owners"] ?? "").split(/[\s,]+/).filter(Boolean);
  for (const owner of allowedRepositoryOwners) {
    if (!/^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$/.test(owner)) throw configError(`ALLOWED_REPOSITORY_OWNERS has "${owner.slice(0, 60)}", which is not a GitHub user or organisation login: list logins separated by commas or blanks, e.g. acme-partner,acme-labs (there is no wildcard)`);
  }

  const pendingRunnerTtlMs = duration("PENDING_RUNNER_TTL", o["pending-runner-ttl"] ?? "15m", 1_000, 24 * 3_600_000, "15m");
  const offlineRunnerTtlMs = o["offline-runner-ttl"] ? duration("OFFLINE_RUNNER_TTL", o["offline-runner-ttl"], 1_000, 30 * 24 * 3_600_000, "24h") : undefined;
  const syncIntervalMs = duration("SYNC_INTERVAL", o["sync-interval"] ?? "1m", 1_000, 3_600_000, "1m");
  const readyCheckIntervalMs = duration("READY_CHECK_INTERVAL", o["ready-check-interval"] ?? "10s", 1_000, 3_600_000, "10s");
  const defaultRunnerGroupId = o["default-runner-group-id"] ? positiveInt("DEFAULT_RUNNER_GROUP_ID", o["default-runner-group-id"], "the id of the runner group dedicated to the broker (its settings URL ends with it), or leave it unset so that every policy names its own") : undefined;
  const manageRaw = (o["manage-runner-groups"] ?? "false").trim().toLowerCase();
  if (manageRaw !== "true" && manageRaw !== "false") throw configError(`MANAGE_RUNNER_GROUPS "${manageRaw.slice(0, 20)}" is not true or false: set it to true to let the broker create and keep one runner group per policy, or false (the default)`);
  const callerRatePerMinute = positiveInt("CALLER_RATE_LIMIT", o["caller-rate-limit"] ?? "120", "requests per minute per identity, e.g. 120");
  const tokenRatePerMinute = positiveInt("TOKEN_RATE_LIMIT", o["token-rate-limit"] ?? "600", "token exchanges per minute per identity, e.g. 600");
  const tokenMintRatePerMinute = positiveInt("TOKEN_MINT_RATE_LIMIT", o["token-mint-rate-limit"] ?? "10", "installation tokens per minute per identity, e.g. 10");
  const issuerJwksFiles = parseIssuerJwksFiles(o["issuer-jwks-files"] ?? "");
  const requestTimeoutMs = duration("REQUEST_TIMEOUT", o["request-timeout"] ?? "10s", 1_000, 300_000, "10s");
  const dashboard = needs === "serve" ? parseDashboardConfig(o) : undefined;
  const maxRetryWaitMs = o["max-retry-wait"] === "0s" ? 0 : duration("MAX_RETRY_WAIT", o["max-retry-wait"] ?? "10s", 0, 3_600_000, "10s");

  return {
    appId,
    privateKeyFile,
    org,
    orgs,
    ...(installationId !== undefined ? { installationId } : {}),
    apiUrl,
    githubUrl,
    databaseUrl,
    databaseUrlIsDefault: o["database-url"] === undefined,
    listen,
    oidc,
    adminIdentities,
    allowedRepositoryOwners,
    ...(o["policy-file"] ? { policyFile: o["policy-file"] } : {}),
    ...(defaultRunnerGroupId !== undefined ? { defaultRunnerGroupId } : {}),
    manageRunnerGroups: manageRaw === "true",
    readyCheckIntervalMs,
    pendingRunnerTtlMs,
    ...(offlineRunnerTtlMs !== undefined ? { offlineRunnerTtlMs } : {}),
    syncIntervalMs,
    callerRatePerMinute,
    tokenRatePerMinute,
    tokenMintRatePerMinute,
    issuerJwksFiles,
    requestTimeoutMs,
    maxRetryWaitMs,
    logLevel: logLevel as LogLevel,
    ...(o["github-webhook-secret-file"] ? { webhookSecretFile: o["github-webhook-secret-file"] } : {}),
    ...(dashboard ? { dashboard } : {}),
  };
}

/** ISSUER_JWKS_FILES: `https://issuer=/path/jwks.json` pairs, split at the last "=" (issuers are URLs, paths rarely hold one). */
export function parseIssuerJwksFiles(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const entry of text.split(/[\s,]+/).filter(Boolean)) {
    const at = entry.lastIndexOf("=");
    const issuer = at > 0 ? entry.slice(0, at) : "";
    const path = at > 0 ? entry.slice(at + 1) : "";
    if (!issuer || !path.startsWith("/")) throw configError(`ISSUER_JWKS_FILES entry "${entry.slice(0, 120)}" is not ISSUER=/absolute/path: e.g. https://kubernetes.default.svc.cluster.local=/etc/broker/issuers/cluster-a.json`);
    httpUrl("ISSUER_JWKS_FILES", issuer, "https://kubernetes.default.svc.cluster.local");
    if (out.has(issuer)) throw configError(`ISSUER_JWKS_FILES names ${issuer.slice(0, 120)} twice: keep one file per issuer`);
    out.set(issuer, path);
  }
  return out;
}
