import { describe, expect, test } from "bun:test";
import { nextRefreshDelayMs, retryDelayMs, safetyMarginMs } from "../../generator/src/token/refresh-schedule.ts";

const T0 = Date.parse("2026-03-01T12:00:00Z");
const hour = { issuedAt: T0, expiresAt: T0 + 3_600_000 };

describe("when the sidecar refreshes", () => {
  test("at 80% of the lifetime: a 1 h token at 48 min, a 20 s token at 16 s", () => {
    expect(nextRefreshDelayMs(hour, T0)).toBe(48 * 60_000);
    expect(nextRefreshDelayMs({ issuedAt: T0, expiresAt: T0 + 20_000 }, T0)).toBe(16_000);
  });

  test("on a fixed REFRESH_INTERVAL when set", () => {
    expect(nextRefreshDelayMs(hour, T0, 45 * 60_000)).toBe(45 * 60_000);
  });

  test("never later than the safety margin before expiry", () => {
    expect(safetyMarginMs(hour)).toBe(5 * 60_000);
    expect(nextRefreshDelayMs(hour, T0, 59 * 60_000)).toBe(55 * 60_000);
    expect(safetyMarginMs({ issuedAt: T0, expiresAt: T0 + 20_000 })).toBe(2_000);
  });

  test("counts from the injected clock, and at once when overdue", () => {
    expect(nextRefreshDelayMs(hour, T0 + 40 * 60_000)).toBe(8 * 60_000);
    expect(nextRefreshDelayMs(hour, T0 + 50 * 60_000)).toBe(0);
  });

  test("backs off 1 s doubling to 30 s between failures, jittered", () => {
    expect([1, 2, 3, 4, 5, 6, 7].map((n) => retryDelayMs(n, () => 1))).toEqual([1000, 2000, 4000, 8000, 16000, 30000, 30000]);
    expect(retryDelayMs(3, () => 0)).toBe(2000);
  });
});
