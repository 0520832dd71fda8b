// The background sync against the compiled broker: status tracking, verification of what appears
// in broker-managed runner groups, clean-up of runners that never connected, and the runners the
// broker must never touch.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { ADMIN, ALICE, BOB, eventually, policy, startBroker, startWorld, type Broker, type World } from "./harness.ts";

let w: World;
let b: Broker;
let admin: string;
let alice: string;
let bob: string;
let preexisting: number;
let outside: number;

beforeAll(async () => {
  w = await startWorld();
  // There before the broker first looks at group 2, with labels no policy allows: never touched.
  preexisting = w.sim.runners.seed({ name: "legacy-1", labels: ["anything-goes"], runner_group_id: 2, status: "online" }).id;
  // In a group no policy names: never touched either.
  outside = w.sim.runners.seed({ name: "default-group-1", labels: ["x"], runner_group_id: 1, status: "online" }).id;
  b = await startBroker(w.env({ SYNC_INTERVAL: "1s", PENDING_RUNNER_TTL: "4s", CALLER_RATE_LIMIT: "1000" }));
  [admin, alice, bob] = await Promise.all([w.token(ADMIN), w.token(ALICE), w.token(BOB)]);
  await b.call("POST", "/api/v1/admin/label-policies", { token: admin, body: policy(ALICE) });
  await b.call("POST", "/api/v1/admin/label-policies", { token: admin, body: policy(BOB, { allow_registration_token: true }) });
});
afterAll(async () => {
  await b?.stop();
  await w?.close();
});

const provision = (token: string, body: Record<string, unknown>) => b.call("POST", "/api/v1/runners/provision", { token, body });
const statusOf = async (token: string, name: string) => (await b.call("GET", `/api/v1/runners/${name}`, { token })).json?.status;
const events = async (type: string) => (await b.call("GET", `/api/v1/admin/security-events?event_type=${type}`, { token: admin })).json.events as any[];

describe("status tracking", () => {
  test("a JIT runner goes pending → active → busy → deleted after its one job", async () => {
    const p = await provision(alice, { runner_name: "track-1", labels: ["team-a"] });
    expect(p.status).toBe(201);
    expect(await statusOf(alice, "track-1")).toBe("pending");
    const { id } = w.sim.runners.connect(p.json.encoded_jit_config);
    await eventually(async () => (await statusOf(alice, "track-1")) === "active", 8000, "active");
    w.sim.runners.startJob(id);
    await eventually(async () => (await statusOf(alice, "track-1")) === "busy", 8000, "busy");
    w.sim.runners.finishJob(id);
    await eventually(async () => (await b.call("GET", "/api/v1/runners?status=deleted", { token: alice })).json.runners.some((r: any) => r.runner_name === "track-1"), 8000, "deleted");
  });

  test("a registration-token runner is linked when it registers, and goes offline and back", async () => {
    const p = await provision(bob, { runner_name: "long-1", labels: ["team-a"], ephemeral: false, mode: "registration_token" });
    const r = w.sim.runners.register(p.json.registration_token, { name: "long-1", labels: ["team-a"], ephemeral: false, runner_group_id: 2 });
    w.sim.runners.setStatus(r.id, "online");
    await eventually(async () => (await b.call("GET", "/api/v1/runners/long-1", { token: bob })).json.github_runner_id === r.id, 8000, "linked");
    await eventually(async () => (await statusOf(bob, "long-1")) === "active", 8000, "active");
    w.sim.runners.setStatus(r.id, "offline");
    await eventually(async () => (await statusOf(bob, "long-1")) === "offline", 8000, "offline");
    w.sim.runners.setStatus(r.id, "online");
    await eventually(async () => (await statusOf(bob, "long-1")) === "active", 8000, "active again");
  });
});

describe("verification", () => {
  test("a second runner registered with a broker-issued registration token is removed, with a security event", async () => {
    const p = await provision(bob, { runner_name: "reg-2", labels: ["team-a"], ephemeral: false, mode: "registration_token" });
    w.sim.runners.register(p.json.registration_token, { name: "reg-2", labels: ["team-a"], runner_group_id: 2 });
    const extra = w.sim.runners.register(p.json.registration_token, { name: "sneaky-2", labels: ["team-a"], runner_group_id: 2 });
    await eventually(() => w.sim.runners.get(extra.id) === undefined, 8000, "sneaky runner removed");
    const ev = (await events("unprovisioned_runner")).find((e) => e.runner_name === "sneaky-2");
    expect(ev).toMatchObject({ severity: "high", action_taken: "runner_removed", github_runner_id: extra.id });
    expect(w.sim.runners.list().some((r) => r.name === "reg-2")).toBe(true);
  });

  test("a runner registered with labels its policy does not allow is removed, with a security event", async () => {
    const p = await provision(bob, { runner_name: "reg-3", labels: ["team-a"], ephemeral: false, mode: "registration_token" });
    const r = w.sim.runners.register(p.json.registration_token, { name: "reg-3", labels: ["team-a", "prod-deploy"], runner_group_id: 2 });
    await eventually(() => w.sim.runners.get(r.id) === undefined, 8000, "mislabelled runner removed");
    const ev = (await events("label_not_allowed")).find((e) => e.runner_name === "reg-3");
    expect(ev).toMatchObject({ user_identity: BOB, action_taken: "runner_removed" });
    expect(ev.details.refused_labels).toEqual(["prod-deploy"]);
    expect((await b.call("GET", "/api/v1/runners/reg-3", { token: bob })).status).toBe(404);
  });

  test("a runner nobody provisioned that appears in a broker group is removed", async () => {
    const r = w.sim.runners.seed({ name: "intruder-1", labels: ["team-a"], runner_group_id: 2, status: "online" });
    await eventually(() => w.sim.runners.get(r.id) === undefined, 8000, "intruder removed");
    expect((await events("unprovisioned_runner")).some((e) => e.runner_name === "intruder-1")).toBe(true);
  });

  test("runners that were there first, and runners in other groups, are never touched", async () => {
    await Bun.sleep(2500);
    expect(w.sim.runners.get(preexisting)?.name).toBe("legacy-1");
    expect(w.sim.runners.get(outside)?.name).toBe("default-group-1");
    const all = (await b.call("GET", "/api/v1/admin/security-events?limit=1000", { token: admin })).json.events;
    expect(all.some((e: any) => e.runner_name === "legacy-1" || e.runner_name === "default-group-1")).toBe(false);
  });
});

describe("policy changes", () => {
  test("a runner whose policy was deleted stays as it is", async () => {
    const carol = "repo:acme-org/carol:ref:refs/heads/main";
    await b.call("POST", "/api/v1/admin/label-policies", { token: admin, body: policy(carol) });
    const t = await w.token(carol);
    const p = await provision(t, { runner_name: "orphaned-policy-1", labels: ["team-a"] });
    w.sim.runners.connect(p.json.encoded_jit_config);
    expect((await b.call("DELETE", `/api/v1/admin/label-policies/${encodeURIComponent(carol)}`, { token: admin })).status).toBe(204);
    await eventually(async () => (await statusOf(t, "orphaned-policy-1")) === "active", 8000, "still tracked");
    await Bun.sleep(2500);
    expect(w.sim.runners.get(p.json.github_runner_id)?.status).toBe("online");
  });
});

describe("clean-up", () => {
  test("a runner that never connects within PENDING_RUNNER_TTL is removed at GitHub", async () => {
    const p = await provision(alice, { runner_name: "never-1", labels: ["team-a"] });
    expect(w.sim.runners.get(p.json.github_runner_id)).toBeDefined();
    await eventually(() => w.sim.runners.get(p.json.github_runner_id) === undefined, 10_000, "pending runner removed");
    await eventually(async () => (await b.call("GET", "/api/v1/runners?status=deleted", { token: alice })).json.runners.some((r: any) => r.runner_name === "never-1"), 5000, "marked deleted");
    const audit = (await b.call("GET", "/api/v1/admin/audit-log?user=system&limit=1000", { token: admin })).json.records;
    expect(audit.some((a: any) => a.action === "cleanup.pending_expired" && a.runner_name === "never-1")).toBe(true);
  });
});
