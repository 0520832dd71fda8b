// Brokered mode's exchange (issue 21): POST <BROKER_URL>/api/v1/tokens with the projected
// service-account token as a bearer token; the broker answers with an installation token narrowed
// to what this identity's trust policy grants and the request asks. Loaded only in brokered mode,
// and built from the core's pieces (ky, the bounded fetch, the retry schedule, the errors): no
// broker code and no new library reaches ghapp-token (tests/broker/bundle.test.ts).
//
// - The OIDC token is a credential: read from its file at every exchange (the kubelet rotates a
//   projected token), sent only in the Authorization header, never logged, never in a message.
// - The broker's answer is untrusted: bounded in size and time (http-fetch.ts), redirects to
//   another origin refused, TLS always verified (with BROKER_CA_FILE for a private CA), its shape
//   checked before anything is written, its problem details cut and redacted before quoting.
// - Exit codes: a bad token or no matching policy 3, asking beyond the policy (or an owner the App
//   is not installed on) 4, the broker or GitHub unavailable after MAX_ATTEMPTS 5, a request the
//   broker calls malformed or a BROKER_URL that is not the broker 2.
import ky, { HTTPError, isHTTPError, isNetworkError, isTimeoutError, type KyInstance } from "ky";
import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import type { InstallationToken } from "../core/access-token.ts";
import { MAX_TOKEN_LIFETIME_MS } from "../core/access-token.ts";
import { skewFromDate } from "../core/clock-skew.ts";
import { configError, credentialsError, GhappError, notFoundError, unavailableError } from "../core/errors.ts";
import { MAX_TRUSTED_SKEW_MS, SKEW_RESOLUTION_MS } from "../core/github-client.ts";
import { boundedFetch } from "../core/http-fetch.ts";
import type { Logger } from "../core/logger.ts";
import { redactString } from "../core/redact.ts";
import { backoffDelayMs, jitter, MAX_ATTEMPTS } from "../core/retry.ts";
import { isTokenShaped } from "../core/token-format.ts";
import { USER_AGENT } from "../core/version.ts";
import type { BrokeredConfig } from "./broker-mode.ts";
import { LOGIN_RE } from "./config.ts";

export const TOKENS_PATH = "api/v1/tokens";
/** A projected service-account token is about 1 KiB; a file far larger is not one. */
export const MAX_OIDC_TOKEN_BYTES = 16 * 1024;
/** A token answer naming 500 repositories is about 60 KiB. */
export const MAX_ANSWER_BYTES = 256 * 1024;
const MAX_CA_BYTES = 1024 * 1024;
const JWT_RE = /^[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]{2,}$/;

/** The token as the broker answered it: an installation token and the account it is for. */
export type BrokeredToken = InstallationToken & { owner: string };

/** Reads at most `limit` bytes of a file; undefined when it is larger. */
function readSmallFile(path: string, limit: number): Buffer | undefined {
  const fd = openSync(path, "r");
  try {
    if (!fstatSync(fd).isFile()) throw Object.assign(new Error("not a file"), { code: "EISDIR" });
    const buf = Buffer.alloc(limit + 1);
    let total = 0;
    for (;;) {
      const n = readSync(fd, buf, total, buf.length - total, null);
      if (n === 0) break;
      total += n;
      if (total > limit) return undefined;
    }
    return buf.subarray(0, total);
  } finally {
    closeSync(fd);
  }
}

/** The projected token from OIDC_TOKEN_FILE, checked for a JWT's shape (its content never shown). */
export function readOidcToken(path: string): string {
  let raw: Buffer | undefined;
  try {
    raw = readSmallFile(path, MAX_OIDC_TOKEN_BYTES);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? "error";
    const why = code === "ENOENT" ? "does not exist" : code === "EACCES" ? "is not readable by this user" : code === "EISDIR" ? "is not a file" : `cannot be read (${code})`;
    throw configError(`OIDC_TOKEN_FILE ${why}: mount a projected service-account token with the broker's audience there (the chart's mode: brokered does)`);
  }
  const token = raw?.toString("utf8").trim();
  if (token === undefined || !JWT_RE.test(token)) {
    throw configError(`OIDC_TOKEN_FILE does not hold a JWT${raw === undefined ? ` (it is larger than ${MAX_OIDC_TOKEN_BYTES / 1024} KiB)` : ""}: point it at the projected service-account token (serviceAccountToken volume source), not at a Secret or a key`);
  }
  return token;
}

function readCa(path: string): string {
  let raw: Buffer | undefined;
  try {
    raw = readSmallFile(path, MAX_CA_BYTES);
  } catch (e) {
    throw configError(`BROKER_CA_FILE cannot be read (${(e as NodeJS.ErrnoException).code ?? "error"}): mount the CA bundle that signed the broker's certificate there`);
  }
  const pem = raw?.toString("utf8") ?? "";
  if (!/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.test(pem) || /PRIVATE KEY-----/.test(pem)) {
    throw configError("BROKER_CA_FILE is not a PEM bundle of certificates (-----BEGIN CERTIFICATE----- ...): give the CA that signed the broker's certificate, never a key");
  }
  return pem;
}

/** Text from the broker, quoted in messages: one line, redacted, at most 300 characters. */
function quote(text: unknown): string | undefined {
  if (typeof text !== "string" || !text.trim()) return undefined;
  const clean = redactString(text.replace(/[\u0000-\u001f\u007f-\u009f]+/g, " ").trim());
  return clean.length > 300 ? `${clean.slice(0, 300)}…` : clean;
}

function badAnswer(what: string): GhappError {
  return unavailableError(`the broker's answer to POST /${TOKENS_PATH} ${what}: BROKER_URL may point at another server, or a proxy answered; nothing was written`, { reason: "malformed broker answer" });
}

type Json = Record<string, unknown>;
const REPO_FULL_NAME = /^[A-Za-z0-9-]{1,39}\/[A-Za-z0-9._-]{1,100}$/;

/** Checks the broker's 201 answer; returns the token's fields or throws exit 5. */
export function parseBrokerAnswer(data: unknown, nowMs: number): BrokeredToken {
  if (!data || typeof data !== "object" || Array.isArray(data)) throw badAnswer("is not a JSON object");
  const d = data as Json;
  if (typeof d.token !== "string" || !isTokenShaped(d.token)) throw badAnswer("holds no installation token (letters, digits, _ . -; 20 to 2048 of them)");
  const expires = typeof d.expires_at === "string" ? Date.parse(d.expires_at) : NaN;
  if (!Number.isFinite(expires)) throw badAnswer("has no valid expires_at");
  if (expires <= nowMs) throw badAnswer("has an expires_at in the past (by the broker's own clock, from its Date header)");
  if (expires > nowMs + MAX_TOKEN_LIFETIME_MS) throw badAnswer("has an expires_at more than a day ahead, which GitHub never issues");
  if (typeof d.installation_id !== "number" || !Number.isSafeInteger(d.installation_id) || d.installation_id <= 0) throw badAnswer("has no valid installation_id");
  if (typeof d.owner !== "string" || !LOGIN_RE.test(d.owner)) throw badAnswer("has no valid owner");
  const permissions: Record<string, string> = {};
  if (d.permissions !== undefined && d.permissions !== null) {
    if (typeof d.permissions !== "object" || Array.isArray(d.permissions)) throw badAnswer("has malformed permissions");
    for (const [name, level] of Object.entries(d.permissions as Json)) {
      if (!/^[a-z][a-z_]{0,63}$/.test(name) || (level !== "read" && level !== "write" && level !== "admin")) throw badAnswer("has malformed permissions");
      permissions[name] = level;
    }
  }
  let repositories: string[] | null = null;
  if (d.repositories !== undefined && d.repositories !== null) {
    if (!Array.isArray(d.repositories) || d.repositories.length > 1000) throw badAnswer("has malformed repositories");
    // owner/name strings, bare names (the owner is the answer's), or GitHub's repository objects
    repositories = d.repositories.map((r: unknown) => {
      const text = typeof r === "string" ? r : r && typeof r === "object" ? ((r as Json).full_name ?? (r as Json).name) : undefined;
      const full = typeof text === "string" && !text.includes("/") ? `${d.owner}/${text}` : text;
      if (typeof full !== "string" || !REPO_FULL_NAME.test(full)) throw badAnswer("has malformed repositories");
      return full;
    });
  }
  const selection = d.repository_selection ?? (repositories ? "selected" : "all");
  if (selection !== "all" && selection !== "selected") throw badAnswer("has a malformed repository_selection");
  return {
    token: d.token,
    expiresAt: new Date(expires).toISOString().replace(/\.000Z$/, "Z"),
    installationId: d.installation_id,
    owner: d.owner,
    permissions,
    repositories,
    repositorySelection: selection,
  };
}

/** Seconds from Retry-After (delta-seconds or an HTTP date), in ms; undefined when absent. */
function retryAfterMs(headers: Headers, nowMs: number): number | undefined {
  const value = headers.get("retry-after")?.trim();
  if (!value) return undefined;
  if (/^\d{1,9}$/.test(value)) return Number(value) * 1000;
  const at = Date.parse(value);
  return Number.isFinite(at) ? Math.max(0, at - nowMs) : undefined;
}

const TLS_CODES = /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER|ERR_TLS|HOSTNAME_MISMATCH|ERR_SSL/;
const NETWORK_CODES = /^(ECONNRESET|ECONNREFUSED|ECONNABORTED|ETIMEDOUT|EPIPE|EHOSTUNREACH|ENETUNREACH|EAI_AGAIN|ENOTFOUND|ConnectionClosed|ConnectionRefused)$/;

function causeCode(error: unknown): string | undefined {
  let e: unknown = error;
  for (let i = 0; i < 5 && e; i++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string" && code) return code;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

/** The broker's problem code (the last part of its type URN), or "". */
function problemCode(data: unknown): string {
  const type = data && typeof data === "object" ? (data as Json).type : undefined;
  return typeof type === "string" ? (type.split(":").pop() ?? "") : "";
}

/** Names of what a 403 refused, from the problem's extensions (never their values' secrets). */
function refusedExtensions(problem: Json): string[] {
  return Object.keys(problem).filter((k) => /^refused/.test(k) || k === "denied" || k === "exceeds");
}

export class BrokerClient {
  private readonly http: KyInstance;
  private readonly host: string;
  private skewMs = 0;

  constructor(
    private readonly config: BrokeredConfig,
    private readonly logger: Logger,
    private readonly clock: () => number = Date.now,
  ) {
    const base = new URL(`${config.broker.url}/`);
    this.host = base.host;
    const ca = config.broker.caFile ? readCa(config.broker.caFile) : undefined;
    this.http = ky.create({
      prefix: base.href,
      timeout: config.requestTimeoutMs,
      fetch: boundedFetch({ origin: base.origin, maxBytes: MAX_ANSWER_BYTES, ...(ca ? { ca } : {}) }) as typeof fetch,
      headers: { accept: "application/json, application/problem+json", "user-agent": USER_AGENT },
      retry: {
        limit: MAX_ATTEMPTS - 1,
        // A repeated exchange only mints another short-lived token.
        methods: ["post"],
        statusCodes: [429, 500, 502, 503, 504],
        afterStatusCodes: [],
        retryOnTimeout: true,
        delay: backoffDelayMs,
        jitter: (d) => jitter(d),
        shouldRetry: ({ error }) => {
          if (error instanceof GhappError) return false;
          // GitHub refusing the broker's App (no installation on OWNER) will refuse it again.
          if (isHTTPError(error) && problemCode(error.data) === "github_misconfigured") return false;
          const code = causeCode(error) ?? "";
          if (TLS_CODES.test(code)) return false;
          if (NETWORK_CODES.test(code)) return true;
          return undefined;
        },
      },
      hooks: {
        afterResponse: [
          ({ response, retryCount }) => {
            this.noteClock(response.headers);
            logger.debug("broker response", { status: response.status, attempt: retryCount + 1 });
            if ((response.status !== 429 && response.status !== 503) || retryCount >= MAX_ATTEMPTS - 1) return;
            const wait = retryAfterMs(response.headers, this.now());
            if (wait === undefined) return;
            if (wait > config.maxRetryWaitMs) {
              throw unavailableError(
                `the broker asks to wait ${Math.ceil(wait / 1000)} s (HTTP ${response.status}, Retry-After), longer than MAX_RETRY_WAIT (${Math.round(config.maxRetryWaitMs / 1000)} s): retry later, or raise MAX_RETRY_WAIT`,
                { status: response.status, waitSeconds: Math.ceil(wait / 1000) },
              );
            }
            logger.warn(response.status === 429 ? "rate limited by the broker, waiting" : "the broker is unavailable, waiting as it asks", { status: response.status, waitMs: wait, attempt: retryCount + 1 });
            return ky.retry({ delay: wait, code: response.status === 429 ? "BROKER_RATE_LIMIT" : "BROKER_UNAVAILABLE" });
          },
        ],
        beforeRetry: [
          ({ error, retryCount }) => {
            const reason = isHTTPError(error) ? `HTTP ${error.response.status}` : isTimeoutError(error) ? "timeout" : (causeCode(error) ?? error.name);
            logger.warn("retrying the broker request", { reason, attempt: retryCount + 1 });
          },
        ],
      },
    });
  }

  /** The broker's clock: ours corrected by the skew learnt from its Date header. */
  now(): number {
    return this.clock() + this.skewMs;
  }

  get skew(): number {
    return this.skewMs;
  }

  private noteClock(headers: Headers): void {
    const skew = skewFromDate(headers.get("date"), this.clock());
    if (skew === undefined || Math.abs(skew) > MAX_TRUSTED_SKEW_MS) return;
    this.skewMs = Math.abs(skew) < SKEW_RESOLUTION_MS ? 0 : skew;
  }

  /** What this exchange asks for: OWNER, REPOSITORIES and PERMISSIONS as given (names, levels). */
  requestBody(): Record<string, unknown> {
    const c = this.config;
    return {
      ...(c.owner ? { owner: c.owner } : {}),
      ...(c.repositories.length ? { repositories: c.repositories.map((r) => (r.owner ? `${r.owner}/${r.name}` : r.name)) } : {}),
      ...(c.permissions ? { permissions: c.permissions } : {}),
    };
  }

  /** One exchange: reads the projected token afresh, asks the broker, checks its answer. */
  async exchange(): Promise<BrokeredToken> {
    const oidc = readOidcToken(this.config.broker.tokenFile);
    const started = performance.now();
    let res: Response;
    try {
      res = await this.http.post(TOKENS_PATH, { json: this.requestBody(), headers: { authorization: `Bearer ${oidc}` } });
    } catch (e) {
      throw await this.toGhappError(e);
    }
    const text = await res.text();
    let data: unknown;
    try {
      data = JSON.parse(text);
    } catch {
      throw badAnswer(`is ${/^\s*</.test(text) ? "an HTML page" : text.trim() ? "not JSON" : "empty"} (HTTP ${res.status})`);
    }
    if (res.status !== 201 && res.status !== 200) throw badAnswer(`has status ${res.status}, not 201`);
    const token = parseBrokerAnswer(data, this.now());
    this.logger.debug("broker exchange done", { installation_id: token.installationId, duration_ms: Math.round(performance.now() - started) });
    return token;
  }

  private async toGhappError(error: unknown): Promise<unknown> {
    const where = `POST /${TOKENS_PATH} at ${this.host}`;
    if (error instanceof GhappError) {
      const reason = error.details.reason;
      if (reason === "cross-origin redirect" || reason === "redirect") return unavailableError(`the broker's answer to ${where} is a redirect, which is not followed: check BROKER_URL (the broker's own address, not an ingress login page)`, { reason });
      if (reason === "answer too large") return unavailableError(`the answer to ${where} is larger than ${MAX_ANSWER_BYTES / 1024} KiB, which the broker never sends: check BROKER_URL and proxy settings`, { reason });
      return error;
    }
    if (error instanceof HTTPError) {
      const status = error.response.status;
      const problem = error.data && typeof error.data === "object" && !Array.isArray(error.data) ? (error.data as Json) : undefined;
      if (!problem && status < 500) {
        return status === 404
          ? configError(`BROKER_URL does not lead to the runner broker (HTTP 404 for ${where}, not a problem document): give the broker's base URL, e.g. https://ghapp-runner-broker.broker-system.svc:8443`, { status })
          : unavailableError(`${where} got HTTP ${status} without the broker's problem details: a proxy or another server answered; check BROKER_URL and proxy settings`, { status });
      }
      const detail = quote(problem?.detail) ?? quote(problem?.title);
      const said = detail ? `the broker said: "${detail}"` : `the broker answered HTTP ${status}`;
      const type = typeof problem?.type === "string" ? problem.type : "";
      const details = { status, ...(type ? { problem_type: quote(type) } : {}), ...(detail ? { broker_detail: detail } : {}) };
      if (status === 401) {
        return credentialsError(`${said} (${where}): the OIDC token was refused; check that OIDC_TOKEN_FILE is a projected service-account token with the broker's audience (the chart's broker.audience) and that the broker trusts its issuer`, details);
      }
      if (status === 403) {
        // Asking beyond the policy names what was refused; a 403 without that is no policy at all.
        // docs/keyless.md: policy_denied carries `refused: {owner?, repositories?, permissions?}`;
        // no_trust_policy and trust_policy_audit_only grant nothing to this identity.
        if (problemCode(problem) === "policy_denied" || (problem && refusedExtensions(problem).length)) {
          return notFoundError(`${said} (${where}): the request asks beyond this identity's trust policy; narrow REPOSITORIES, PERMISSIONS or OWNER to what the policy grants, or have the policy extended`, details);
        }
        return credentialsError(`${said} (${where}): no trust policy of the broker grants tokens to this pod's identity (its service account and namespace); ask the broker's operators for a policy`, details);
      }
      if (status === 502 && problemCode(problem) === "github_misconfigured") {
        return notFoundError(`${said} (${where}): GitHub refused the broker's App for this request, most often because the App is not installed on OWNER; check OWNER, or ask the broker's operators`, details);
      }
      if (status === 404 || status === 422) return notFoundError(`${said} (${where}): a requested owner, repository or permission is not available to the App; check OWNER, REPOSITORIES and PERMISSIONS`, details);
      if (status === 429) return unavailableError(`${said} (${where}): still rate limited after ${MAX_ATTEMPTS} attempts; retry later`, details);
      if (status >= 500) return unavailableError(`${said} (${where}) after ${MAX_ATTEMPTS} attempts: the broker or GitHub is unavailable; retry later`, details);
      return configError(`${said} (${where}): the request was refused; check OWNER, REPOSITORIES and PERMISSIONS`, details);
    }
    if (isTimeoutError(error)) {
      return unavailableError(`the broker did not answer ${where} within REQUEST_TIMEOUT (${Math.round(this.config.requestTimeoutMs / 1000)} s) in ${MAX_ATTEMPTS} attempts: check BROKER_URL and network policies`);
    }
    const code = causeCode(error);
    if (code && TLS_CODES.test(code)) {
      return configError(`TLS: the broker's certificate at ${this.host} is not trusted (${code}): set BROKER_CA_FILE to the CA bundle that signed it (the chart's broker.caConfigMap)`);
    }
    if (code || isNetworkError(error)) {
      return unavailableError(`cannot reach the broker at ${this.host} (${code ?? "network error"}) after ${MAX_ATTEMPTS} attempts: check BROKER_URL, DNS and network policies`);
    }
    return error;
  }
}

/**
 * Brokered mode's checks before the first request: the projected token is there and is a JWT, and
 * the CA bundle (if any) is one; the output folders are checked by the caller.
 */
export function brokeredPreflight(config: BrokeredConfig): void {
  readOidcToken(config.broker.tokenFile);
  if (config.broker.caFile) readCa(config.broker.caFile);
}
