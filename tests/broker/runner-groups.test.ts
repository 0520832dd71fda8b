// The runner group of a policy, as an operator meets it: a group GitHub does not have is refused when
// the policy is written (422 at the API, exit 2 for POLICY_FILE and DEFAULT_RUNNER_GROUP_ID), a policy
// never lands in the org's Default group by accident, and a group deleted at GitHub later breaks the
// sync of that group only, said once in the log, in /ready and in a metric.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { ADMIN, ALICE, BOB, eventually, logLines, policy, runBroker, startBroker, startWorld, type World } from "./harness.ts";

let w: World;
let admin: string;
let alice: string;

beforeAll(async () => {
  w = await startWorld({ runnerGroups: [{ id: 1, name: "Default" }, { id: 2, name: "brokered" }, { id: 3, name: "partners" }] });
  [admin, alice] = await Promise.all([w.token(ADMIN), w.token(ALICE)]);
});
afterAll(() => w?.close());

const lastError = (stderr: string) => String(logLines(stderr).at(-1)?.message ?? "");

describe("writing a policy", () => {
  test("a runner group GitHub does not have is 422 naming runner_group_id, and nothing is stored", async () => {
    const b = await startBroker(w.env());
    try {
      const r = await b.call("POST", "/api/v1/admin/label-policies", { token: admin, body: policy(ALICE, { runner_group_id: 77 }) });
      expect(r.status).toBe(422);
      expect(r.headers.get("content-type")).toStartWith("application/problem+json");
      expect(r.json.field).toBe("runner_group_id");
      expect(r.json.detail).toContain("GitHub has no runner group 77");
      expect((await b.call("GET", `/api/v1/admin/label-policies/${encodeURIComponent(ALICE)}`, { token: admin })).status).toBe(404);
      expect(w.sim.requests.some((q) => q.path === "/orgs/acme-org/actions/runner-groups/77")).toBe(true);
    } finally {
      await b.stop();
    }
  });

  test("without runner_group_id and without DEFAULT_RUNNER_GROUP_ID: 422 naming runner_group_id, never the Default group", async () => {
    const b = await startBroker(w.env());
    try {
      const { runner_group_id: _, ...body } = policy(ALICE);
      const r = await b.call("POST", "/api/v1/admin/label-policies", { token: admin, body });
      expect(r.status).toBe(422);
      expect(r.json.field).toBe("runner_group_id");
      expect(r.json.detail).toContain("DEFAULT_RUNNER_GROUP_ID");
      expect((await b.call("GET", "/api/v1/admin/label-policies", { token: admin })).json.policies).toEqual([]);
    } finally {
      await b.stop();
    }
  });

  test("with DEFAULT_RUNNER_GROUP_ID, a policy without runner_group_id takes that group, and so do its runners", async () => {
    const b = await startBroker(w.env({ DEFAULT_RUNNER_GROUP_ID: "3" }));
    try {
      const { runner_group_id: _, ...body } = policy(ALICE);
      const r = await b.call("POST", "/api/v1/admin/label-policies", { token: admin, body });
      expect([r.status, r.json.runner_group_id]).toEqual([201, 3]);
      const p = await b.call("POST", "/api/v1/runners/provision", { token: alice, body: { runner_name: "default-group-1", labels: ["team-a"] } });
      expect(p.status).toBe(201);
      expect(w.sim.runners.get(p.json.github_runner_id)?.runner_group_id).toBe(3);
    } finally {
      await b.stop();
    }
  });
});

describe("misconfigured groups stop the start with exit 2", () => {
  test("POLICY_FILE with a policy that names no runner group, and no DEFAULT_RUNNER_GROUP_ID", async () => {
    const file = join(w.dir, "no-group.yaml");
    writeFileSync(file, `- user_identity: "*"\n  allowed_labels: [small]\n  runner_group_id: 2\n- user_identity: "${ALICE}"\n  allowed_labels: [team-a]\n`);
    const r = await runBroker(["serve"], w.env({ POLICY_FILE: file }));
    expect(r.code).toBe(2);
    expect(lastError(r.stderr)).toContain(`1.runner_group_id (the policy for "${ALICE}") is required`);
    expect(lastError(r.stderr)).toContain("DEFAULT_RUNNER_GROUP_ID");
    // With the setting, the same file starts (and the policy gets that group).
    const b = await startBroker(w.env({ POLICY_FILE: file, DEFAULT_RUNNER_GROUP_ID: "2" }));
    try {
      const got = await b.call("GET", `/api/v1/admin/label-policies/${encodeURIComponent(ALICE)}`, { token: admin });
      expect(got.json.runner_group_id).toBe(2);
    } finally {
      await b.stop();
    }
  });

  test("POLICY_FILE naming a runner group GitHub does not have", async () => {
    const file = join(w.dir, "missing-group.yaml");
    writeFileSync(file, `- user_identity: "${ALICE}"\n  allowed_labels: [team-a]\n  runner_group_id: 42\n`);
    const e = w.env({ POLICY_FILE: file });
    const r = await runBroker(["serve"], e);
    expect(r.code).toBe(2);
    expect(lastError(r.stderr)).toContain(`POLICY_FILE: 0.runner_group_id (the policy for "${ALICE}"): GitHub has no runner group 42 in acme-org`);
    expect(r.stderr).not.toContain('"message":"listening"');
  });

  test("policies apply with the App's credentials: a runner group GitHub does not have is exit 2, and nothing is applied", async () => {
    const file = join(w.dir, "apply-missing-group.yaml");
    writeFileSync(file, `- user_identity: "*"\n  allowed_labels: [small]\n  runner_group_id: 2\n- user_identity: "${ALICE}"\n  allowed_labels: [team-a]\n  runner_group_id: 42\n`);
    const e = w.env();
    const r = await runBroker(["policies", "apply", file], e);
    expect(r.code).toBe(2);
    expect(lastError(r.stderr)).toContain(`the policy file ${file}: 1.runner_group_id (the policy for "${ALICE}"): GitHub has no runner group 42 in acme-org`);
    expect(r.stdout).toBe("");
    expect(JSON.parse((await runBroker(["policies", "list", "--json"], e)).stdout)).toEqual([]);
  });

  test("DEFAULT_RUNNER_GROUP_ID naming a runner group GitHub does not have", async () => {
    const r = await runBroker(["serve"], w.env({ DEFAULT_RUNNER_GROUP_ID: "42" }));
    expect(r.code).toBe(2);
    expect(lastError(r.stderr)).toContain("DEFAULT_RUNNER_GROUP_ID: GitHub has no runner group 42");
  });
});

describe("a runner group deleted at GitHub later", () => {
  let env: Record<string, string>;
  let aliceRunner: number;

  beforeAll(async () => {
    env = w.env();
    const b = await startBroker(env);
    try {
      for (const [user, group] of [[BOB, 2], [ALICE, 3]] as const) {
        expect((await b.call("POST", "/api/v1/admin/label-policies", { token: admin, body: policy(user, { runner_group_id: group }) })).status).toBe(201);
      }
      const p = await b.call("POST", "/api/v1/runners/provision", { token: alice, body: { runner_name: "partner-1", labels: ["team-a"] } });
      expect(p.status).toBe(201);
      aliceRunner = p.json.github_runner_id;
      w.sim.runners.connect(p.json.encoded_jit_config);
    } finally {
      await b.stop();
    }
    // Someone removes group 2 in the organisation's settings.
    expect((await fetch(`${w.sim.url}/_simulator/runner-groups/2`, { method: "DELETE" })).status).toBe(204);
  });

  test("sync-github syncs every other group and names the failing one", async () => {
    const r = await runBroker(["sync-github"], env);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("runner group 2 failed: GitHub has no runner group 2");
    const runners = JSON.parse((await runBroker(["list-runners", "--json"], env)).stdout);
    expect(runners.find((x: any) => x.runner_name === "partner-1").status).toBe("active");
  });

  test("provisioning into the deleted group is 502 naming the group, and the other group still provisions", async () => {
    const b = await startBroker(env);
    try {
      const r = await b.call("POST", "/api/v1/runners/provision", { token: await w.token(BOB), body: { runner_name: "gone-group-1", labels: ["team-a"] } });
      expect(r.status).toBe(502);
      expect(r.json.type).toBe("urn:ghapp-runner-broker:problem:runner_group_missing");
      expect(r.json.detail).toContain("GitHub has no runner group 2");
      expect((await b.call("POST", "/api/v1/runners/provision", { token: alice, body: { runner_name: "partner-2", labels: ["team-a"] } })).status).toBe(201);
    } finally {
      await b.stop();
    }
  });

  test("serving brokers stay ready, and say which group fails and why: once in the log, in every replica's /ready, and in a metric", async () => {
    const b = await startBroker({ ...env, SYNC_INTERVAL: "1s", READY_CHECK_INTERVAL: "1s" });
    await eventually(() => logLines(b.logs()).some((l) => l.message === "sync done"), 10_000, "the first sync round");
    // A second replica on the same database, started once the first holds the sync lease: it tries
    // to take it once at start, and not again for an hour.
    const other = await startBroker({ ...env, SYNC_INTERVAL: "1h", READY_CHECK_INTERVAL: "1s" });
    try {
      // Three rounds, and the other group still syncs: the runner going offline is seen.
      w.sim.runners.setStatus(aliceRunner, "offline");
      await eventually(() => logLines(b.logs()).filter((l) => l.message === "sync done").length >= 3, 15_000, "three sync rounds");
      const mine = await b.call("GET", "/api/v1/runners/partner-1", { token: alice });
      expect(mine.json.status).toBe("offline");
      const warnings = logLines(b.logs()).filter((l) => l.message === "sync: a runner group cannot be synced; the other groups still are");
      expect(warnings.map((l) => [l.runner_group_id, l.code])).toEqual([[2, "runner_group_missing"]]);
      const ready = await b.call("GET", "/ready");
      expect(ready.status).toBe(200);
      expect(ready.json.status).toBe("degraded");
      expect(Object.keys(ready.json.runner_groups)).toEqual(["2"]);
      expect(ready.json.runner_groups["2"]).toStartWith("runner_group_missing: GitHub has no runner group 2");
      const metrics = (await b.call("GET", "/metrics")).text;
      expect(metrics).toContain('ghapp_broker_sync_group_failing{runner_group_id="2"} 1');
      expect(metrics).not.toContain('ghapp_broker_sync_group_failing{runner_group_id="3"} 1');
      // The replica that does not sync says the same in its /ready (read from the database), and logs nothing about it.
      const elsewhere = await eventually(async () => {
        const r = await other.call("GET", "/ready");
        return r.json.runner_groups?.["2"] ? r : undefined;
      }, 10_000, "the other replica's /ready to name group 2");
      expect([elsewhere.status, elsewhere.json.status, Object.keys(elsewhere.json.runner_groups)]).toEqual([200, "degraded", ["2"]]);
      expect(other.logs()).not.toContain("a runner group cannot be synced");
    } finally {
      await other.stop();
      await b.stop();
    }
  }, 30_000);
});
