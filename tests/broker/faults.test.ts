// GitHub and the issuer misbehaving, callers too fast: the broker answers with the right status
// and Retry-After, hands nothing out, and frees what it reserved.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { openStorage } from "../../generator/src/broker/storage/open.ts";
import { defaultInstallations, generateAppKey } from "../simulator/simulator.ts";
import { ADMIN, ALICE, policy, startBroker, startWorld, type Broker, type World } from "./harness.ts";

let w: World;
let b: Broker;
let admin: string;
let alice: string;

beforeAll(async () => {
  w = await startWorld();
  b = await startBroker(w.env({ CALLER_RATE_LIMIT: "1000", MAX_RETRY_WAIT: "2s" }));
  [admin, alice] = await Promise.all([w.token(ADMIN), w.token(ALICE)]);
  await b.call("POST", "/api/v1/admin/label-policies", { token: admin, body: policy(ALICE) });
});
afterAll(async () => {
  await b?.stop();
  await w?.close();
});

const provision = (token: string, name: string) => b.call("POST", "/api/v1/runners/provision", { token, body: { runner_name: name, labels: ["team-a"] } });

describe("GitHub faults", () => {
  test("GitHub down: 503 with Retry-After, nothing handed out, and the name is free again", async () => {
    w.sim.inject({ kind: "status", status: 503, match: { path: "generate-jitconfig" }, times: 100 });
    const r = await provision(alice, "flaky-1");
    w.sim.clearFaults();
    expect(r.status).toBe(503);
    expect(r.headers.get("content-type")).toStartWith("application/problem+json");
    expect(Number(r.headers.get("retry-after"))).toBeGreaterThan(0);
    expect(r.json.encoded_jit_config).toBeUndefined();
    const again = await provision(alice, "flaky-1");
    expect(again.status).toBe(201);
    const audit = (await b.call("GET", `/api/v1/admin/audit-log?user=${encodeURIComponent(ALICE)}`, { token: admin })).json.records;
    expect(audit.some((a: any) => a.runner_name === "flaky-1" && a.result === "failure" && a.details.reason === "github_unavailable")).toBe(true);
  }, 30_000);

  test("a transient GitHub error is retried and the caller never sees it", async () => {
    w.sim.inject({ kind: "status", status: 502, match: { path: "generate-jitconfig" }, times: 1 });
    expect((await provision(alice, "flaky-2")).status).toBe(201);
  });

  test("GitHub's answer lost to a timeout: the runner it created is replaced, and the caller gets one working config", async () => {
    const b2 = await startBroker(w.env({ REQUEST_TIMEOUT: "1s" }));
    try {
      await b2.call("POST", "/api/v1/admin/label-policies", { token: admin, body: policy(ALICE) });
      // The first attempt is answered after the client gave up (GitHub created the runner anyway);
      // the client's retry then meets the name.
      w.sim.inject({ kind: "delay", ms: 1200, match: { path: "generate-jitconfig" }, times: 1 });
      const r = await b2.call("POST", "/api/v1/runners/provision", { token: alice, body: { runner_name: "lost-1", labels: ["team-a"] } });
      expect(r.status).toBe(201);
      const named = w.sim.runners.list().filter((x) => x.name === "lost-1");
      expect(named.map((x) => x.id)).toEqual([r.json.github_runner_id]);
      expect(w.sim.runners.connect(r.json.encoded_jit_config).status).toBe("online");
      const audit = (await b2.call("GET", `/api/v1/admin/audit-log?user=${encodeURIComponent(ALICE)}`, { token: admin })).json.records;
      expect(audit.some((a: any) => a.action === "runner.provision_retry" && a.runner_name === "lost-1")).toBe(true);
    } finally {
      w.sim.clearFaults();
      await b2.stop();
    }
  }, 20_000);

  test("a name GitHub already has outside the broker's knowledge is 409, and that runner is left alone", async () => {
    const foreign = w.sim.runners.seed({ name: "taken-at-github", labels: ["x"], runner_group_id: 1, status: "online" });
    const r = await provision(alice, "taken-at-github");
    expect(r.status).toBe(409);
    expect(w.sim.runners.get(foreign.id)?.name).toBe("taken-at-github");
  });

  test("a GitHub rate limit longer than MAX_RETRY_WAIT: 503 with GitHub's wait as Retry-After", async () => {
    w.sim.inject({ kind: "retry-after", retryAfter: 120, match: { path: "generate-jitconfig" }, times: 5 });
    const r = await provision(alice, "limited-1");
    w.sim.clearFaults();
    expect(r.status).toBe(503);
    expect(r.headers.get("retry-after")).toBe("120");
    const m = await b.call("GET", "/metrics");
    expect(m.text).toMatch(/ghapp_broker_github_rate_limited_total [1-9]/);
  });
});

describe("a broker whose App cannot manage runners", () => {
  test("without the Self-hosted runners permission: 502, and /ready stays 200 (the credentials work)", async () => {
    const installations = defaultInstallations();
    for (const i of installations) delete i.permissions.organization_self_hosted_runners;
    const w2 = await startWorld({ installations });
    // Through POLICY_FILE: the API's own policy write asks GitHub whether the group exists, and is 502 too.
    const policyFile = join(w2.dir, "policies.yaml");
    writeFileSync(policyFile, `- ${JSON.stringify(policy(ALICE))}\n`);
    const b2 = await startBroker(w2.env({ POLICY_FILE: policyFile }));
    try {
      expect((await b2.call("POST", "/api/v1/admin/label-policies", { token: await w2.token(ADMIN), body: policy(ALICE) })).status).toBe(502);
      const r = await b2.call("POST", "/api/v1/runners/provision", { token: await w2.token(ALICE), body: { runner_name: "p-1", labels: ["team-a"] } });
      expect(r.status).toBe(502);
      expect(r.json.detail).toContain("Self-hosted runners: read and write");
      expect((await b2.call("GET", "/ready")).status).toBe(200);
    } finally {
      await b2.stop();
      await w2.close();
    }
  });

  test("GITHUB_APP_INSTALLATION_ID is used as given: the right one works, a wrong one is /ready 503 and 502", async () => {
    const start = w.sim.requests.length;
    const right = await startBroker(w.env({ GITHUB_APP_INSTALLATION_ID: "1001" }));
    const before = w.sim.requests.length;
    const policyFile = join(w.dir, "wrong-installation-policies.yaml");
    writeFileSync(policyFile, `- ${JSON.stringify(policy(ALICE))}\n`);
    const wrong = await startBroker(w.env({ GITHUB_APP_INSTALLATION_ID: "999999", POLICY_FILE: policyFile }));
    try {
      expect((await right.call("GET", "/ready")).status).toBe(200);
      // Given, it is not looked up from the org: the start makes its token, and its account is read once, for the
      // org's id (owner binding); nothing else.
      const paths = w.sim.requests.slice(start, before).map((r) => r.path).filter((p) => !p.startsWith("/oidc"));
      expect(paths).toContain("/app/installations/1001/access_tokens");
      expect(paths.filter((p) => p !== "/app/installations/1001" && p !== "/app/installations/1001/access_tokens")).toEqual([]);
      expect((await wrong.call("GET", "/ready")).status).toBe(503);
      expect(w.sim.requests.slice(before).map((r) => r.path)).toContain("/app/installations/999999/access_tokens");
      expect((await wrong.call("POST", "/api/v1/admin/label-policies", { token: admin, body: policy(ALICE) })).status).toBe(502);
      expect((await wrong.call("POST", "/api/v1/runners/provision", { token: alice, body: { runner_name: "w-1", labels: ["team-a"] } })).status).toBe(502);
    } finally {
      await right.stop();
      await wrong.stop();
    }
  });

  test("with a key GitHub does not know: /ready is 503", async () => {
    const keyFile = join(w.dir, "wrong.pem");
    writeFileSync(keyFile, generateAppKey().privateKeyPem, { mode: 0o600 });
    const b2 = await startBroker(w.env({ GITHUB_APP_PRIVATE_KEY_FILE: keyFile }));
    try {
      const r = await b2.call("GET", "/ready");
      expect(r.status).toBe(503);
      expect(r.json.checks).toEqual({ database: "ok", github: "failing", issuer: "ok" });
      expect((await b2.call("GET", "/health")).status).toBe(200);
    } finally {
      await b2.stop();
    }
  });
});

describe("callers and the issuer", () => {
  test("a caller past CALLER_RATE_LIMIT gets 429 with Retry-After, audited once", async () => {
    const b2 = await startBroker(w.env({ CALLER_RATE_LIMIT: "3" }));
    try {
      const t = await w.token(ALICE);
      const answers = [];
      for (let i = 0; i < 6; i++) answers.push(await b2.call("GET", "/api/v1/runners", { token: t }));
      expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 429, 429, 429]);
      expect(Number(answers[3]!.headers.get("retry-after"))).toBeGreaterThan(0);
      expect(Number(answers[3]!.headers.get("retry-after"))).toBeLessThanOrEqual(60);
      const audit = (await b2.call("GET", `/api/v1/admin/audit-log?user=${encodeURIComponent(ALICE)}`, { token: await w.token(ADMIN) })).json.records;
      expect(audit.filter((a: any) => a.action === "request.denied" && a.details.reason === "rate_limited").length).toBe(1);
    } finally {
      await b2.stop();
    }
  });

  test("a flood of junk tokens becomes a few aggregate rows, not one row per request", async () => {
    const e = w.env({ SYNC_INTERVAL: "1s" });
    const b2 = await startBroker(e);
    try {
      await Promise.all(Array.from({ length: 200 }, (_, i) => b2.call("GET", "/api/v1/runners", { token: i % 2 ? "junk" : undefined })));
      await Bun.sleep(1500);
    } finally {
      await b2.stop();
    }
    const storage = openStorage(e.DATABASE_URL!);
    try {
      const buckets = await storage.listUnauthenticatedFailures();
      expect(buckets.reduce((n, x) => n + x.count, 0)).toBe(200);
      expect(buckets.length).toBeLessThanOrEqual(4);
      expect(new Set(buckets.map((x) => x.reason))).toEqual(new Set(["missing_token", "malformed"]));
      expect((await storage.listAudit({ limit: 1000 })).length).toBe(0);
    } finally {
      await storage.close();
    }
  });

  test("the issuer down before any key was fetched: 503, not 401", async () => {
    w.sim.inject({ kind: "status", status: 503, match: { path: "/oidc" }, times: 1000 });
    const b2 = await startBroker(w.env());
    try {
      const r = await b2.call("GET", "/api/v1/runners", { token: await w.token(ALICE) });
      expect(r.status).toBe(503);
      expect(r.headers.get("retry-after")).toBe("30");
    } finally {
      w.sim.clearFaults();
      await b2.stop();
    }
  });
});
