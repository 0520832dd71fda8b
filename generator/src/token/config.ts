// Turns merged options into a validated Config, or a configuration error (exit 2) that names
// the variable and the fix. Pure: no IO, so every rule is unit-tested directly.
//
// Everything that can be checked without GitHub is checked here, before the first request (names
// against GitHub's rules, ids as safe integers, permissions against GitHub's list, paths, modes,
// durations). A message names the variable and never repeats its value: a value that fails a
// check may be a secret pasted into the wrong variable (the base64 form of a key is a shape this
// tool accepts). Values are shown only once they passed a check no secret can pass.
import { configError } from "../core/errors.ts";
import { DURATION_LIMITS, parseDuration } from "../core/duration.ts";
import { parsePermissions, type PermissionLevel } from "../core/permissions.ts";
import type { RawOptions } from "./options.ts";
import { basename, resolve } from "node:path";
import { checkApiUrlHost } from "./api-url-hint.ts";

import type { LogFormat, LogLevel } from "../core/logger.ts";
export type { LogFormat, LogLevel };

import type { RepositorySelector } from "../core/installation.ts";
export type { RepositorySelector };

export interface Config {
  appId: string;
  privateKey?: string;
  privateKeyFile?: string;
  installationId?: number;
  owner?: string;
  /** which variable named the owner, for messages: OWNER, or REPOSITORIES' owner/repo entries */
  ownerVariable?: "OWNER" | "REPOSITORIES";
  repositories: RepositorySelector[];
  permissions?: Record<string, PermissionLevel>;
  outputPath: string;
  /** OUTPUT_PATH was not set: outputPath is DEFAULT_OUTPUT_PATH (messages say so) */
  outputPathIsDefault?: boolean;
  tokenFileMode: number;
  metadataPath: string | null;
  apiUrl: string;
  logLevel: LogLevel;
  logFormat: LogFormat;
  requestTimeoutMs: number;
  maxRetryWaitMs: number;
  refreshIntervalMs?: number;
  listen: { hostname: string; port: number };
  revokeOnExit: boolean;
}

/** What a command needs: the App's credentials (mint, refresh, installations) or only the token file (revoke). */
export type Needs = "app" | "token-file";

/** Where the token goes when OUTPUT_PATH is unset: the chart's in-memory volume. */
export const DEFAULT_OUTPUT_PATH = "/var/run/github/token";

const LOG_LEVELS = new Set(["debug", "info", "warn", "error"]);
/** GitHub's login rule: letters, digits and hyphens, at most 39, not starting with a hyphen. */
export const LOGIN_RE = /^[A-Za-z0-9][A-Za-z0-9-]{0,38}$/;
/** GitHub's repository-name rule: letters, digits, . _ -, at most 100; never "." or "..". */
const REPO_RE = /^[A-Za-z0-9._-]{1,100}$/;
const TOKEN_FILE_MODES = new Map([["0600", 0o600], ["0640", 0o640], ["0400", 0o400], ["0440", 0o440]]);
/** The temporary file beside OUTPUT_PATH adds 19 characters to its name; names stop at 255. */
const MAX_FILE_NAME = 200;
const MAX_PATH = 4000;

const SECRET_HOLDS_JSON = "the secret holds JSON: set remoteRef.property in the chart's values (the key of the JSON field), so that only the value reaches the pod";

/** A value that is a JSON document where a plain value belongs: an ESO remoteRef without property. */
export function looksLikeJson(value: string): boolean {
  const t = value.trim();
  return (t.startsWith("{") && t.endsWith("}")) || (t.startsWith("[") && t.endsWith("]"));
}
const LOG_FORMATS = new Set<string>(["json", "text", "auto"] satisfies LogFormat[]);

export function parseConfig(o: RawOptions, needs: Needs = "app"): Config {
  const appId = o["app-id"]?.trim() ?? "";
  if (needs === "app") checkCredentials(o, appId);
  return buildConfig(o, needs === "app" ? appId : "");
}

/**
 * Environment variables that would weaken the tool behind the user's back. Bun's fetch takes
 * NODE_TLS_REJECT_UNAUTHORIZED as the default of `tls.rejectUnauthorized`
 * (https://bun.sh/reference/globals/BunFetchRequestInitTLS/rejectUnauthorized): "0" would accept
 * any certificate, so a GitHub impostor would receive the App's JWT. It is refused (and
 * http-fetch.ts sets rejectUnauthorized: true on every request regardless).
 */
export function checkEnvironment(env: Record<string, string | undefined>): void {
  const tls = env.NODE_TLS_REJECT_UNAUTHORIZED;
  if (tls !== undefined && tls.trim() !== "" && tls.trim() !== "1") {
    throw configError("NODE_TLS_REJECT_UNAUTHORIZED is set to turn off TLS verification, which ghapp-token never does: unset it; for a private CA set NODE_EXTRA_CA_CERTS to the CA bundle (the chart's github.caConfigMap)");
  }
}

function checkCredentials(o: RawOptions, appId: string): void {
  if (!appId) throw configError("APP_ID is not set: give the GitHub App's ID (a number) or its Client ID (Iv23…), e.g. from the secret's appId key");
  if (looksLikeJson(appId)) throw configError(`APP_ID: ${SECRET_HOLDS_JSON}`);
  const numeric = /^\d{1,16}$/.test(appId) && Number.isSafeInteger(Number(appId)) && Number(appId) > 0;
  if (!numeric && !/^Iv[0-9A-Za-z.]{1,40}$/.test(appId)) {
    throw configError("APP_ID is neither a numeric App ID nor a Client ID (Iv…): check the secret's appId key");
  }
  if (o["private-key"] && looksLikeJson(o["private-key"])) throw configError(`PRIVATE_KEY: ${SECRET_HOLDS_JSON}`);

  if (!o["private-key"] && !o["private-key-file"]) {
    throw configError("no private key: set PRIVATE_KEY_FILE to the mounted key file (recommended) or PRIVATE_KEY to the key itself");
  }
  if (o["private-key"] && o["private-key-file"]) {
    throw configError("both PRIVATE_KEY and PRIVATE_KEY_FILE are set: keep one (PRIVATE_KEY_FILE is recommended)");
  }
}

/** A file path from a variable: trimmed, absolute or relative, not a folder, names not too long. */
function filePath(value: string, variable: string): string {
  const path = value.trim();
  if (!path) throw configError(`${variable} is empty: give a file path, e.g. /var/run/github/token`);
  if (/[\u0000-\u001f]/.test(path)) throw configError(`${variable} holds control characters: give a plain file path`);
  if (path.endsWith("/") || /(^|\/)\.{1,2}$/.test(path)) throw configError(`${variable} names a folder: give the file's path, e.g. /var/run/github/token`);
  if (path.length > MAX_PATH) throw configError(`${variable} is longer than ${MAX_PATH} characters: give a shorter path`);
  if (basename(path).length > MAX_FILE_NAME) throw configError(`${variable}'s file name is longer than ${MAX_FILE_NAME} characters: give a shorter name`);
  return path;
}

function buildConfig(o: RawOptions, appId: string): Config {
  let installationId: number | undefined;
  if (o["installation-id"]) {
    const text = o["installation-id"].trim();
    if (!/^\d{1,16}$/.test(text) || !Number.isSafeInteger(Number(text)) || Number(text) <= 0) {
      throw configError("INSTALLATION_ID is not a positive whole number: copy it from the installation's settings URL or run `ghapp-token installations`");
    }
    installationId = Number(text);
  }

  const repositories: RepositorySelector[] = [];
  // Commas, newlines or blanks between entries, as actions/create-github-app-token takes them
  // (main.js: split(/[\n,]+/)): an Argo parameter is often a YAML block, one repository a line.
  const entries = (o.repositories ?? "").split(/[\s,]+/).filter((e) => e !== "");
  entries.forEach((entry, index) => {
    const which = `REPOSITORIES entry ${index + 1}`;
    if (/^[a-z][a-z0-9+.-]*:\/\//i.test(entry) || /^git@/i.test(entry) || /^(www\.)?github\.com\//i.test(entry)) {
      throw configError(`${which} is a URL: give owner/repo (the last two parts of the repository's URL), e.g. acme/web`);
    }
    const parts = entry.split("/");
    if (parts.length > 2) throw configError(`${which} is not repo or owner/repo: separate entries with commas, newlines or blanks, e.g. api,acme/web`);
    const [first, second] = parts as [string, string | undefined];
    const owner = second === undefined ? undefined : first;
    const name = second ?? first;
    if (owner !== undefined && !LOGIN_RE.test(owner)) throw configError(`${which}: the owner is not a GitHub login (letters, digits and hyphens, at most 39)`);
    if (!REPO_RE.test(name) || name === "." || name === "..") throw configError(`${which}: the repository name is not one GitHub allows (letters, digits, . _ -, at most 100, not . or ..)`);
    repositories.push(owner ? { owner, name } : { name });
  });
  if (repositories.length > 500) throw configError("REPOSITORIES lists more than 500 repositories, GitHub's limit for one token: split the work or leave it unset");
  const owners = new Set(repositories.flatMap((r) => (r.owner ? [r.owner.toLowerCase()] : [])));
  if (owners.size > 1) throw configError(`REPOSITORIES names several owners (${[...owners].join(", ")}): an installation token covers one account; mint one token per owner`);
  const owner = o.owner?.trim();
  if (owner !== undefined && owner !== "" && !LOGIN_RE.test(owner)) throw configError("OWNER is not a GitHub login (letters, digits and hyphens, at most 39, not starting with a hyphen): give the organisation's or user's login");
  const repoOwner = repositories.find((r) => r.owner)?.owner;
  if (owner && repoOwner && owner.toLowerCase() !== repoOwner.toLowerCase()) {
    throw configError(`OWNER "${owner}" and the owner in REPOSITORIES ("${repoOwner}") disagree: make them name the same account`);
  }

  const permissions = o.permissions ? parsePermissions(o.permissions) : undefined;

  const outputPath = filePath(o["output-path"] ?? DEFAULT_OUTPUT_PATH, "OUTPUT_PATH");

  const modeText = (o["token-file-mode"] ?? "0600").trim();
  const tokenFileMode = TOKEN_FILE_MODES.get(modeText.length === 3 ? `0${modeText}` : modeText);
  if (tokenFileMode === undefined) {
    throw configError("TOKEN_FILE_MODE is not one of 0600, 0640, 0400 or 0440: use 0600, or 0640 for a reader in the shared group (fsGroup); no other mode keeps the token to its owner and group, read-only for the group");
  }

  const metadataRaw = o["metadata-path"]?.trim();
  const metadataPath = metadataRaw === "none" ? null : metadataRaw ? filePath(metadataRaw, "METADATA_PATH") : `${outputPath}.json`;
  if (metadataPath !== null && resolve(metadataPath) === resolve(outputPath)) {
    throw configError("METADATA_PATH is the same file as OUTPUT_PATH: the metadata would overwrite the token; pick another path or 'none'");
  }

  const apiUrlText = (o["github-api-url"] ?? "https://api.github.com").trim().replace(/\/+$/, "");
  let apiUrl: URL;
  try {
    apiUrl = new URL(apiUrlText);
  } catch {
    throw configError("GITHUB_API_URL is not a URL: use https://api.github.com, or https://HOST/api/v3 for GitHub Enterprise Server");
  }
  if (apiUrl.protocol !== "https:" && apiUrl.protocol !== "http:") {
    throw configError("GITHUB_API_URL must be http(s): use https://api.github.com, or https://HOST/api/v3 for GitHub Enterprise Server");
  }
  if (apiUrl.username || apiUrl.password) {
    throw configError("GITHUB_API_URL holds credentials (user:password@): remove them; the App authenticates with its key, and a URL ends up in logs and error messages");
  }
  if (apiUrl.search || apiUrl.hash) throw configError("GITHUB_API_URL has a query or fragment: give the API's base URL alone, e.g. https://HOST/api/v3");
  checkApiUrlHost(apiUrl);

  const logLevel = (o["log-level"] ?? "info").trim().toLowerCase();
  if (!LOG_LEVELS.has(logLevel)) throw configError("LOG_LEVEL is not one of debug, info, warn, error");
  const logFormat = (o["log-format"] ?? "auto").trim().toLowerCase() as LogFormat;
  if (!LOG_FORMATS.has(logFormat)) throw configError("LOG_FORMAT is not one of json, text, auto: json for log collectors, text for people, auto picks text at a terminal");

  const requestTimeoutMs = parseDuration(o["request-timeout"] ?? "10s", "REQUEST_TIMEOUT", DURATION_LIMITS.REQUEST_TIMEOUT);
  const maxRetryWaitMs = parseDuration(o["max-retry-wait"] ?? "60s", "MAX_RETRY_WAIT", DURATION_LIMITS.MAX_RETRY_WAIT);
  const refreshIntervalMs = o["refresh-interval"] ? parseDuration(o["refresh-interval"], "REFRESH_INTERVAL", DURATION_LIMITS.REFRESH_INTERVAL) : undefined;

  const listenText = (o["listen-addr"] ?? "0.0.0.0:8080").trim();
  const lm = /^(\[[0-9a-fA-F:.]{2,45}\]|[A-Za-z0-9.-]{0,253}):(\d{1,5})$/.exec(listenText);
  if (!lm || Number(lm[2]) > 65535) throw configError("LISTEN_ADDR is not host:port, e.g. 0.0.0.0:8080, 127.0.0.1:9090 or [::]:8080");
  const listen = { hostname: (lm[1] || "0.0.0.0").replace(/^\[|\]$/g, ""), port: Number(lm[2]) };
  const revokeText = (o["revoke-on-exit"] ?? "false").trim().toLowerCase();
  if (!["true", "false", "1", "0", "yes", "no"].includes(revokeText)) throw configError("REVOKE_ON_EXIT is not true or false");
  const revokeOnExit = ["true", "1", "yes"].includes(revokeText);

  return {
    appId,
    ...(o["private-key"] ? { privateKey: o["private-key"] } : {}),
    ...(o["private-key-file"] ? { privateKeyFile: o["private-key-file"].trim() } : {}),
    ...(installationId !== undefined ? { installationId } : {}),
    ...(owner || repoOwner ? { owner: owner || repoOwner, ownerVariable: owner ? "OWNER" : "REPOSITORIES" } : {}),
    repositories,
    ...(permissions ? { permissions } : {}),
    outputPath,
    ...(o["output-path"] === undefined ? { outputPathIsDefault: true } : {}),
    tokenFileMode,
    metadataPath,
    apiUrl: apiUrl.toString().replace(/\/+$/, ""),
    logLevel: logLevel as LogLevel,
    logFormat,
    requestTimeoutMs,
    maxRetryWaitMs,
    ...(refreshIntervalMs !== undefined ? { refreshIntervalMs } : {}),
    listen,
    revokeOnExit,
  };
}
