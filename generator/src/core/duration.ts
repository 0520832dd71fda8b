// Durations have one spelling everywhere (the binary and both charts): Go-style strings such as
// "90s", "45m", "1h", "1h30m" or "500ms" (units ms, s, m, h). A bare number is refused: "10"
// could mean seconds or milliseconds, and both charts and this binary once read it differently.
// Each setting has limits (CONTRACTS: REQUEST_TIMEOUT 1s..5m, MAX_RETRY_WAIT 0s..1h,
// REFRESH_INTERVAL 1m..55m), which also keep every timer far below setTimeout's 2^31 ms ceiling.
import { configError } from "./errors.ts";

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

export interface DurationLimits {
  minMs: number;
  maxMs: number;
}

export const DURATION_LIMITS = {
  REQUEST_TIMEOUT: { minMs: 1000, maxMs: 5 * 60_000 },
  MAX_RETRY_WAIT: { minMs: 0, maxMs: 3_600_000 },
  REFRESH_INTERVAL: { minMs: 60_000, maxMs: 55 * 60_000 },
} as const satisfies Record<string, DurationLimits>;

/** Writes ms the way an operator would: 90000 → "1m30s", 500 → "500ms". */
export function formatDuration(ms: number): string {
  if (ms === 0) return "0s";
  let rest = Math.round(ms);
  let out = "";
  for (const [unit, size] of [["h", 3_600_000], ["m", 60_000], ["s", 1000], ["ms", 1]] as const) {
    const n = Math.floor(rest / size);
    if (n) out += `${n}${unit}`;
    rest -= n * size;
  }
  return out;
}

/**
 * Milliseconds, or a configuration error naming the variable. The value is repeated in a message
 * only when it is digits alone (a bare number, harmless to show); anything else is described.
 */
export function parseDuration(value: string, name: string, limits?: DurationLimits): number {
  const text = value.trim();
  if (/^\d+(\.\d+)?$/.test(text)) throw configError(`${name} "${text}" has no unit: write ${text}s (durations are written like 500ms, 90s, 45m, 1h or 1h30m)`);
  const parts = [...text.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)];
  if (text.length > 40 || parts.length === 0 || parts.map((p) => p[0]).join("") !== text) {
    throw configError(`${name} is not a duration: write it like 500ms, 90s, 45m, 1h or 1h30m`);
  }
  const ms = Math.round(parts.reduce((sum, p) => sum + Number(p[1]) * UNIT_MS[p[2]!]!, 0));
  if (limits && (!Number.isFinite(ms) || ms < limits.minMs || ms > limits.maxMs)) {
    throw configError(`${name} ${text} is outside ${formatDuration(limits.minMs)}..${formatDuration(limits.maxMs)}: pick a duration within that range`);
  }
  return ms;
}
