// The fetch that ky calls (github-client.ts passes it as ky's `fetch` option). GitHub's answers are
// untrusted input, and this is where their transport is bounded:
// - The whole body is read here, so ky's per-attempt `timeout` (which races this function) covers
//   the body too: an answer whose body stalls after the headers is a timeout, retried like one.
// - At most MAX_BODY_BYTES are read (Content-Length checked first): no GitHub answer this tool asks
//   for is anywhere near 1 MiB, and a huge one must not grow memory past the chart's limits.
// - Redirects are never followed by fetch itself (redirect: "manual"): a redirect to another origin
//   is refused, so no request (and no Authorization header) reaches a host the user did not name,
//   and nothing such a host answers is taken for GitHub's answer. GET redirects within the API's
//   origin are followed (GitHub answers 301 for a renamed repository), at most MAX_REDIRECTS.
// - TLS verification is always on, whatever NODE_TLS_REJECT_UNAUTHORIZED says (config.ts refuses
//   that variable too; this is the second lock).
import { GhappError, unavailableError } from "./errors.ts";

export const MAX_BODY_BYTES = 1024 * 1024;
export const MAX_REDIRECTS = 3;

/** Where a request went, for messages: method and path, never the query or the host's credentials. */
const where = (r: Request) => `${r.method} ${new URL(r.url).pathname}`;

function tooLarge(request: Request, maxBytes: number): GhappError {
  return unavailableError(
    `the answer to ${where(request)} is larger than ${Math.round(maxBytes / 1024)} KiB, which GitHub's API never sends here: a proxy or another server answered; check GITHUB_API_URL, HTTPS_PROXY and NO_PROXY`,
    { request: where(request), reason: "answer too large" },
  );
}

/**
 * The body of an answer, read only up to `limit` bytes: undefined (and the stream cancelled) once
 * it grows past that, so a hostile server cannot make us buffer more. The broker's OIDC discovery
 * reads the issuer's answers with it too.
 */
export async function readAtMost(res: Response, limit: number): Promise<Uint8Array | undefined> {
  const reader = res.body?.getReader();
  if (!reader) return new Uint8Array(0);
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > limit) {
      await reader.cancel().catch(() => undefined);
      return undefined;
    }
    chunks.push(value);
  }
  const body = new Uint8Array(total);
  let off = 0;
  for (const c of chunks) {
    body.set(c, off);
    off += c.byteLength;
  }
  return body;
}

/** Reads the body, refusing more than `maxBytes` (Content-Length checked first). */
async function readBounded(res: Response, request: Request, maxBytes: number): Promise<Uint8Array | null> {
  const declared = Number(res.headers.get("content-length"));
  if (Number.isFinite(declared) && declared > maxBytes) {
    await res.body?.cancel().catch(() => undefined);
    throw tooLarge(request, maxBytes);
  }
  if (!res.body) return null;
  const body = await readAtMost(res, maxBytes);
  if (!body) throw tooLarge(request, maxBytes);
  return body;
}

export interface BoundedFetchOptions {
  /** the API's origin (scheme, host, port): the only one answers are accepted from */
  origin: string;
  maxBytes?: number;
  fetch?: typeof fetch;
  /** PEM CA bundle trusted for this origin instead of the system's (ghapp-token's BROKER_CA_FILE) */
  ca?: string;
}

export function boundedFetch(opts: BoundedFetchOptions): (input: Request, init?: RequestInit) => Promise<Response> {
  const maxBytes = opts.maxBytes ?? MAX_BODY_BYTES;
  const send = opts.fetch ?? fetch;
  const tls = { rejectUnauthorized: true, ...(opts.ca ? { ca: opts.ca } : {}) };
  return async (input, init) => {
    let request = input;
    for (let hop = 0; ; hop++) {
      // Bun's fetch takes `tls` (https://bun.sh/reference/globals/BunFetchRequestInitTLS).
      const res = await send(request, { ...init, redirect: "manual", tls } as RequestInit);
      const location = res.status >= 300 && res.status < 400 ? res.headers.get("location") : null;
      if (location !== null) {
        await res.body?.cancel().catch(() => undefined);
        let target: URL | undefined;
        try {
          target = new URL(location, request.url);
        } catch {
          /* reported below */
        }
        if (!target || target.origin !== opts.origin) {
          throw unavailableError(
            `the answer to ${where(request)} redirects to another host, which is not followed: GitHub's API does not do that, so a proxy, a captive portal or a web page answered; check GITHUB_API_URL (GitHub Enterprise Server: https://HOST/api/v3), HTTPS_PROXY and NO_PROXY`,
            { request: where(request), status: res.status, reason: "cross-origin redirect" },
          );
        }
        if (request.method !== "GET" || hop >= MAX_REDIRECTS) {
          throw unavailableError(
            `the answer to ${where(request)} is a redirect (HTTP ${res.status}) that is not followed${request.method !== "GET" ? ` for ${request.method}` : " again"}: check GITHUB_API_URL (GitHub Enterprise Server: https://HOST/api/v3)`,
            { request: where(request), status: res.status, reason: "redirect" },
          );
        }
        request = new Request(target.href, request);
        continue;
      }
      const body = await readBounded(res, request, maxBytes);
      const empty = res.status === 204 || res.status === 205 || res.status === 304;
      return new Response(empty ? null : body, { status: res.status, statusText: res.statusText, headers: res.headers });
    }
  };
}
