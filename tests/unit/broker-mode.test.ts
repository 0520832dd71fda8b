// Brokered mode's pure pieces (issue 21): which settings select it, what mixing them with the App's
// credentials says, the URL rules, and the check of the broker's answer before anything is written.
import { describe, expect, test } from "bun:test";
import { GhappError } from "../../generator/src/core/errors.ts";
import { parseBrokeredConfig, wantsBroker } from "../../generator/src/token/broker-mode.ts";
import { parseBrokerAnswer } from "../../generator/src/token/brokered.ts";
import type { RawOptions } from "../../generator/src/token/options.ts";

const base: RawOptions = { "broker-url": "https://broker.example.com:8443/", "oidc-token-file": "/var/run/secrets/ghapp-broker/token" };

function refusal(o: RawOptions): { code: number; message: string } {
  try {
    parseBrokeredConfig(o);
  } catch (e) {
    if (e instanceof GhappError) return { code: e.exitCode, message: e.message };
    throw e;
  }
  throw new Error("not refused");
}

describe("brokered settings", () => {
  test("any brokered setting selects brokered mode; none leaves key mode", () => {
    expect(wantsBroker({ "app-id": "1" })).toBe(false);
    expect(wantsBroker({ "oidc-token-file": "/t" })).toBe(true);
    expect(wantsBroker({ "broker-ca-file": "/ca" })).toBe(true);
  });

  test("keeps OWNER, REPOSITORIES and PERMISSIONS as config.ts checks them, and the broker's base URL without a trailing slash", () => {
    const c = parseBrokeredConfig({ ...base, owner: "acme-org", repositories: "api,acme-org/web", permissions: "contents=read" });
    expect(c.broker).toEqual({ url: "https://broker.example.com:8443", tokenFile: "/var/run/secrets/ghapp-broker/token" });
    expect(c.owner).toBe("acme-org");
    expect(c.repositories).toEqual([{ name: "api" }, { owner: "acme-org", name: "web" }]);
    expect(c.permissions).toEqual({ contents: "read" });
    expect(c.appId).toBe("");
  });

  test("mixing with the App's credentials or INSTALLATION_ID is exit 2 naming both sides", () => {
    for (const [flag, env] of [["app-id", "APP_ID"], ["private-key-file", "PRIVATE_KEY_FILE"], ["private-key", "PRIVATE_KEY"], ["installation-id", "INSTALLATION_ID"]] as const) {
      const r = refusal({ ...base, [flag]: "x" });
      expect(r.code).toBe(2);
      expect(r.message).toContain(env);
      expect(r.message).toContain("BROKER_URL");
      expect(r.message).not.toContain(": x");
    }
  });

  test("a BROKER_URL in clear text beyond localhost, with credentials or a query is exit 2; localhost may be http", () => {
    expect(refusal({ ...base, "broker-url": "http://broker.example.com" }).message).toContain("https");
    expect(refusal({ ...base, "broker-url": "https://u:p@broker.example.com" }).message).toContain("credentials");
    expect(refusal({ ...base, "broker-url": "https://broker.example.com/?x=1" }).message).toContain("query");
    expect(refusal({ ...base, "broker-url": "not a url" }).message).toContain("not a URL");
    expect(parseBrokeredConfig({ ...base, "broker-url": "http://127.0.0.1:8000" }).broker.url).toBe("http://127.0.0.1:8000");
  });

  test("OIDC_TOKEN_FILE without BROKER_URL, and BROKER_URL without OIDC_TOKEN_FILE, are exit 2", () => {
    expect(refusal({ "oidc-token-file": "/t" }).message).toContain("BROKER_URL");
    expect(refusal({ "broker-url": "https://b.example.com" }).message).toContain("OIDC_TOKEN_FILE is not set");
  });
});

describe("the broker's answer", () => {
  const now = Date.parse("2026-12-07T10:00:00Z");
  const good = { token: `ghs_${"a".repeat(36)}`, expires_at: "2026-12-07T11:00:00Z", owner: "acme-org", installation_id: 1001, permissions: { contents: "read", metadata: "read" }, repositories: ["acme-org/api", "web"], repository_selection: "selected" };

  test("a good answer becomes the token, with bare repository names given the answer's owner", () => {
    expect(parseBrokerAnswer(good, now)).toEqual({ token: good.token, expiresAt: "2026-12-07T11:00:00Z", installationId: 1001, owner: "acme-org", permissions: { contents: "read", metadata: "read" }, repositories: ["acme-org/api", "acme-org/web"], repositorySelection: "selected" });
  });

  test("repositories null means all the installation's", () => {
    expect(parseBrokerAnswer({ ...good, repositories: null, repository_selection: "all" }, now).repositories).toBeNull();
  });

  test.each([
    ["an array", []],
    ["no owner", { ...good, owner: undefined }],
    ["an owner that is not a login", { ...good, owner: "acme org" }],
    ["a negative installation", { ...good, installation_id: -1 }],
    ["a token with a newline", { ...good, token: `ghs_${"a".repeat(20)}\nx` }],
    ["an expiry in the past", { ...good, expires_at: "2026-12-07T09:00:00Z" }],
    ["an expiry two days ahead", { ...good, expires_at: "2026-12-09T10:00:00Z" }],
    ["a permission level that does not exist", { ...good, permissions: { contents: "owner" } }],
    ["a repository with a path", { ...good, repositories: ["acme-org/../x/y"] }],
    ["an unknown repository selection", { ...good, repository_selection: "some" }],
  ])("%s is exit 5", (_what, answer) => {
    let code = 0;
    try {
      parseBrokerAnswer(answer, now);
    } catch (e) {
      code = (e as GhappError).exitCode;
    }
    expect(code).toBe(5);
  });
});
