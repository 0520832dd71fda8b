// Callers get only what a policy gives them: attacks on the compiled broker, reproduced against the
// simulator. A caller naming a record after someone else's runner, a stranger's repository on
// github.com, a job asking for OS labels, a pattern that backtracks or escapes its anchors, a name
// that is taken: each answer is checked where a user would notice it (HTTP, GitHub's runners, the
// security events).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { ADMIN, BOB, policy, startBroker, startWorld, type Broker, type World } from "./harness.ts";

const MALLORY = "repo:acme-org/mallory:ref:refs/heads/main";
const CAROL = "repo:acme-org/carol:ref:refs/heads/main";
const DAVE = "repo:acme-org/dave:ref:refs/heads/main";
const STRANGER = "repo:evil-corp/app:ref:refs/heads/main";
const PARTNER = "repo:Partner-Org/tools:ref:refs/heads/main";

let w: World;
let b: Broker;
let admin: string;
let bob: string;
let mallory: string;
let legacy: number;
let outside: number;

beforeAll(async () => {
  w = await startWorld();
  // Runners the broker never made: one in its group before it first looked (the baseline), one in the Default group.
  legacy = w.sim.runners.seed({ name: "legacy-1", labels: ["team-a"], runner_group_id: 2, status: "online" }).id;
  outside = w.sim.runners.seed({ name: "default-1", labels: ["team-a"], runner_group_id: 1, status: "online" }).id;
  b = await startBroker(w.env({ CALLER_RATE_LIMIT: "1000" }));
  [admin, bob, mallory] = await Promise.all([w.token(ADMIN), w.token(BOB), w.token(MALLORY)]);
  const put = async (body: Record<string, unknown>) => expect((await b.call("POST", "/api/v1/admin/label-policies", { token: admin, body })).status).toBe(201);
  // The documented set-up: a default policy for everyone, and the identities' own.
  await put(policy("*"));
  await put(policy(BOB));
  await put(policy(MALLORY, { allow_registration_token: true }));
  await put(policy(CAROL, { allowed_labels: ["team-a"] }));
  await put(policy(DAVE, { allowed_labels: [], label_patterns: ["((a)+)+b", "(a|a)*b", ".*.*.*.*.*.*.*x"] }));
});
afterAll(async () => {
  await b?.stop();
  await w?.close();
});

const provision = (token: string, body: Record<string, unknown>) => b.call("POST", "/api/v1/runners/provision", { token, body });
const atGitHub = (name: string) => w.sim.runners.list().filter((r) => r.name.toLowerCase() === name.toLowerCase());
const events = async (type: string, user: string) => (await b.call("GET", `/api/v1/admin/security-events?event_type=${type}&user=${encodeURIComponent(user)}&limit=1000`, { token: admin })).json.events as any[];

describe("a runner is only ever linked to the record that created it", () => {
  test("refresh and DELETE of a record named after a runner outside the broker's groups neither show nor remove that runner", async () => {
    // Mallory holds a registration-token record; later someone registers a runner of that name by hand in the Default group.
    expect((await provision(mallory, { runner_name: "later-1", labels: ["team-a"], mode: "registration_token", ephemeral: false })).status).toBe(201);
    const victim = w.sim.runners.seed({ name: "later-1", labels: ["secret-team"], runner_group_id: 1, status: "online" });
    const refreshed = await b.call("POST", "/api/v1/runners/later-1/refresh", { token: mallory });
    expect(refreshed.status).toBe(200);
    expect(refreshed.json).toMatchObject({ github_runner_id: null, labels: ["team-a"], status: "pending" });
    expect((await b.call("DELETE", "/api/v1/runners/later-1", { token: mallory })).status).toBe(204);
    expect(w.sim.runners.get(victim.id)).toMatchObject({ name: "later-1", status: "online" });
  });

  test("a record cannot be made under the name of a runner that was there before the broker, and that runner is never touched", async () => {
    const r = await provision(mallory, { runner_name: "legacy-1", labels: ["team-a"], mode: "registration_token", ephemeral: false });
    expect([r.status, r.json.title]).toEqual([409, "Runner name not available"]);
    expect((await b.call("POST", "/api/v1/runners/legacy-1/refresh", { token: mallory })).status).toBe(404);
    expect((await b.call("DELETE", "/api/v1/runners/legacy-1", { token: mallory })).status).toBe(404);
    expect(w.sim.runners.get(legacy)).toMatchObject({ name: "legacy-1", status: "online" });
    expect(w.sim.runners.get(outside)).toMatchObject({ name: "default-1", status: "online" });
  });
});

describe("tokens from other organisations are refused by default", () => {
  test("a stranger's repository gets nothing from the default policy: 403 naming the claim, and no runner", async () => {
    const r = await provision(await w.token(STRANGER), { runner_name: "evil-1", labels: ["team-a"] });
    expect([r.status, r.json.title, r.json.claim]).toEqual([403, "Forbidden", "repository_owner"]);
    expect(r.headers.get("content-type")).toStartWith("application/problem+json");
    expect(atGitHub("evil-1")).toEqual([]);
  });

  test("a policy written for the stranger's exact identity does not admit it either", async () => {
    expect((await b.call("POST", "/api/v1/admin/label-policies", { token: admin, body: policy(STRANGER) })).status).toBe(201);
    const r = await provision(await w.token(STRANGER), { runner_name: "evil-2", labels: ["team-a"] });
    expect([r.status, r.json.claim]).toEqual([403, "repository_owner"]);
    expect(atGitHub("evil-2")).toEqual([]);
  });

  test("the organisation's own repositories are recognised whatever the case of the owner's login", async () => {
    const t = await w.token("repo:ACME-Org/api:ref:refs/heads/feature");
    expect((await provision(t, { runner_name: "own-case-1", labels: ["team-a"] })).status).toBe(201);
  });

  test("from GitHub's issuer, a token without repository_owner is refused", async () => {
    const t = await w.token("repo:acme-org/api:ref:refs/heads/other", { claims: { repository_owner: null } });
    const r = await b.call("GET", "/api/v1/runners", { token: t });
    expect([r.status, r.json.claim]).toEqual([403, "repository_owner"]);
  });

  test("once the broker knows the organisation's id, a token whose repository_owner_id differs is refused", async () => {
    // /ready mints an installation token; the installation's account gives the org's id.
    expect((await b.call("GET", "/ready")).status).toBe(200);
    const t = await w.token("repo:acme-org/api:ref:refs/heads/renamed", { claims: { repository_owner_id: "999999" } });
    const r = await b.call("GET", "/api/v1/runners", { token: t });
    expect([r.status, r.json.claim]).toEqual([403, "repository_owner_id"]);
    expect((await b.call("GET", "/api/v1/runners", { token: await w.token("repo:acme-org/api:ref:refs/heads/renamed") })).status).toBe(200);
  });

  test("refusals are security events naming the claim, never the token, one per identity and minute", async () => {
    const sub = "repo:evil-corp/flood:ref:refs/heads/main";
    const tokens = await Promise.all([1, 2, 3].map(() => w.token(sub)));
    for (const t of tokens) expect((await b.call("GET", "/api/v1/runners", { token: t })).status).toBe(403);
    const ev = await events("repository_owner_refused", sub);
    expect(ev).toHaveLength(1);
    expect(ev[0]).toMatchObject({ severity: "medium", action_taken: "request_refused", details: { claim: "repository_owner", reason: "not_allowed", value: "evil-corp" } });
    const all = JSON.stringify((await b.call("GET", "/api/v1/admin/security-events?limit=1000", { token: admin })).json);
    for (const t of tokens) expect(all).not.toContain(t.split(".")[2]!);
    const m = await b.call("GET", "/metrics");
    expect(Number(/ghapp_broker_auth_failures_total\{reason="owner_not_allowed"\} (\d+)/.exec(m.text)?.[1])).toBeGreaterThanOrEqual(3);
  });

  test("ALLOWED_REPOSITORY_OWNERS admits the owners it lists, case-insensitively, and no one else", async () => {
    const other = await startBroker(w.env({ ALLOWED_REPOSITORY_OWNERS: "partner-org" }));
    try {
      const adminToken = await w.token(ADMIN);
      expect((await other.call("POST", "/api/v1/admin/label-policies", { token: adminToken, body: policy("*") })).status).toBe(201);
      expect((await other.call("POST", "/api/v1/runners/provision", { token: await w.token(PARTNER), body: { runner_name: "partner-1", labels: ["team-a"] } })).status).toBe(201);
      expect((await other.call("POST", "/api/v1/runners/provision", { token: await w.token(STRANGER), body: { runner_name: "evil-3", labels: ["team-a"] } })).status).toBe(403);
    } finally {
      await other.stop();
    }
  });
});

describe("JIT runners get exactly the labels asked for", () => {
  test("a runner for runs-on: [self-hosted, linux] is registered at GitHub with those labels, in the caller's spelling", async () => {
    const r = await provision(bob, { runner_name: "exact-1", labels: ["self-hosted", "Linux", "team-a"] });
    expect(r.status).toBe(201);
    expect(r.json.labels).toEqual(["self-hosted", "Linux", "team-a"]);
    expect(w.sim.runners.get(r.json.github_runner_id)!.labels.map((l) => l.name)).toEqual(["self-hosted", "Linux", "team-a"]);
  });
});

describe("only self-hosted is implicit", () => {
  test("an OS or architecture label the policy does not allow is refused like any other label", async () => {
    const carol = await w.token(CAROL);
    const refused = await provision(carol, { runner_name: "carol-os", labels: ["team-a", "linux", "X64"] });
    expect([refused.status, refused.json.refused_labels]).toEqual([403, ["linux", "X64"]]);
    expect(atGitHub("carol-os")).toEqual([]);
    expect((await provision(carol, { runner_name: "carol-sh", labels: ["self-hosted", "team-a"] })).status).toBe(201);
  });
});

describe("label patterns", () => {
  test("a 100-label provision under patterns that backtrack catastrophically answers in milliseconds", async () => {
    const labels = Array.from({ length: 100 }, (_, i) => `${"a".repeat(90)}${i}c`);
    const started = Date.now();
    const res = await fetch(`${b.url}/api/v1/runners/provision`, {
      method: "POST",
      headers: { authorization: `Bearer ${await w.token(DAVE)}`, "content-type": "application/json" },
      body: JSON.stringify({ runner_name: "redos-1", labels }),
      signal: AbortSignal.timeout(5000),
    });
    expect(res.status).toBe(403);
    expect(Date.now() - started).toBeLessThan(2000);
    // The event loop is free: the broker answers the next request at once.
    expect((await b.call("GET", "/health")).status).toBe(200);
  });

  test("a pattern that closes its own group to escape the anchors is refused at write, naming the field", async () => {
    const r = await b.call("POST", "/api/v1/admin/label-policies", { token: admin, body: policy(CAROL, { label_patterns: ["team-x)|(?:.*"] }) });
    expect([r.status, r.json.field]).toEqual([422, "label_patterns[0]"]);
    expect((await provision(await w.token(CAROL), { runner_name: "carol-any", labels: ["prod-deploy"] })).status).toBe(403);
  });
});

describe("runner names", () => {
  test("a name another identity holds and a name held only at GitHub get one answer that names no one", async () => {
    expect((await provision(bob, { runner_name: "bob-held", labels: ["team-a"] })).status).toBe(201);
    const held = await provision(mallory, { runner_name: "bob-held", labels: ["team-a"] });
    const atGh = await provision(mallory, { runner_name: "default-1", labels: ["team-a"] });
    for (const r of [held, atGh]) {
      expect([r.status, r.json.title]).toEqual([409, "Runner name not available"]);
      expect(r.text).not.toContain(BOB);
      expect(r.text).not.toContain("acme-org/web");
    }
    expect(held.json.detail.replace("bob-held", "X")).toBe(atGh.json.detail.replace("default-1", "X"));
    expect(atGitHub("default-1").map((r) => r.id)).toEqual([outside]);
  });

  test("names compare as GitHub compares them: a name differing only in case is not available", async () => {
    expect((await provision(bob, { runner_name: "case-1", labels: ["team-a"] })).status).toBe(201);
    const r = await provision(mallory, { runner_name: "CASE-1", labels: ["team-a"], mode: "registration_token", ephemeral: false });
    expect([r.status, r.json.title]).toEqual([409, "Runner name not available"]);
  });

  test("runner_name_prefix: the broker appends a random suffix, so callers never guess free names", async () => {
    const first = await provision(bob, { runner_name_prefix: "ci-", labels: ["team-a"] });
    const second = await provision(bob, { runner_name_prefix: "ci", labels: ["team-a"] });
    expect([first.status, second.status]).toEqual([201, 201]);
    expect(first.json.runner_name).toMatch(/^ci-[a-z0-9]{8}$/);
    expect(second.json.runner_name).toMatch(/^ci-[a-z0-9]{8}$/);
    expect(first.json.runner_name).not.toBe(second.json.runner_name);
    for (const r of [first, second]) expect(w.sim.runners.get(r.json.github_runner_id)!.name).toBe(r.json.runner_name);
    expect((await b.call("GET", `/api/v1/runners/${first.json.runner_name}`, { token: bob })).status).toBe(200);
  });

  test("runner_name and runner_name_prefix together, or neither, is 422 naming runner_name", async () => {
    for (const body of [{ runner_name: "both-1", runner_name_prefix: "ci-", labels: ["team-a"] }, { labels: ["team-a"] }]) {
      const r = await provision(bob, body);
      expect([r.status, r.json.field]).toEqual([422, "runner_name"]);
    }
    const long = await provision(bob, { runner_name_prefix: "p".repeat(56), labels: ["team-a"] });
    expect([long.status, long.json.field]).toEqual([422, "runner_name_prefix"]);
  });
});
