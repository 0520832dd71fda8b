// Runner groups that isolate tenants (issue 20), as an operator meets them with the compiled broker
// against the simulator: a brokered group that every repository, public repositories or any workflow
// may use is reported (a metric, /ready degraded, one security event, not one per round) until it is
// fixed at GitHub; with MANAGE_RUNNER_GROUPS=true the broker makes each policy's group itself
// (visibility selected, the policy's repositories and workflows) and sets it back when someone widens it.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { ADMIN, ALICE, eventually, logLines, policy, runBroker, startBroker, startWorld, type Broker, type World } from "./harness.ts";

const WORKFLOW = "acme-org/api/.github/workflows/ci.yml@refs/heads/main";

let w: World;
let admin: string;
let alice: string;

beforeAll(async () => {
  w = await startWorld({ runnerGroups: [{ id: 1, name: "Default" }, { id: 2, name: "brokered", visibility: "selected", selected_repository_ids: [9001], restricted_to_workflows: true, selected_workflows: [WORKFLOW] }] });
  [admin, alice] = await Promise.all([w.token(ADMIN), w.token(ALICE)]);
});
afterAll(() => w?.close());

const fast = { SYNC_INTERVAL: "1s", READY_CHECK_INTERVAL: "1s" };
const exposedEvents = async (b: Broker) => (await b.call("GET", "/api/v1/admin/security-events?event_type=runner_group_exposed", { token: admin })).json.events as Array<Record<string, any>>;
const gauge = async (b: Broker, group: number, reason: string) => {
  const labels = [`org="acme-org"`, `runner_group_id="${group}"`, `reason="${reason}"`];
  const line = (await b.call("GET", "/metrics")).text.split("\n").find((l) => l.startsWith("ghapp_broker_runner_group_exposed{") && labels.every((x) => l.includes(x)));
  return line?.split(" ").at(-1);
};

describe("an exposed runner group is reported", () => {
  test("visible to all repositories, to public ones, and not restricted to the policy's workflows: a metric, /ready degraded and one security event, cleared once fixed", async () => {
    const b = await startBroker(w.env(fast));
    try {
      const put = await b.call("POST", "/api/v1/admin/label-policies", { token: admin, body: policy(ALICE, { repositories: ["acme-org/api"], workflows: [WORKFLOW] }) });
      expect([put.status, put.json.repositories, put.json.workflows]).toEqual([201, ["acme-org/api"], [WORKFLOW]]);
      // The group as the operator made it: isolated, so the broker is ready.
      await eventually(async () => (await b.call("GET", "/ready")).json.status === "ready", 10_000, "ready");

      // Someone widens it in the org's settings.
      w.sim.runners.updateGroup(2, { visibility: "all", allows_public_repositories: true, restricted_to_workflows: false });
      const ready = await eventually(async () => {
        const r = await b.call("GET", "/ready");
        return r.json.runner_group_exposures?.["2"] ? r : undefined;
      }, 15_000, "the exposure in /ready");
      expect([ready.status, ready.json.status]).toEqual([200, "degraded"]);
      expect(ready.json.runner_group_exposures["2"].reasons).toEqual(["public_repositories", "unrestricted_workflows", "visibility_all"]);
      expect(ready.json.runner_group_exposures["2"].detail).toContain("every repository of the organisation may use it");
      expect(await gauge(b, 2, "visibility_all")).toBe("1");
      expect(await gauge(b, 2, "public_repositories")).toBe("1");

      // Several rounds later: still one security event for the group, and one log line.
      const firstRound = (await b.call("GET", "/api/v1/admin/audit-log?action=sync.runner_group_exposed", { token: admin })).status;
      expect(firstRound).toBe(200);
      await Bun.sleep(3_000);
      const events = await exposedEvents(b);
      expect(events.length).toBe(1);
      expect([events[0]!.severity, events[0]!.details.runner_group_id, events[0]!.details.reasons]).toEqual(["high", 2, ["public_repositories", "unrestricted_workflows", "visibility_all"]]);
      expect(logLines(b.logs()).filter((l) => String(l.message).startsWith("sync: a runner group reaches more")).length).toBe(1);

      // Fixed at GitHub: ready again, the gauge 0, no second event.
      w.sim.runners.updateGroup(2, { visibility: "selected", allows_public_repositories: false, restricted_to_workflows: true, selected_workflows: [WORKFLOW] });
      await eventually(async () => (await b.call("GET", "/ready")).json.status === "ready", 15_000, "ready again");
      expect(await gauge(b, 2, "visibility_all")).toBe("0");
      expect((await exposedEvents(b)).length).toBe(1);
      expect(logLines(b.logs()).some((l) => l.message === "sync: a runner group is isolated again")).toBe(true);
    } finally {
      await b.stop();
      w.sim.runners.updateGroup(2, { visibility: "selected", allows_public_repositories: false, restricted_to_workflows: true, selected_workflows: [WORKFLOW], selected_repository_ids: [9001] });
    }
  }, 60_000);

  test("a repository or workflow no policy names is reported too", async () => {
    const b = await startBroker(w.env(fast));
    try {
      await b.call("POST", "/api/v1/admin/label-policies", { token: admin, body: policy(ALICE, { repositories: ["acme-org/api"], workflows: [WORKFLOW] }) });
      w.sim.runners.updateGroup(2, { selected_repository_ids: [9001, 9002], selected_workflows: [WORKFLOW, "acme-org/web/.github/workflows/deploy.yml@refs/heads/main"] });
      const ready = await eventually(async () => {
        const r = await b.call("GET", "/ready");
        return r.json.runner_group_exposures?.["2"] ? r : undefined;
      }, 15_000, "the exposure in /ready");
      expect(ready.json.runner_group_exposures["2"].reasons).toEqual(["other_repositories", "other_workflows"]);
    } finally {
      await b.stop();
      w.sim.runners.updateGroup(2, { selected_repository_ids: [9001], selected_workflows: [WORKFLOW] });
    }
  }, 30_000);
});

describe("MANAGE_RUNNER_GROUPS=true", () => {
  test("a policy gets its own group with its repositories and workflows, its runners join it, and a widened group is set back", async () => {
    const b = await startBroker(w.env({ ...fast, MANAGE_RUNNER_GROUPS: "true" }));
    try {
      const { runner_group_id: _, ...body } = policy(ALICE, { repositories: ["acme-org/api"], workflows: [WORKFLOW] });
      const put = await b.call("POST", "/api/v1/admin/label-policies", { token: admin, body });
      expect(put.status).toBe(201);
      const id = put.json.runner_group_id as number;
      const group = w.sim.runners.groups.find((g) => g.id === id)!;
      expect(group.name).toStartWith("broker-");
      expect([group.visibility, group.allows_public_repositories, group.selected_repository_ids, group.restricted_to_workflows, group.selected_workflows]).toEqual(["selected", false, [9001], true, [WORKFLOW]]);
      const p = await b.call("POST", "/api/v1/runners/provision", { token: alice, body: { runner_name: "managed-1", labels: ["team-a"] } });
      expect(p.status).toBe(201);
      expect(w.sim.runners.get(p.json.github_runner_id)?.runner_group_id).toBe(id);

      // Someone widens it: the next round sets it back, with a security event.
      w.sim.runners.updateGroup(id, { visibility: "all", allows_public_repositories: true, selected_repository_ids: [9001, 9002] });
      await eventually(() => {
        const g = w.sim.runners.groups.find((x) => x.id === id)!;
        return g.visibility === "selected" && !g.allows_public_repositories && g.selected_repository_ids?.join() === "9001";
      }, 15_000, "the group set back");
      const events = await eventually(async () => {
        const e = await exposedEvents(b);
        return e.some((x) => x.action_taken === "settings_restored") ? e : undefined;
      }, 10_000, "the security event");
      const restored = events.find((x) => x.action_taken === "settings_restored")!;
      expect([restored.user_identity, restored.details.runner_group_id, restored.details.changed]).toEqual([ALICE, id, ["visibility", "allows_public_repositories", "repositories"]]);
      expect((await b.call("GET", "/ready")).json.status).toBe("ready");

      // A repository the App's installation cannot see is refused at write, naming the entry.
      const unseen = await b.call("POST", "/api/v1/admin/label-policies", { token: admin, body: { ...body, repositories: ["acme-org/api", "acme-org/nope"] } });
      expect([unseen.status, unseen.json.field]).toEqual([422, "repositories[1]"]);
      expect(unseen.json.detail).toContain("cannot see");
    } finally {
      await b.stop();
    }
  }, 60_000);

  test("a value that is not true or false stops the start with exit 2 naming the setting", async () => {
    const r = await runBroker(["serve"], w.env({ MANAGE_RUNNER_GROUPS: "yes please" }));
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("MANAGE_RUNNER_GROUPS");
  });
});
