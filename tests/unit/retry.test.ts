import { describe, expect, test } from "bun:test";
import { backoffDelayMs, jitter, MAX_ATTEMPTS, rateLimitWait } from "../../generator/src/core/retry.ts";
import { isClockSkewMessage, skewFromDate } from "../../generator/src/core/clock-skew.ts";

const NOW = Date.parse("2026-03-01T12:00:00Z");
const headers = (h: Record<string, string>) => new Headers(h);

describe("back-off for 5xx and network errors", () => {
  test("doubles from 500 ms and caps at 5 s over 5 attempts", () => {
    expect(MAX_ATTEMPTS).toBe(5);
    expect([1, 2, 3, 4, 5, 6].map(backoffDelayMs)).toEqual([500, 1000, 2000, 4000, 5000, 5000]);
  });
  test("jitters between half and all of the delay", () => {
    expect(jitter(4000, () => 0)).toBe(2000);
    expect(jitter(4000, () => 1)).toBe(4000);
    expect(jitter(4000, () => 0.5)).toBe(3000);
  });
});

describe("rate limits", () => {
  test("waits what Retry-After says on 429", () => {
    expect(rateLimitWait(429, headers({ "retry-after": "7" }), "API rate limit exceeded", NOW)).toEqual({ kind: "retry-after", waitMs: 7000 });
  });
  test("waits Retry-After on a 403 secondary rate limit", () => {
    expect(rateLimitWait(403, headers({ "retry-after": "3" }), "You have exceeded a secondary rate limit.", NOW)).toEqual({ kind: "secondary", waitMs: 3000 });
  });
  test("waits a minute on a secondary limit without Retry-After, as GitHub advises", () => {
    expect(rateLimitWait(403, headers({}), "You have exceeded a secondary rate limit.", NOW)?.waitMs).toBe(60_000);
  });
  test("waits until x-ratelimit-reset when the primary limit is used up", () => {
    const reset = NOW / 1000 + 30;
    expect(rateLimitWait(403, headers({ "x-ratelimit-remaining": "0", "x-ratelimit-reset": String(reset) }), "API rate limit exceeded", NOW)).toEqual({ kind: "primary", waitMs: 31_000 });
  });
  test("does not wait on a 403 that is not a rate limit: a wrong key or a suspended installation is final", () => {
    expect(rateLimitWait(403, headers({ "x-ratelimit-remaining": "4999", "x-ratelimit-reset": String(NOW / 1000 + 3600) }), "This installation has been suspended", NOW)).toBeUndefined();
    expect(rateLimitWait(401, headers({ "retry-after": "1" }), "Bad credentials", NOW)).toBeUndefined();
  });
});

describe("clock skew", () => {
  test("recognises GitHub's claim messages and nothing else", () => {
    expect(isClockSkewMessage("'Expiration time' claim ('exp') is too far in the future")).toBe(true);
    expect(isClockSkewMessage("'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires")).toBe(true);
    expect(isClockSkewMessage("'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued")).toBe(true);
    expect(isClockSkewMessage("A JSON web token could not be decoded")).toBe(false);
    expect(isClockSkewMessage("Bad credentials")).toBe(false);
  });
  test("measures GitHub's offset from the Date header", () => {
    expect(skewFromDate(new Date(NOW + 300_000).toUTCString(), NOW)).toBe(300_000);
    expect(skewFromDate(null, NOW)).toBeUndefined();
  });
});
