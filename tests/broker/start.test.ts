// The broker says what is wrong, at the right time: a misconfiguration that waiting cannot fix stops the
// start with exit 2 and the fix; a dependency that is only down keeps the broker running, not ready,
// with /ready naming it and one log line per change of state; and /ready never makes the broker ask
// GitHub, however many callers there are.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { generateAppKey } from "../simulator/simulator.ts";
import { eventually, logLines, runBroker, startBroker, startWorld, type World } from "./harness.ts";

let w: World;
beforeAll(async () => {
  w = await startWorld();
});
afterAll(() => w?.close());

const lastError = (stderr: string) => String(logLines(stderr).at(-1)?.message ?? "");
const githubRequests = () => w.sim.requests.filter((r) => !r.path.startsWith("/oidc") && !r.path.startsWith("/_simulator")).length;

describe("misconfigurations stop the start with exit 2 and the fix", () => {
  test("an OIDC_ISSUER with a trailing slash: the discovery document names another issuer", async () => {
    const r = await runBroker(["serve"], w.env({ OIDC_ISSUER: `${w.sim.oidc.issuer}/` }), 15_000);
    expect(r.code).toBe(2);
    expect(lastError(r.stderr)).toContain(`OIDC_ISSUER: the issuer's discovery document names "${w.sim.oidc.issuer}", not OIDC_ISSUER "${w.sim.oidc.issuer}/"`);
    expect(r.stderr).not.toContain('"message":"listening"');
  });

  test("an OIDC_ISSUER with a wrong path: no discovery document there (404)", async () => {
    const r = await runBroker(["serve"], w.env({ OIDC_ISSUER: `${w.sim.url}/oidc/wrong` }), 15_000);
    expect(r.code).toBe(2);
    expect(lastError(r.stderr)).toMatch(/^OIDC_ISSUER: the OIDC issuer has no discovery document at .*\/oidc\/wrong\/\.well-known\/openid-configuration \(HTTP 404\)/);
  });

  test("an organisation the App is not installed on", async () => {
    const r = await runBroker(["serve"], w.env({ GITHUB_ORG: "not-our-org" }), 15_000);
    expect(r.code).toBe(2);
    expect(lastError(r.stderr)).toContain("the App is not installed on the organisation GITHUB_ORG=not-our-org");
  });

  test.each([
    ["APP_ID", "GITHUB_APP_ID", "app-id", { GITHUB_APP_ID: "", APP_ID: "12345" }],
    ["OWNER", "GITHUB_ORG", "org", { GITHUB_ORG: "", OWNER: "acme-org" }],
    ["INSTALLATION_ID", "GITHUB_APP_INSTALLATION_ID", "installation-id", { INSTALLATION_ID: "1001" }],
    ["PRIVATE_KEY_FILE", "GITHUB_APP_PRIVATE_KEY_FILE", "private-key-file", { GITHUB_APP_PRIVATE_KEY_FILE: "", PRIVATE_KEY_FILE: "/x/app.pem" }],
  ])("ghapp-token's %s set for the broker: exit 2 saying it reads %s", async (other, wanted, flag, vars) => {
    const r = await runBroker(["serve"], w.env(vars as Record<string, string>));
    expect(r.code).toBe(2);
    expect(lastError(r.stderr)).toBe(`${other} is set, but ghapp-runner-broker reads ${wanted} (${other} is ghapp-token's name): rename the variable to ${wanted}, or pass --${flag}`);
  });

  test("ghapp-token's PRIVATE_KEY (the key itself) set for the broker: exit 2, and the key is not repeated", async () => {
    const key = generateAppKey().privateKeyPem;
    const r = await runBroker(["serve"], w.env({ GITHUB_APP_PRIVATE_KEY_FILE: "", PRIVATE_KEY: key }));
    expect(r.code).toBe(2);
    expect(lastError(r.stderr)).toContain("PRIVATE_KEY is set, but ghapp-runner-broker reads the App's key from a file only");
    expect(r.stderr).not.toContain("PRIVATE KEY-----");
  });
});

describe("a dependency that is only down keeps the broker running, not ready", () => {
  test("GitHub unavailable at start: /ready 503 naming github and why, one warning; ready again once it answers", async () => {
    // The installation lookup fails all five attempts of the start's check, then GitHub is back.
    w.sim.inject({ kind: "status", status: 503, match: { path: "/users/acme-org/installation" }, times: 5 });
    const b = await startBroker(w.env({ READY_CHECK_INTERVAL: "1s" }), ["serve"], 30_000);
    try {
      const first = await b.call("GET", "/ready");
      expect(first.status).toBe(503);
      expect(first.headers.get("content-type")).toStartWith("application/problem+json");
      expect(first.json.checks).toEqual({ database: "ok", github: "failing", issuer: "ok" });
      expect(first.json.reasons.github).toContain("GitHub is unavailable");
      expect(first.json.detail).toContain("github: GitHub is unavailable");
      for (let i = 0; i < 5; i++) expect((await b.call("GET", "/ready")).status).toBe(503);
      await eventually(async () => (await b.call("GET", "/ready")).status === 200, 15_000, "/ready 200 once GitHub answers");
      const lines = logLines(b.logs()).filter((l) => l.dependency === "github");
      expect(lines.map((l) => [l.level, l.message])).toEqual([
        ["warn", "github unavailable: the broker is not ready until it works"],
        ["info", "github works again"],
      ]);
    } finally {
      w.sim.clearFaults();
      await b.stop();
    }
  }, 45_000);

  test("the issuer unreachable at start: /ready 503 naming the issuer; ready once it answers", async () => {
    w.sim.inject({ kind: "status", status: 503, match: { path: "/oidc/.well-known/openid-configuration" }, times: 1 });
    const b = await startBroker(w.env({ READY_CHECK_INTERVAL: "1s" }));
    try {
      const first = await b.call("GET", "/ready");
      expect(first.status).toBe(503);
      expect(first.json.checks.issuer).toBe("failing");
      expect(first.json.reasons.issuer).toContain("answered HTTP 503");
      await eventually(async () => (await b.call("GET", "/ready")).status === 200, 10_000, "/ready 200 once the issuer answers");
      expect(logLines(b.logs()).filter((l) => l.dependency === "issuer").map((l) => l.level)).toEqual(["warn", "info"]);
    } finally {
      w.sim.clearFaults();
      await b.stop();
    }
  });

  test("/ready never makes the broker ask GitHub: 300 callers while the App's key is wrong cost no GitHub request", async () => {
    const keyFile = join(w.dir, "wrong-ready.pem");
    writeFileSync(keyFile, generateAppKey().privateKeyPem, { mode: 0o600 });
    const b = await startBroker(w.env({ GITHUB_APP_PRIVATE_KEY_FILE: keyFile }));
    try {
      const before = githubRequests();
      const answers = await Promise.all(Array.from({ length: 300 }, () => b.call("GET", "/ready")));
      expect(new Set(answers.map((a) => a.status))).toEqual(new Set([503]));
      expect(answers[0]!.json.reasons.github).toContain("GitHub refused the App's credentials");
      expect(githubRequests() - before).toBe(0);
      // One warning for the state, not one per caller.
      expect(logLines(b.logs()).filter((l) => l.dependency === "github" && l.level === "warn").length).toBe(1);
    } finally {
      await b.stop();
    }
  });
});
