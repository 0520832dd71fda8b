// GitHub's token answer is checked before anything is written: the shapes refused and kept.
import { describe, expect, test } from "bun:test";
import { MAX_TOKEN_LIFETIME_MS, parseTokenAnswer } from "../../generator/src/core/access-token.ts";
import { GhappError } from "../../generator/src/core/errors.ts";

const NOW = Date.parse("2026-06-01T12:00:00Z");
const classic = "ghs_16C7e42F292c6912E7710c838347Ae178B4a";
const jwtForm = `ghs_424242_eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxMDAxIn0.${"A".repeat(342)}`;
const refused = (data: unknown) => {
  try {
    parseTokenAnswer(data, NOW);
  } catch (e) {
    expect((e as GhappError).exitCode).toBe(5);
    return (e as GhappError).message;
  }
  throw new Error("expected exit 5");
};

describe("the token answer", () => {
  test("keeps both token forms, normalises expires_at and reads scope", () => {
    for (const token of [classic, jwtForm]) {
      const t = parseTokenAnswer({ token, expires_at: "2026-06-01T13:00:00.000+00:00", permissions: { contents: "read" }, repositories: [{ full_name: "acme/api" }] }, NOW);
      expect(t).toEqual({ token, expiresAt: "2026-06-01T13:00:00Z", permissions: { contents: "read" }, repositories: ["acme/api"], repositorySelection: "selected" });
    }
    expect(parseTokenAnswer({ token: classic, expires_at: "2026-06-01T13:00:00Z" }, NOW).repositories).toBeNull();
  });

  test("refuses an expires_at at or before GitHub's now, or more than a day after it", () => {
    expect(refused({ token: classic, expires_at: new Date(NOW).toISOString() })).toContain("in the past");
    expect(refused({ token: classic, expires_at: new Date(NOW + MAX_TOKEN_LIFETIME_MS + 1000).toISOString() })).toContain("more than a day ahead");
    expect(parseTokenAnswer({ token: classic, expires_at: new Date(NOW + MAX_TOKEN_LIFETIME_MS).toISOString() }, NOW).token).toBe(classic);
  });

  test("refuses malformed scope rather than writing it into the metadata", () => {
    const base = { token: classic, expires_at: "2026-06-01T13:00:00Z" };
    expect(refused({ ...base, permissions: { contents: "everything" } })).toContain("malformed permissions");
    expect(refused({ ...base, permissions: { "../x": "read" } })).toContain("malformed permissions");
    expect(refused({ ...base, repositories: [{ full_name: "acme/../../etc" }] })).toContain("malformed repositories");
    expect(refused({ ...base, repositories: "all" })).toContain("malformed repositories");
    expect(refused({ ...base, repository_selection: "<b>" })).toContain("repository_selection");
  });

  test("never quotes the answer in its message", () => {
    const message = refused({ token: "ghs_has spaces and a secret-ish tail 0123456789", expires_at: "2026-06-01T13:00:00Z" });
    expect(message).not.toContain("secret-ish");
  });
});
