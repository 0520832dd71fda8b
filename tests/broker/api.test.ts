// Every row of the broker's API table, against the compiled broker and the simulator: what a
// caller and an administrator see, and what reaches GitHub.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { ADMIN, ALICE, BOB, policy, startBroker, startWorld, type Broker, type World } from "./harness.ts";

let w: World;
let b: Broker;
let admin: string;
let alice: string;
let bob: string;

beforeAll(async () => {
  w = await startWorld();
  b = await startBroker(w.env({ CALLER_RATE_LIMIT: "1000" }));
  [admin, alice, bob] = await Promise.all([w.token(ADMIN), w.token(ALICE), w.token(BOB)]);
  for (const user of [ALICE, BOB]) expect((await b.call("POST", "/api/v1/admin/label-policies", { token: admin, body: policy(user, { allow_registration_token: user === BOB }) })).status).toBe(201);
});
afterAll(async () => {
  await b?.stop();
  await w?.close();
});

const provision = (token: string, body: Record<string, unknown>) => b.call("POST", "/api/v1/runners/provision", { token, body });
const isProblem = (r: { headers: Headers; json: any }, status: number) => {
  expect(r.headers.get("content-type")).toStartWith("application/problem+json");
  expect(r.json.status).toBe(status);
  expect(typeof r.json.type).toBe("string");
  expect(typeof r.json.title).toBe("string");
  expect(typeof r.json.detail).toBe("string");
};

describe("operations", () => {
  test("GET /health answers ok to anyone", async () => {
    const r = await b.call("GET", "/health");
    expect([r.status, r.json]).toEqual([200, { status: "ok" }]);
  });
  test("GET /ready answers 200 when the database and the App's credentials work", async () => {
    const r = await b.call("GET", "/ready");
    expect(r.status).toBe(200);
    expect(r.json.checks).toEqual({ database: "ok", github: "ok", issuer: "ok" });
  });
  test("GET /metrics serves Prometheus text with the broker's metrics", async () => {
    const r = await b.call("GET", "/metrics");
    expect(r.status).toBe(200);
    expect(r.text).toContain("# TYPE ghapp_broker_provisions_total counter");
    expect(r.text).toContain("ghapp_broker_http_request_duration_seconds");
  });
  test("GET /openapi.json is an OpenAPI 3.1 document of every API route", async () => {
    const r = await b.call("GET", "/openapi.json");
    expect(r.json.openapi).toBe("3.1.0");
    const paths = Object.keys(r.json.paths);
    for (const p of ["/api/v1/runners/provision", "/api/v1/runners", "/api/v1/runners/{name}", "/api/v1/runners/{name}/refresh", "/api/v1/admin/label-policies", "/api/v1/admin/label-policies/{user}", "/api/v1/admin/security-events", "/api/v1/admin/audit-log", "/health", "/ready", "/metrics"]) {
      expect(paths).toContain(p);
    }
    expect(r.json.components.schemas.ProvisionRequest.required).toEqual(["labels"]);
    expect(Object.keys(r.json.components.schemas.ProvisionRequest.properties)).toContain("runner_name_prefix");
  });
  test("GET /docs is an HTML page that loads nothing from elsewhere", async () => {
    const r = await b.call("GET", "/docs");
    expect(r.status).toBe(200);
    expect(r.headers.get("content-type")).toStartWith("text/html");
    expect(r.headers.get("content-security-policy")).toBe("default-src 'none'; style-src 'unsafe-inline'");
    expect(r.text).toContain("/api/v1/runners/provision");
    expect(r.text).not.toMatch(/<script|<link|src="http/);
  });
});

describe("authentication", () => {
  test("no token: 401 with WWW-Authenticate, as problem+json", async () => {
    const r = await b.call("GET", "/api/v1/runners");
    isProblem(r, 401);
    expect(r.headers.get("www-authenticate")).toBe('Bearer error="invalid_token"');
  });
  test("a token for another audience: 401", async () => {
    const r = await b.call("GET", "/api/v1/runners", { token: await w.token(ALICE, { aud: "other" }) });
    isProblem(r, 401);
    expect(r.json.reason).toBe("wrong_audience");
  });
  test("an admin route for a non-admin: 403 and a security event", async () => {
    isProblem(await b.call("GET", "/api/v1/admin/label-policies", { token: alice }), 403);
    const ev = await b.call("GET", `/api/v1/admin/security-events?event_type=admin_forbidden&user=${encodeURIComponent(ALICE)}`, { token: admin });
    expect(ev.json.events.length).toBeGreaterThan(0);
    expect(ev.json.events[0].action_taken).toBe("request_refused");
  });
  test("unauthenticated failures are counted in metrics, not audited one by one", async () => {
    for (let i = 0; i < 5; i++) await b.call("GET", "/api/v1/runners", { token: "a.b.c" });
    const m = await b.call("GET", "/metrics");
    expect(Number(/ghapp_broker_auth_failures_total\{reason="(?:malformed|bad_signature)"\} (\d+)/.exec(m.text)?.[1] ?? 0)).toBeGreaterThanOrEqual(5);
    const audit = await b.call("GET", "/api/v1/admin/audit-log?limit=1000", { token: admin });
    expect(audit.json.records.filter((a: any) => a.actor === "" || a.details?.reason === "malformed").length).toBe(0);
  });
});

describe("runners", () => {
  test("POST provision (JIT) answers 201 with a single-use config GitHub accepts", async () => {
    const r = await provision(alice, { runner_name: "alice-1", labels: ["team-a"] });
    expect(r.status).toBe(201);
    expect(r.headers.get("cache-control")).toBe("no-store");
    expect(r.json).toMatchObject({ runner_name: "alice-1", ephemeral: true, mode: "jit", status: "pending", runner_url: "https://github.com/acme-org", provisioned_by: ALICE });
    // Exactly the labels asked for: GitHub adds none to a JIT runner, and neither does the broker.
    expect(r.json.labels).toEqual(["team-a"]);
    expect(typeof r.json.encoded_jit_config).toBe("string");
    expect(r.json.registration_token).toBeUndefined();
    const gh = w.sim.runners.get(r.json.github_runner_id)!;
    expect(gh).toMatchObject({ name: "alice-1", runner_group_id: 2, ephemeral: true });
    // The runner connects with it, once.
    expect(w.sim.runners.connect(r.json.encoded_jit_config).status).toBe("online");
    expect(() => w.sim.runners.connect(r.json.encoded_jit_config)).toThrow();
  });

  test("GET /api/v1/runners lists the caller's runners only, filtered by status", async () => {
    expect((await provision(bob, { runner_name: "bob-1", labels: ["team-a"] })).status).toBe(201);
    const mine = await b.call("GET", "/api/v1/runners", { token: alice });
    expect(mine.json.runners.map((r: any) => r.runner_name)).toEqual(["alice-1"]);
    const theirs = await b.call("GET", "/api/v1/runners", { token: bob });
    expect(theirs.json.runners.map((r: any) => r.runner_name)).toEqual(["bob-1"]);
    expect((await b.call("GET", "/api/v1/runners?status=deleted", { token: alice })).json.runners).toEqual([]);
    isProblem(await b.call("GET", "/api/v1/runners?status=weird", { token: alice }), 422);
  });

  test("GET /api/v1/runners/{name}: someone else's runner is 404 exactly like a missing one", async () => {
    const own = await b.call("GET", "/api/v1/runners/alice-1", { token: alice });
    expect(own.json.runner_name).toBe("alice-1");
    const other = await b.call("GET", "/api/v1/runners/bob-1", { token: alice });
    const missing = await b.call("GET", "/api/v1/runners/nobody-1", { token: alice });
    isProblem(other, 404);
    expect(other.json.title).toBe(missing.json.title);
    expect(other.json.detail.replace("bob-1", "X")).toBe(missing.json.detail.replace("nobody-1", "X"));
    // Nor can it be refreshed or removed.
    expect((await b.call("POST", "/api/v1/runners/bob-1/refresh", { token: alice })).status).toBe(404);
    expect((await b.call("DELETE", "/api/v1/runners/bob-1", { token: alice })).status).toBe(404);
    expect(w.sim.runners.list().some((r) => r.name === "bob-1")).toBe(true);
    // The attempts are recorded for the administrators, never shown to the caller.
    // One security event per identity, type and minute, counted; the audit log has each attempt.
    const ev = await b.call("GET", `/api/v1/admin/security-events?event_type=foreign_runner_access&user=${encodeURIComponent(ALICE)}`, { token: admin });
    expect(ev.json.events.reduce((n: number, e: any) => n + e.count, 0)).toBe(3);
    expect(ev.json.events.every((e: any) => e.runner_name === "bob-1")).toBe(true);
    const audit = await b.call("GET", `/api/v1/admin/audit-log?user=${encodeURIComponent(ALICE)}`, { token: admin });
    const denied = audit.json.records.filter((a: any) => a.runner_name === "bob-1" && a.result === "denied");
    expect(denied.map((a: any) => a.action).sort()).toEqual(["runner.deprovision", "runner.get", "runner.refresh"]);
  });

  test("POST refresh re-reads the runner from GitHub", async () => {
    const r = await b.call("POST", "/api/v1/runners/alice-1/refresh", { token: alice });
    expect(r.status).toBe(200);
    expect(r.json.status).toBe("active");
    const id = r.json.github_runner_id;
    w.sim.runners.startJob(id);
    expect((await b.call("POST", "/api/v1/runners/alice-1/refresh", { token: alice })).json).toMatchObject({ status: "busy", busy: true });
  });

  test("DELETE a busy runner is 409, and it stays at GitHub", async () => {
    isProblem(await b.call("DELETE", "/api/v1/runners/alice-1", { token: alice }), 409);
    const id = (await b.call("GET", "/api/v1/runners/alice-1", { token: alice })).json.github_runner_id;
    expect(w.sim.runners.get(id)?.busy).toBe(true);
  });

  test("DELETE an idle runner removes it at GitHub and marks it deleted (204)", async () => {
    const p = await provision(alice, { runner_name: "alice-2", labels: ["team-a"] });
    w.sim.runners.connect(p.json.encoded_jit_config);
    const r = await b.call("DELETE", "/api/v1/runners/alice-2", { token: alice });
    expect(r.status).toBe(204);
    expect(w.sim.runners.get(p.json.github_runner_id)).toBeUndefined();
    expect((await b.call("GET", "/api/v1/runners/alice-2", { token: alice })).status).toBe(404);
    expect((await b.call("GET", "/api/v1/runners?status=deleted", { token: alice })).json.runners[0].runner_name).toBe("alice-2");
  });

  test("POST provision with the registration-token mode, where the policy allows it", async () => {
    const r = await provision(bob, { runner_name: "bob-long", labels: ["team-a"], ephemeral: false, mode: "registration_token" });
    expect(r.status).toBe(201);
    expect(r.json).toMatchObject({ mode: "registration_token", ephemeral: false, status: "pending", runner_url: "https://github.com/acme-org" });
    expect(Date.parse(r.json.expires_at)).toBeGreaterThan(Date.now() + 50 * 60_000);
    expect(r.json.encoded_jit_config).toBeUndefined();
    const runner = w.sim.runners.register(r.json.registration_token, { name: "bob-long", labels: ["team-a"], ephemeral: false, runner_group_id: 2 });
    expect(runner.name).toBe("bob-long");
  });
});

describe("refusals", () => {
  test("a label outside the policy: 403 naming it, and a security event", async () => {
    const r = await provision(alice, { runner_name: "alice-x", labels: ["team-a", "prod-deploy"] });
    isProblem(r, 403);
    expect(r.json.refused_labels).toEqual(["prod-deploy"]);
    const ev = await b.call("GET", `/api/v1/admin/security-events?event_type=label_not_allowed`, { token: admin });
    expect(ev.json.events[0]).toMatchObject({ user_identity: ALICE, runner_name: "alice-x", action_taken: "request_refused" });
    expect(w.sim.runners.list().some((x) => x.name === "alice-x")).toBe(false);
  });
  test("registration tokens are refused unless the policy allows them", async () => {
    isProblem(await provision(alice, { runner_name: "alice-r", labels: ["team-a"], mode: "registration_token", ephemeral: false }), 403);
  });
  test("a JIT runner that is not ephemeral is an invalid request", async () => {
    const r = await provision(alice, { runner_name: "alice-p", labels: ["team-a"], ephemeral: false });
    isProblem(r, 422);
    expect(r.json.field).toBe("ephemeral");
  });
  test("an invalid body is 422 naming the field", async () => {
    for (const [body, field] of [
      [{ runner_name: "-bad", labels: ["team-a"] }, "runner_name"],
      [{ runner_name: "x".repeat(65), labels: ["team-a"] }, "runner_name"],
      [{ runner_name: "ok", labels: [] }, "labels"],
      [{ runner_name: "ok", labels: ["has space"] }, "labels.0"],
      [{ runner_name: "ok", labels: ["team-a"], mode: "pat" }, "mode"],
    ] as const) {
      const r = await provision(alice, body);
      isProblem(r, 422);
      expect(r.json.field).toBe(field);
    }
    isProblem(await provision(alice, "{not json" as unknown as Record<string, unknown>), 422);
  });
  test("a body over 64 KiB is 413", async () => {
    const r = await provision(alice, { runner_name: "big", labels: ["team-a"], pad: "x".repeat(70 * 1024) });
    isProblem(r, 413);
  });
  test("a name that is taken is 409", async () => {
    isProblem(await provision(alice, { runner_name: "bob-1", labels: ["team-a"] }), 409);
  });
  test("an identity with no policy and no default policy is refused", async () => {
    const r = await provision(await w.token("repo:acme-org/other:ref:refs/heads/main"), { runner_name: "stranger-1", labels: ["team-a"] });
    isProblem(r, 403);
    expect(r.json.detail).toContain("no label policy");
  });
  test("max_runners is a quota: 403 and a security event", async () => {
    const carol = "repo:acme-org/carol:ref:refs/heads/main";
    await b.call("POST", "/api/v1/admin/label-policies", { token: admin, body: policy(carol, { max_runners: 1 }) });
    const t = await w.token(carol);
    expect((await provision(t, { runner_name: "carol-1", labels: ["team-a"] })).status).toBe(201);
    const r = await provision(t, { runner_name: "carol-2", labels: ["team-a"] });
    isProblem(r, 403);
    expect(r.json.title).toBe("Runner quota exceeded");
    expect((await b.call("GET", `/api/v1/admin/security-events?event_type=quota_exceeded&user=${encodeURIComponent(carol)}`, { token: admin })).json.events.length).toBe(1);
  });
});

describe("admin", () => {
  test("label policies: create (201), replace (200), list, get, delete (204), then 404", async () => {
    const dave = "repo:acme-org/dave:ref:refs/heads/main";
    expect((await b.call("POST", "/api/v1/admin/label-policies", { token: admin, body: policy(dave) })).status).toBe(201);
    const replaced = await b.call("POST", "/api/v1/admin/label-policies", { token: admin, body: policy(dave, { max_runners: 9 }) });
    expect([replaced.status, replaced.json.max_runners]).toEqual([200, 9]);
    expect((await b.call("GET", "/api/v1/admin/label-policies", { token: admin })).json.policies.map((p: any) => p.user_identity)).toContain(dave);
    const path = `/api/v1/admin/label-policies/${encodeURIComponent(dave)}`;
    expect((await b.call("GET", path, { token: admin })).json.max_runners).toBe(9);
    expect((await b.call("DELETE", path, { token: admin })).status).toBe(204);
    isProblem(await b.call("GET", path, { token: admin }), 404);
    isProblem(await b.call("DELETE", path, { token: admin }), 404);
  });
  test("an invalid policy is 422 naming the field", async () => {
    const r = await b.call("POST", "/api/v1/admin/label-policies", { token: admin, body: policy("x", { label_patterns: ["team-x)|(?:.*"] }) });
    isProblem(r, 422);
    expect(r.json.field).toBe("label_patterns[0]");
  });
  test("the audit log has every operation, filtered by user and since", async () => {
    const all = await b.call("GET", `/api/v1/admin/audit-log?user=${encodeURIComponent(ALICE)}&limit=1000`, { token: admin });
    const actions = all.json.records.map((a: any) => `${a.action}:${a.result}`);
    for (const a of ["runner.provision:success", "runner.provision:denied", "runner.refresh:success", "runner.deprovision:success", "runner.deprovision:denied", "request.denied:denied"]) expect(actions).toContain(a);
    expect(all.json.records.every((a: any) => a.actor === ALICE)).toBe(true);
    expect(all.json.records.some((a: any) => a.action === "request.denied" && a.details.reason === "invalid_request")).toBe(true);
    const provisioned = all.json.records.find((a: any) => a.action === "runner.provision" && a.result === "success");
    expect(provisioned.details.secret_sha256).toMatch(/^[0-9a-f]{64}$/);
    const future = await b.call("GET", `/api/v1/admin/audit-log?since=${new Date(Date.now() + 60_000).toISOString()}`, { token: admin });
    expect(future.json.records).toEqual([]);
    expect((await b.call("GET", "/api/v1/admin/audit-log?limit=2", { token: admin })).json.records.length).toBe(2);
    isProblem(await b.call("GET", "/api/v1/admin/audit-log?since=yesterday", { token: admin }), 422);
  });
});
