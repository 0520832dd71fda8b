// When the sidecar replaces its token. By default when 80% of the token's lifetime has passed
// (from GitHub's expires_at: a 1 h token at 48 min, a 20 s token at 16 s); with REFRESH_INTERVAL
// after that long instead. Never later than a safety margin before expiry: 5 minutes, or a tenth
// of the lifetime for short-lived tokens, so a slow GitHub still leaves time to retry.
export const REFRESH_FRACTION = 0.8;
export const MAX_SAFETY_MARGIN_MS = 5 * 60_000;

export interface TokenTimes {
  issuedAt: number; // ms, when this process received the token
  expiresAt: number; // ms, GitHub's expires_at
}

export function safetyMarginMs(t: TokenTimes): number {
  return Math.min(MAX_SAFETY_MARGIN_MS, (t.expiresAt - t.issuedAt) / 10);
}

/** Milliseconds from `now` until the next refresh is due (0 when overdue). */
export function nextRefreshDelayMs(t: TokenTimes, now: number, intervalMs?: number): number {
  const lifetime = Math.max(0, t.expiresAt - t.issuedAt);
  const target = intervalMs !== undefined ? t.issuedAt + intervalMs : t.issuedAt + REFRESH_FRACTION * lifetime;
  const latest = t.expiresAt - safetyMarginMs(t);
  return Math.max(0, Math.min(target, latest) - now);
}

/** Back-off between failed refreshes: 1 s doubling to 30 s, jittered, never past expiry's margin. */
export function retryDelayMs(failures: number, random: () => number = Math.random): number {
  const base = Math.min(30_000, 1000 * 2 ** Math.max(0, failures - 1));
  return base / 2 + random() * (base / 2);
}
