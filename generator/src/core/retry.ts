// When and how long to wait before asking GitHub again. Pure functions of the response and the
// clock, so the schedule is unit-tested; ky performs the waits (github-client.ts).
//
// - 5xx, dropped connections, timeouts: exponential back-off, 5 attempts in all, base 500 ms,
//   capped at 5 s, with equal jitter so many pods failing together do not retry in lockstep.
// - 429, and 403 secondary rate limits: wait what Retry-After says; a secondary limit without
//   it waits one minute, as GitHub advises.
// - 403/429 with x-ratelimit-remaining: 0 (primary limit): wait until x-ratelimit-reset.
// https://docs.github.com/en/rest/using-the-rest-api/best-practices-for-using-the-rest-api#handle-rate-limit-errors-appropriately
export const MAX_ATTEMPTS = 5;
export const BACKOFF_BASE_MS = 500;
export const BACKOFF_CAP_MS = 5_000;
const SECONDARY_DEFAULT_WAIT_MS = 60_000;

/** Exponential delay before retry number `retry` (1-based), without jitter. */
export function backoffDelayMs(retry: number): number {
  return Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** (retry - 1));
}

/** Equal jitter: half the delay fixed, half random. */
export function jitter(delayMs: number, random: () => number = Math.random): number {
  return delayMs / 2 + random() * (delayMs / 2);
}

export interface RateLimit {
  kind: "retry-after" | "secondary" | "primary";
  waitMs: number;
}

/**
 * The wait a rate-limited answer asks for, or undefined when the answer is not a rate limit
 * (a 403 for a wrong key or a suspended installation is final, not a reason to wait).
 */
export function rateLimitWait(status: number, headers: Headers, message: string | undefined, nowMs: number): RateLimit | undefined {
  if (status !== 403 && status !== 429) return undefined;
  const retryAfter = headers.get("retry-after");
  const secondary = /secondary rate limit/i.test(message ?? "");
  if (retryAfter !== null && /^\d+$/.test(retryAfter.trim())) {
    return { kind: secondary ? "secondary" : "retry-after", waitMs: Number(retryAfter) * 1000 };
  }
  if (headers.get("x-ratelimit-remaining") === "0") {
    const reset = Number(headers.get("x-ratelimit-reset"));
    if (Number.isFinite(reset) && reset > 0) return { kind: "primary", waitMs: Math.max(0, reset * 1000 - nowMs) + 1000 };
  }
  if (secondary) return { kind: "secondary", waitMs: SECONDARY_DEFAULT_WAIT_MS };
  if (status === 429) return { kind: "retry-after", waitMs: SECONDARY_DEFAULT_WAIT_MS };
  return undefined;
}
