// When the sidecar replaces its token. By default when 80% of the token's lifetime has passed
// (from GitHub's expires_at: a 1 h token at 48 min, a 20 s token at 16 s); with REFRESH_INTERVAL
// after that long instead. Never later than a safety margin before expiry: 5 minutes, or a tenth
// of the lifetime for short-lived tokens, so a slow GitHub still leaves time to retry.
//
// All times are GitHub's (the caller passes GitHub's clock: this host's corrected by the skew
// learnt from the Date header of every answer), since expires_at is GitHub's: a node whose clock
// is hours off must neither mint in a loop nor keep an expired token. Every delay is clamped: at
// least MIN_DELAY_MS (never a loop), at most MAX_DELAY_MS (far below setTimeout's 2^31 ms limit,
// past which Bun and Node fire at once), and a NaN becomes NAN_DELAY_MS.
export const REFRESH_FRACTION = 0.8;
export const MAX_SAFETY_MARGIN_MS = 5 * 60_000;
export const MIN_DELAY_MS = 1000;
export const MAX_DELAY_MS = 3_600_000;
export const NAN_DELAY_MS = 60_000;

export interface TokenTimes {
  issuedAt: number; // ms, GitHub's clock, when this process received the token
  expiresAt: number; // ms, GitHub's expires_at
}

export function safetyMarginMs(t: TokenTimes): number {
  return Math.min(MAX_SAFETY_MARGIN_MS, (t.expiresAt - t.issuedAt) / 10);
}

/** A timer delay that can neither loop, overflow nor be NaN. */
export function clampDelay(ms: number): number {
  if (Number.isNaN(ms)) return NAN_DELAY_MS;
  return Math.min(MAX_DELAY_MS, Math.max(MIN_DELAY_MS, ms));
}

/** Milliseconds from `now` until the next refresh is due (MIN_DELAY_MS when overdue). */
export function nextRefreshDelayMs(t: TokenTimes, now: number, intervalMs?: number): number {
  const lifetime = Math.max(0, t.expiresAt - t.issuedAt);
  const target = intervalMs !== undefined ? t.issuedAt + intervalMs : t.issuedAt + REFRESH_FRACTION * lifetime;
  const latest = t.expiresAt - safetyMarginMs(t);
  return clampDelay(Math.min(target, latest) - now);
}

/** Back-off between failed refreshes: 1 s doubling to 30 s, jittered, never past expiry's margin. */
export function retryDelayMs(failures: number, random: () => number = Math.random): number {
  const base = Math.min(30_000, 1000 * 2 ** Math.max(0, failures - 1));
  return base / 2 + random() * (base / 2);
}

/**
 * Liveness (GET /livez) says whether the refresh loop still works, never whether the token is
 * valid: an outage must not get the sidecar killed (in an Argo pod, restartPolicy: Never, it would
 * never come back). The loop is alive while a refresh is scheduled and its timer is not overdue by
 * more than TIMER_GRACE_MS, or a refresh is running and has not outlasted `budgetMs`, the longest
 * a refresh can take with every retry and rate-limit wait (refreshBudgetMs). Times are monotonic.
 */
export type LoopState = { phase: "scheduled"; dueAt: number } | { phase: "running"; since: number } | { phase: "starting" } | { phase: "stopping" };
export const TIMER_GRACE_MS = 60_000;

export function refreshBudgetMs(requestTimeoutMs: number, maxRetryWaitMs: number): number {
  // up to 3 requests (lookup, token, a page more), each 5 attempts with 4 waits between them
  return 3 * (5 * requestTimeoutMs + 4 * Math.max(maxRetryWaitMs, 5000) + 10_000) + 30_000;
}

export function isLoopAlive(state: LoopState, nowMono: number, budgetMs: number): boolean {
  if (state.phase === "scheduled") return nowMono <= state.dueAt + TIMER_GRACE_MS;
  if (state.phase === "running") return nowMono - state.since <= budgetMs;
  return true;
}
