// The one HTTP client to GitHub: ky with GitHub's headers on every request, a per-request
// timeout, ky's retry for 5xx/network/timeouts (schedule in retry.ts), an afterResponse hook that
// turns rate limits into waits of the length GitHub asks for, and the app-JWT clock-skew retry.
// Failures become GhappErrors with the documented exit codes and GitHub's own message.
//
// Proxies and private CAs are Bun's: fetch honours HTTPS_PROXY/HTTP_PROXY/NO_PROXY and trusts
// the extra CA bundle in NODE_EXTRA_CA_CERTS (see README, "Proxies and private CAs").
//
// Every answer is untrusted input: http-fetch.ts bounds its size and time and refuses redirects to
// other hosts; here a success must be JSON (an HTML page or an empty body is exit 5 naming the
// likely causes), and GitHub's clock is learnt from the Date header of every answer, so the JWT
// and the sidecar's schedule run in GitHub's time (githubNow()).
import ky, { HTTPError, TimeoutError, isHTTPError, isNetworkError, isTimeoutError, type KyInstance } from "ky";
import type { KeyObject } from "node:crypto";
import { configError, credentialsError, GhappError, notFoundError, unavailableError } from "./errors.ts";
import { isClockSkewMessage, skewFromDate } from "./clock-skew.ts";
import { boundedFetch } from "./http-fetch.ts";
import { signAppJwt } from "./jwt.ts";
import type { Logger } from "./logger.ts";
import { backoffDelayMs, jitter, MAX_ATTEMPTS, rateLimitWait } from "./retry.ts";
import { redactString } from "./redact.ts";
import { USER_AGENT } from "./version.ts";

export interface GitHubClientOptions {
  apiUrl: string;
  timeoutMs: number;
  maxRetryWaitMs: number;
  logger: Logger;
  /** the clock (injectable for tests) */
  now?: () => number;
  /** called once per attempt that got an answer (metrics) */
  onResponse?: (r: { method: string; status: number; durationMs: number; rateLimitRemaining?: number }) => void;
}

export type Auth = { app: { appId: string; key: KeyObject } } | { token: string };

export interface RateLimitState {
  remaining?: number;
  limit?: number;
  resetAt?: number; // unix seconds
}

/** A skew beyond this is not a clock worth believing (a hostile or broken Date header): ignored. */
export const MAX_TRUSTED_SKEW_MS = 24 * 3_600_000;
/** Date has whole seconds (truncated), so a difference this small is its resolution, not skew. */
export const SKEW_RESOLUTION_MS = 2000;

export interface GitHubResponse<T> {
  data: T;
  status: number;
  headers: Headers;
}

const TLS_CODES = /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER|ERR_TLS|HOSTNAME_MISMATCH|ERR_SSL/;
// Bun's fetch fails with a TypeError carrying one of these codes, which ky's network-error
// heuristics do not recognise; they are transient and worth retrying.
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

/** What an answer that is not GitHub's JSON looks like, for messages: never its content. */
function describeNonJson(text: string, contentType: string | null): string {
  if (!text.trim()) return "an empty answer";
  if (/html/i.test(contentType ?? "") || /^\s*</.test(text)) return "an HTML page";
  return "an answer that is not JSON";
}

function notGitHub(what: string, where: string, status: number): GhappError {
  return unavailableError(
    `${where} got ${what} (HTTP ${status}) rather than GitHub's JSON: a proxy or captive portal answered, or GITHUB_API_URL is a web address rather than the API (GitHub Enterprise Server: https://HOST/api/v3); check GITHUB_API_URL, HTTPS_PROXY and NO_PROXY`,
    { status, request: where, reason: "not GitHub's JSON" },
  );
}

/** GitHub's own message, quoted in errors: one line of printable text, at most 300 characters. */
function githubMessage(data: unknown): string | undefined {
  if (!data || typeof data !== "object") return undefined;
  const message = (data as { message?: unknown }).message;
  if (typeof message !== "string") return undefined;
  // Redact before cutting: a cut could leave a secret too short for the patterns to recognise.
  const clean = redactString(message.replace(/[\u0000-\u001f\u007f-\u009f]+/g, " ").trim());
  return clean.length > 300 ? `${clean.slice(0, 300)}…` : clean;
}

export class GitHubClient {
  readonly rateLimit: RateLimitState = {};
  /** GitHub's clock minus ours, learnt from the Date header of every answer */
  private skewMs = 0;
  private readonly http: KyInstance;
  private readonly now: () => number;

  constructor(private readonly opts: GitHubClientOptions) {
    this.now = opts.now ?? Date.now;
    const log = opts.logger;
    // ky passes a different Request object to afterResponse than to beforeRequest; requests are
    // sequential, so the method and URL identify the attempt.
    const started = new Map<string, number>();
    const attemptKey = (r: Request) => `${r.method} ${r.url}`;
    this.http = ky.create({
      prefix: opts.apiUrl,
      timeout: opts.timeoutMs,
      fetch: boundedFetch({ origin: new URL(opts.apiUrl).origin }) as typeof fetch,
      headers: {
        accept: "application/vnd.github+json",
        "x-github-api-version": "2022-11-28",
        "user-agent": USER_AGENT,
      },
      retry: {
        limit: MAX_ATTEMPTS - 1,
        // POST access_tokens is safe to repeat: a retried call only mints another short-lived token.
        // PATCH and PUT (a runner group's settings and repositories) set absolute values: idempotent.
        methods: ["get", "post", "delete", "patch", "put"],
        statusCodes: [500, 502, 503, 504],
        afterStatusCodes: [],
        retryOnTimeout: true,
        delay: backoffDelayMs,
        jitter: (d) => jitter(d),
        shouldRetry: ({ error }) => {
          // An answer refused for its shape (too large, a redirect elsewhere) will be refused again.
          if (error instanceof GhappError) return false;
          const code = causeCode(error) ?? "";
          // A certificate the host does not trust will not start being trusted: fail at once.
          if (TLS_CODES.test(code)) return false;
          if (NETWORK_CODES.test(code)) return true;
          return undefined;
        },
      },
      hooks: {
        beforeRequest: [
          ({ request }) => {
            started.set(attemptKey(request), performance.now());
          },
        ],
        afterResponse: [
          async ({ request, response, retryCount }) => {
            this.noteRateLimit(response.headers);
            this.noteClock(response.headers);
            const began = started.get(attemptKey(request));
            started.delete(attemptKey(request));
            opts.onResponse?.({
              method: request.method,
              status: response.status,
              durationMs: began === undefined ? 0 : performance.now() - began,
              ...(this.rateLimit.remaining !== undefined ? { rateLimitRemaining: this.rateLimit.remaining } : {}),
            });
            log.debug("github response", { method: request.method, path: new URL(request.url).pathname, status: response.status, attempt: retryCount + 1 });
            if (response.status !== 403 && response.status !== 429) return;
            const message = githubMessage(await response.clone().json().catch(() => undefined));
            // x-ratelimit-reset is in GitHub's clock
            const limit = rateLimitWait(response.status, response.headers, message, this.githubNow());
            if (!limit || retryCount >= MAX_ATTEMPTS - 1) return;
            if (limit.waitMs > opts.maxRetryWaitMs) {
              throw unavailableError(
                `GitHub rate limit (${limit.kind}) asks to wait ${Math.ceil(limit.waitMs / 1000)} s, longer than MAX_RETRY_WAIT (${Math.round(opts.maxRetryWaitMs / 1000)} s): retry later, or raise MAX_RETRY_WAIT`,
                { status: response.status, githubMessage: message, waitSeconds: Math.ceil(limit.waitMs / 1000) },
              );
            }
            log.warn("rate limited by GitHub, waiting", { status: response.status, kind: limit.kind, waitMs: limit.waitMs, attempt: retryCount + 1 });
            return ky.retry({ delay: limit.waitMs, code: `RATE_LIMIT_${limit.kind.toUpperCase()}` });
          },
        ],
        beforeRetry: [
          ({ request, error, retryCount }) => {
            const reason = isHTTPError(error) ? `HTTP ${error.response.status}` : isTimeoutError(error) ? "timeout" : (causeCode(error) ?? error.name);
            log.warn("retrying GitHub request", { method: request.method, path: new URL(request.url).pathname, reason, attempt: retryCount + 1 });
          },
        ],
      },
    });
  }

  /** GitHub's clock: ours corrected by the skew learnt from its answers. */
  githubNow(): number {
    return this.now() + this.skewMs;
  }

  /** The skew currently applied, in ms (GitHub's clock minus ours). */
  get skew(): number {
    return this.skewMs;
  }

  private noteClock(headers: Headers): void {
    const skew = skewFromDate(headers.get("date"), this.now());
    if (skew === undefined || Math.abs(skew) > MAX_TRUSTED_SKEW_MS) return;
    // Below the header's resolution the clocks agree: reading -0.6 s as skew would make short
    // tokens look longer-lived than they are (and a refresh land after expiry).
    this.skewMs = Math.abs(skew) < SKEW_RESOLUTION_MS ? 0 : skew;
  }

  private noteRateLimit(headers: Headers): void {
    const remaining = headers.get("x-ratelimit-remaining");
    const limit = headers.get("x-ratelimit-limit");
    const reset = headers.get("x-ratelimit-reset");
    if (remaining !== null) this.rateLimit.remaining = Number(remaining);
    if (limit !== null) this.rateLimit.limit = Number(limit);
    if (reset !== null) this.rateLimit.resetAt = Number(reset);
  }

  /** Sends one request (with ky's retries); on a clock-skew 401 re-signs the JWT once. */
  async request<T>(method: "GET" | "POST" | "DELETE" | "PATCH" | "PUT", path: string, auth: Auth, body?: unknown): Promise<GitHubResponse<T>> {
    const sign = () => ("token" in auth ? `token ${auth.token}` : `Bearer ${signAppJwt(auth.app.appId, auth.app.key, this.githubNow())}`);
    // Each retry gets a JWT signed afresh in GitHub's time (learnt from the answer that caused
    // it): a rate-limit wait may outlast the JWT's 9 minutes, and the first answer may have
    // shown this host's clock to be off.
    const resign = "app" in auth ? { hooks: { beforeRetry: [({ request }: { request: Request }) => void request.headers.set("authorization", sign())] } } : {};
    const send = async () => {
      const res = await this.http(path.replace(/^\//, ""), { method, headers: { authorization: sign() }, ...resign, ...(body === undefined ? {} : { json: body }) });
      const text = await res.text();
      if (res.status === 204) return { data: undefined as T, status: res.status, headers: res.headers };
      try {
        return { data: JSON.parse(text) as T, status: res.status, headers: res.headers };
      } catch {
        throw notGitHub(describeNonJson(text, res.headers.get("content-type")), `${method} ${path.split("?")[0]}`, res.status);
      }
    };
    try {
      return await send();
    } catch (error) {
      if ("app" in auth && isHTTPError(error) && error.response.status === 401 && isClockSkewMessage(githubMessage(error.data))) {
        const skew = skewFromDate(error.response.headers.get("date"), this.now());
        if (skew !== undefined && Math.abs(skew) <= MAX_TRUSTED_SKEW_MS) {
          this.skewMs = skew;
          this.opts.logger.warn("clock skew: GitHub's clock differs from this host's; re-signing the JWT with GitHub's time", {
            skewSeconds: Math.round(skew / 1000),
            githubMessage: githubMessage(error.data),
            fix: "sync this node's clock (NTP)",
          });
          try {
            return await send();
          } catch (retryError) {
            throw this.toGhappError(retryError, method, path);
          }
        }
      }
      throw this.toGhappError(error, method, path);
    }
  }

  /** Every GET page of a list endpoint, following Link rel="next". */
  async paginate<T>(path: string, auth: Auth, pick: (page: unknown) => T[]): Promise<T[]> {
    const items: T[] = [];
    let next: string | undefined = `${path}${path.includes("?") ? "&" : "?"}per_page=100`;
    for (let page = 0; next && page < 1000; page++) {
      const res: GitHubResponse<unknown> = await this.request<unknown>("GET", next, auth);
      items.push(...pick(res.data));
      const link = /<([^>]+)>;\s*rel="next"/.exec(res.headers.get("link") ?? "")?.[1];
      // Link holds absolute URLs; requests take paths below GITHUB_API_URL.
      next = link?.startsWith(this.opts.apiUrl) ? link.slice(this.opts.apiUrl.length) : undefined;
    }
    return items;
  }

  private toGhappError(error: unknown, method: string, path: string): GhappError | unknown {
    if (error instanceof GhappError) return error;
    const where = `${method} ${path.split("?")[0]}`;
    if (error instanceof HTTPError) {
      const status = error.response.status;
      // GitHub's API answers every error with a JSON object; anything else below 500 came from
      // something else (a 5xx page from a load balancer is GitHub being down, retried above).
      if (status < 500 && (error.data === null || typeof error.data !== "object")) {
        return notGitHub(describeNonJson(typeof error.data === "string" ? error.data : "", error.response.headers.get("content-type")), where, status);
      }
      const message = githubMessage(error.data);
      const gh = message ? `GitHub said: "${message}"` : `GitHub answered HTTP ${status}`;
      const details = { status, githubMessage: message, request: where };
      if (status === 401) return credentialsError(`${gh} (${where}): the App ID or private key is wrong, or the key was revoked; check the secret's appId and privateKey`, details);
      if (status === 403 || status === 429) {
        if (rateLimitWait(status, error.response.headers, message, this.githubNow())) {
          return unavailableError(`${gh} (${where}): still rate limited after ${MAX_ATTEMPTS} attempts; retry later`, details);
        }
        return credentialsError(`${gh} (${where}): the App may not have the permission, or the installation is suspended; check the App's installation settings`, details);
      }
      if (status === 404) return notFoundError(`${gh} (${where}): the App or installation does not exist or is not visible to this App; check APP_ID, INSTALLATION_ID, OWNER and that the App is installed there`, details);
      if (status === 422) return notFoundError(`${gh} (${where}): a requested repository or permission is not available to this installation; check REPOSITORIES and PERMISSIONS against the installation's settings`, details);
      if (status >= 500) return unavailableError(`${gh} (${where}) after ${MAX_ATTEMPTS} attempts: GitHub is unavailable; retry later (see https://www.githubstatus.com)`, details);
      return configError(`${gh} (${where}): the request was rejected; check the configuration`, details);
    }
    if (error instanceof TimeoutError || isTimeoutError(error)) {
      return unavailableError(`GitHub did not answer ${where} within REQUEST_TIMEOUT (${Math.round(this.opts.timeoutMs / 1000)} s) in ${MAX_ATTEMPTS} attempts: check GITHUB_API_URL, proxy settings (HTTPS_PROXY) and network policies`);
    }
    const code = causeCode(error);
    if (code && TLS_CODES.test(code)) {
      return configError(`TLS: the certificate of ${new URL(this.opts.apiUrl).host} is not trusted (${code}): for GitHub Enterprise Server with a private CA, set NODE_EXTRA_CA_CERTS to the CA bundle`);
    }
    if (isNetworkError(error) || code) {
      // The host only: config.ts refuses credentials in GITHUB_API_URL, and a path may carry more.
      return unavailableError(`cannot reach GitHub at ${new URL(this.opts.apiUrl).host} (${code ?? "network error"}) for ${where} after ${MAX_ATTEMPTS} attempts: check GITHUB_API_URL, DNS, proxy settings (HTTPS_PROXY/NO_PROXY) and network policies`);
    }
    return error;
  }
}
