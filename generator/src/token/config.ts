// Turns merged options into a validated Config, or a configuration error (exit 2) that names
// the variable and the fix. Pure: no IO, so every rule is unit-tested directly.
import { configError } from "../core/errors.ts";
import { parseDuration } from "../core/duration.ts";
import { parsePermissions, type PermissionLevel } from "../core/permissions.ts";
import type { RawOptions } from "./options.ts";

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
  repositories: RepositorySelector[];
  permissions?: Record<string, PermissionLevel>;
  outputPath: string;
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

const LOG_LEVELS = new Set(["debug", "info", "warn", "error"]);
const LOG_FORMATS = new Set<string>(["json", "text", "auto"] satisfies LogFormat[]);

export function parseConfig(o: RawOptions, needs: Needs = "app"): Config {
  const appId = o["app-id"]?.trim() ?? "";
  if (needs === "app") checkCredentials(o, appId);
  return buildConfig(o, appId);
}

function checkCredentials(o: RawOptions, appId: string): void {
  if (!appId) throw configError("APP_ID is not set: give the GitHub App's ID (a number) or its Client ID (Iv23…), e.g. from the secret's appId key");
  if (!/^\d+$/.test(appId) && !/^Iv[0-9A-Za-z.]+$/.test(appId)) {
    throw configError("APP_ID is neither a numeric App ID nor a Client ID (Iv…): check the secret's appId key");
  }

  if (!o["private-key"] && !o["private-key-file"]) {
    throw configError("no private key: set PRIVATE_KEY_FILE to the mounted key file (recommended) or PRIVATE_KEY to the key itself");
  }
  if (o["private-key"] && o["private-key-file"]) {
    throw configError("both PRIVATE_KEY and PRIVATE_KEY_FILE are set: keep one (PRIVATE_KEY_FILE is recommended)");
  }
}

function buildConfig(o: RawOptions, appId: string): Config {

  let installationId: number | undefined;
  if (o["installation-id"]) {
    const text = o["installation-id"].trim();
    if (!/^\d+$/.test(text) || Number(text) <= 0) throw configError(`INSTALLATION_ID "${text}" is not a positive number: copy it from the installation's settings URL or run \`ghapp-token installations\``);
    installationId = Number(text);
  }

  const repositories: RepositorySelector[] = [];
  for (const raw of (o.repositories ?? "").split(",")) {
    const entry = raw.trim();
    if (!entry) continue;
    const m = /^(?:([A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)\/)?([A-Za-z0-9._-]+)$/.exec(entry);
    if (!m) throw configError(`REPOSITORIES entry "${entry}" is not repo or owner/repo: separate entries with commas, e.g. api,acme/web`);
    repositories.push(m[1] ? { owner: m[1], name: m[2]! } : { name: m[2]! });
  }
  const owners = new Set(repositories.flatMap((r) => (r.owner ? [r.owner.toLowerCase()] : [])));
  if (owners.size > 1) throw configError(`REPOSITORIES names several owners (${[...owners].join(", ")}): an installation token covers one account; mint one token per owner`);
  const owner = o.owner?.trim();
  const repoOwner = repositories.find((r) => r.owner)?.owner;
  if (owner && repoOwner && owner.toLowerCase() !== repoOwner.toLowerCase()) {
    throw configError(`OWNER "${owner}" and the owner in REPOSITORIES ("${repoOwner}") disagree: make them name the same account`);
  }

  const permissions = o.permissions ? parsePermissions(o.permissions) : undefined;

  const outputPath = o["output-path"] ?? "/var/run/github/token";
  if (outputPath.endsWith("/")) throw configError(`OUTPUT_PATH "${outputPath}" names a folder: give the token file's path, e.g. /var/run/github/token`);

  const modeText = (o["token-file-mode"] ?? "0600").trim();
  if (!/^0?[0-7]{3}$/.test(modeText)) throw configError(`TOKEN_FILE_MODE "${modeText}" is not an octal mode: use 0600 or 0640`);
  const tokenFileMode = parseInt(modeText, 8);
  if ((tokenFileMode & 0o400) === 0) throw configError(`TOKEN_FILE_MODE ${modeText} does not let the owner read the token: use 0600 or 0640`);
  if (tokenFileMode & 0o007) throw configError(`TOKEN_FILE_MODE ${modeText} lets every user read or write the token: use 0600, or 0640 with a shared group (fsGroup)`);
  if (tokenFileMode & 0o111) throw configError(`TOKEN_FILE_MODE ${modeText} makes the token executable: use 0600 or 0640`);

  const metadataRaw = o["metadata-path"]?.trim();
  const metadataPath = metadataRaw === "none" ? null : (metadataRaw ?? `${outputPath}.json`);
  if (metadataPath === outputPath) throw configError("METADATA_PATH equals OUTPUT_PATH: the metadata would overwrite the token; pick another path or 'none'");

  const apiUrlText = (o["github-api-url"] ?? "https://api.github.com").trim().replace(/\/+$/, "");
  let apiUrl: URL;
  try {
    apiUrl = new URL(apiUrlText);
  } catch {
    throw configError(`GITHUB_API_URL "${apiUrlText}" is not a URL: use https://api.github.com, or https://HOST/api/v3 for GitHub Enterprise Server`);
  }
  if (apiUrl.protocol !== "https:" && apiUrl.protocol !== "http:") {
    throw configError(`GITHUB_API_URL must be http(s): use https://api.github.com, or https://HOST/api/v3 for GitHub Enterprise Server`);
  }

  const logLevel = (o["log-level"] ?? "info").trim().toLowerCase();
  if (!LOG_LEVELS.has(logLevel)) throw configError(`LOG_LEVEL "${logLevel}" is not one of debug, info, warn, error`);
  const logFormat = (o["log-format"] ?? "auto").trim().toLowerCase() as LogFormat;
  if (!LOG_FORMATS.has(logFormat)) throw configError("LOG_FORMAT is not one of json, text, auto: json for log collectors, text for people, auto picks text at a terminal");

  const requestTimeoutMs = parseDuration(o["request-timeout"] ?? "10s", "REQUEST_TIMEOUT");
  const maxRetryWaitMs = parseDuration(o["max-retry-wait"] ?? "60s", "MAX_RETRY_WAIT");
  if (requestTimeoutMs <= 0) throw configError("REQUEST_TIMEOUT must be more than zero, e.g. 10s");

  const refreshIntervalMs = o["refresh-interval"] ? parseDuration(o["refresh-interval"], "REFRESH_INTERVAL") : undefined;
  if (refreshIntervalMs !== undefined && (refreshIntervalMs < 1000 || refreshIntervalMs > 3_600_000)) {
    throw configError(`REFRESH_INTERVAL ${o["refresh-interval"]} is outside 1s..1h: installation tokens live one hour; e.g. 45m`);
  }
  const listenText = (o["listen-addr"] ?? "0.0.0.0:8080").trim();
  const lm = /^(\[[0-9a-fA-F:]+\]|[^:\s]*):(\d{1,5})$/.exec(listenText);
  if (!lm || Number(lm[2]) > 65535) throw configError(`LISTEN_ADDR "${listenText}" is not host:port, e.g. 0.0.0.0:8080 or 127.0.0.1:9090`);
  const listen = { hostname: (lm[1] || "0.0.0.0").replace(/^\[|\]$/g, ""), port: Number(lm[2]) };
  const revokeText = (o["revoke-on-exit"] ?? "false").trim().toLowerCase();
  if (!["true", "false", "1", "0", "yes", "no"].includes(revokeText)) throw configError(`REVOKE_ON_EXIT "${revokeText}" is not true or false`);
  const revokeOnExit = ["true", "1", "yes"].includes(revokeText);

  return {
    appId,
    ...(o["private-key"] ? { privateKey: o["private-key"] } : {}),
    ...(o["private-key-file"] ? { privateKeyFile: o["private-key-file"].trim() } : {}),
    ...(installationId !== undefined ? { installationId } : {}),
    ...(owner || repoOwner ? { owner: owner || repoOwner } : {}),
    repositories,
    ...(permissions ? { permissions } : {}),
    outputPath,
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
