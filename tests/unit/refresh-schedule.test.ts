import { describe, expect, test } from "bun:test";
import { clampDelay, isLoopAlive, MAX_DELAY_MS, MIN_DELAY_MS, NAN_DELAY_MS, nextRefreshDelayMs, refreshBudgetMs, retryDelayMs, safetyMarginMs } from "../../generator/src/token/refresh-schedule.ts";

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

  test("counts from the injected clock, and after the floor when overdue", () => {
    expect(nextRefreshDelayMs(hour, T0 + 40 * 60_000)).toBe(8 * 60_000);
    expect(nextRefreshDelayMs(hour, T0 + 50 * 60_000)).toBe(MIN_DELAY_MS);
  });

  test("backs off 1 s doubling to 30 s between failures, jittered", () => {
    expect([1, 2, 3, 4, 5, 6, 7].map((n) => retryDelayMs(n, () => 1))).toEqual([1000, 2000, 4000, 8000, 16000, 30000, 30000]);
    expect(retryDelayMs(3, () => 0)).toBe(2000);
  });
});

describe("delays that cannot loop, overflow or be NaN", () => {
  test("an expires_at in the past waits the floor, never 0 (no mint loop)", () => {
    expect(nextRefreshDelayMs({ issuedAt: T0, expiresAt: T0 - 7_200_000 }, T0)).toBe(MIN_DELAY_MS);
  });
  test("an expires_at years ahead waits the cap, below setTimeout's 2^31 ms", () => {
    const d = nextRefreshDelayMs({ issuedAt: T0, expiresAt: T0 + 10 * 365 * 86_400_000 }, T0);
    expect(d).toBe(MAX_DELAY_MS);
    expect(d).toBeLessThan(2 ** 31 - 1);
  });
  test("an unparseable expires_at (NaN) waits a minute", () => {
    expect(nextRefreshDelayMs({ issuedAt: T0, expiresAt: Number.NaN }, T0)).toBe(NAN_DELAY_MS);
    expect(clampDelay(Number.POSITIVE_INFINITY)).toBe(MAX_DELAY_MS);
    expect(clampDelay(Number.NEGATIVE_INFINITY)).toBe(MIN_DELAY_MS);
  });
  test("a node whose clock is 2 h ahead schedules the same as one in sync, given GitHub's clock", () => {
    // The caller passes GitHub's clock (this host's + the skew from Date); the host's own is irrelevant.
    const githubNow = T0;
    expect(nextRefreshDelayMs(hour, githubNow)).toBe(48 * 60_000);
  });
});

describe("liveness of the refresh loop", () => {
  const budget = refreshBudgetMs(10_000, 60_000);
  test("is alive while a refresh is scheduled and not overdue, or running within its budget", () => {
    expect(isLoopAlive({ phase: "scheduled", dueAt: 1000 }, 500, budget)).toBe(true);
    expect(isLoopAlive({ phase: "scheduled", dueAt: 1000 }, 1000 + 59_000, budget)).toBe(true);
    expect(isLoopAlive({ phase: "running", since: 0 }, budget, budget)).toBe(true);
    expect(isLoopAlive({ phase: "starting" }, 10, budget)).toBe(true);
  });
  test("is wedged when a timer is long overdue or a refresh outlasts every retry it could make", () => {
    expect(isLoopAlive({ phase: "scheduled", dueAt: 1000 }, 1000 + 61_000, budget)).toBe(false);
    expect(isLoopAlive({ phase: "running", since: 0 }, budget + 1, budget)).toBe(false);
    // the budget covers 5 attempts of each request at the full timeout plus rate-limit waits
    expect(budget).toBeGreaterThan(3 * (5 * 10_000 + 4 * 60_000));
  });
});
