// Durations as operators write them: "500ms", "10s", "45m", "1h", "1m30s", or a bare number of
// seconds. Returns milliseconds; anything else is a configuration error naming the variable.
import { configError } from "./errors.ts";

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

export function parseDuration(value: string, name: string): number {
  const text = value.trim();
  if (/^\d+(\.\d+)?$/.test(text)) return Math.round(Number(text) * 1000);
  const parts = [...text.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)];
  if (parts.length === 0 || parts.map((p) => p[0]).join("") !== text) {
    throw configError(`${name} "${text}" is not a duration: write it like 500ms, 10s, 45m, 1h or 1m30s`);
  }
  return Math.round(parts.reduce((ms, p) => ms + Number(p[1]) * UNIT_MS[p[2]!]!, 0));
}
