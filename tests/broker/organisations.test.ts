// Several organisations (GITHUB_ORGS, issue 20): one broker serves every organisation it lists,
// each through its own installation; a policy names its organisation, a runner lives in its
// policy's organisation, and a caller's runner in one organisation is never reached through
// another. Run against the compiled broker and the simulator with two organisation installations.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { ADMIN, ALICE, eventually, logLines, policy, runBroker, startBroker, startWorld, type Broker, type World } from "./harness.ts";
import { defaultInstallations } from "../simulator/simulator.ts";

const LABS = "repo:acme-labs/tools:ref:refs/heads/main";
const LABS_INSTALLATION = 1003;

let w: World;
let admin: string;
let alice: string;
let labs: string;

beforeAll(async () => {
  const installations = [
    ...defaultInstallations(),
    {
      id: LABS_INSTALLATION,
      account: { login: "acme-labs", id: 5003, type: "Organization" as const },
      repository_selection: "all" as const,
      repositories: [{ id: 9201, name: "tools", full_name: "acme-labs/tools", private: true }],
      permissions: { metadata: "read", actions: "read", organization_self_hosted_runners: "write" },
      suspended_at: null,
    },
  ];
  w = await startWorld({ installations });
  [admin, alice, labs] = await Promise.all([w.token(ADMIN), w.token(ALICE), w.token(LABS, { claims: { repository_owner_id: "5003" } })]);
});
afterAll(() => w?.close());

const twoOrgs = (extra: Record<string, string> = {}) => {
  const { GITHUB_ORG: _, ...env } = w.env();
  return { ...env, GITHUB_ORGS: "acme-org, acme-labs", ...extra };
};
const lastError = (stderr: string) => String(logLines(stderr).at(-1)?.message ?? "");
const githubPaths = (method: string) => w.sim.requests.filter((r) => r.method === method).map((r) => r.path);

async function withPolicies(b: Broker): Promise<void> {
  expect((await b.call("POST", "/api/v1/admin/label-policies", { token: admin, body: policy(ALICE, { org: "acme-org" }) })).status).toBe(201);
  expect((await b.call("POST", "/api/v1/admin/label-policies", { token: admin, body: policy(LABS, { org: "acme-labs" }) })).status).toBe(201);
}

describe("configuration", () => {
  test("GITHUB_ORG and GITHUB_ORGS both set stop the start with exit 2 naming both", async () => {
    const r = await runBroker(["serve"], { ...w.env(), GITHUB_ORGS: "acme-org,acme-labs" });
    expect(r.code).toBe(2);
    expect(lastError(r.stderr)).toContain("GITHUB_ORG and GITHUB_ORGS are both set");
  });

  test("GITHUB_ORGS with a name that is not a login, or with one installation id for several organisations, is exit 2 with the fix", async () => {
    const bad = await runBroker(["serve"], twoOrgs({ GITHUB_ORGS: "acme-org,acme labs/x" }));
    expect(bad.code).toBe(2);
    expect(lastError(bad.stderr)).toContain('GITHUB_ORGS has "labs/x"');
    const id = await runBroker(["serve"], twoOrgs({ GITHUB_APP_INSTALLATION_ID: "1001" }));
    expect(id.code).toBe(2);
    expect(lastError(id.stderr)).toContain("GITHUB_APP_INSTALLATION_ID is set with several organisations");
  });
});

describe("at start", () => {
  test("an organisation in GITHUB_ORGS the App is not installed on is named in the log, and the others are served", async () => {
    const b = await startBroker(twoOrgs({ GITHUB_ORGS: "acme-org,not-our-org" }));
    try {
      const line = logLines(b.logs()).find((l) => String(l.message).startsWith("the App is not installed on an organisation in GITHUB_ORGS"));
      expect(line).toMatchObject({ level: "error", org: "not-our-org" });
      expect((await b.call("GET", "/ready")).status).toBe(200);
      expect((await b.call("POST", "/api/v1/admin/label-policies", { token: admin, body: policy(ALICE, { org: "acme-org" }) })).status).toBe(201);
      expect((await b.call("POST", "/api/v1/runners/provision", { token: alice, body: { runner_name: "orgs-a-0", labels: ["team-a"] } })).status).toBe(201);
    } finally {
      await b.stop();
    }
  });

  test("GITHUB_ORG alone (a list of one) still stops the start with exit 2 when the App is not installed there", async () => {
    const r = await runBroker(["serve"], w.env({ GITHUB_ORG: "not-our-org" }), 15_000);
    expect(r.code).toBe(2);
    expect(lastError(r.stderr)).toContain("the App is not installed on the organisation GITHUB_ORG=not-our-org");
  });

  test("POLICY_FILE: a policy of an organisation the broker does not serve is exit 2; each policy's group is checked in its own organisation", async () => {
    const bad = join(w.dir, "orgs-bad-policies.yaml");
    writeFileSync(bad, `- user_identity: "${LABS}"\n  allowed_labels: [team-a]\n  runner_group_id: 2\n  org: someone-else\n`);
    const r = await runBroker(["serve"], twoOrgs({ POLICY_FILE: bad }), 15_000);
    expect(r.code).toBe(2);
    expect(lastError(r.stderr)).toContain("0.org (the policy for");
    expect(lastError(r.stderr)).toContain("which the broker does not serve");

    const good = join(w.dir, "orgs-policies.yaml");
    writeFileSync(good, `- user_identity: "${LABS}"\n  allowed_labels: [team-a]\n  runner_group_id: 2\n  org: acme-labs\n`);
    const before = w.sim.requests.length;
    const b = await startBroker(twoOrgs({ POLICY_FILE: good }));
    try {
      expect(w.sim.requests.slice(before).map((q) => q.path)).toContain("/orgs/acme-labs/actions/runner-groups/2");
      expect((await b.call("GET", `/api/v1/admin/label-policies/${encodeURIComponent(LABS)}`, { token: admin })).json.org).toBe("acme-labs");
    } finally {
      await b.stop();
    }
  }, 30_000);
});

describe("policies apply", () => {
  test("a policy file's policy of an organisation the broker does not serve is exit 2 and applies nothing; one of a listed organisation is checked there and stored with it", async () => {
    const env = twoOrgs();
    const bad = join(w.dir, "orgs-apply-bad.yaml");
    writeFileSync(bad, `- user_identity: "${LABS}"\n  allowed_labels: [team-a]\n  runner_group_id: 2\n  org: someone-else\n`);
    const r = await runBroker(["policies", "apply", bad], env);
    expect(r.code).toBe(2);
    expect(lastError(r.stderr)).toContain("0.org (the policy for");
    const good = join(w.dir, "orgs-apply.yaml");
    writeFileSync(good, `- user_identity: "${LABS}"\n  allowed_labels: [team-a]\n  runner_group_id: 2\n  org: acme-labs\n`);
    const before = w.sim.requests.length;
    const ok = await runBroker(["policies", "apply", good], env);
    expect(ok.code).toBe(0);
    expect(w.sim.requests.slice(before).map((q) => q.path)).toContain("/orgs/acme-labs/actions/runner-groups/2");
    const listed = JSON.parse((await runBroker(["policies", "list", "--json"], env)).stdout);
    expect(listed).toEqual([expect.objectContaining({ user_identity: LABS, org: "acme-labs" })]);
  }, 30_000);
});

describe("policies name their organisation", () => {
  test("with several organisations a policy without org, or naming one the broker does not serve, is 422 naming org", async () => {
    const b = await startBroker(twoOrgs());
    try {
      const none = await b.call("POST", "/api/v1/admin/label-policies", { token: admin, body: policy(ALICE) });
      expect(none.status).toBe(422);
      expect(none.json.field).toBe("org");
      expect(none.json.detail).toContain("acme-org, acme-labs");
      const other = await b.call("POST", "/api/v1/admin/label-policies", { token: admin, body: policy(ALICE, { org: "someone-else" }) });
      expect(other.status).toBe(422);
      expect(other.json.field).toBe("org");
      await withPolicies(b);
      const got = await b.call("GET", `/api/v1/admin/label-policies/${encodeURIComponent(LABS)}`, { token: admin });
      expect(got.json).toMatchObject({ org: "acme-labs", runner_group_id: 2 });
    } finally {
      await b.stop();
    }
  });

  test("with GITHUB_ORG alone a policy needs no org and gets that organisation", async () => {
    const b = await startBroker(w.env());
    try {
      const r = await b.call("POST", "/api/v1/admin/label-policies", { token: admin, body: policy(ALICE) });
      expect(r.status).toBe(201);
      expect(r.json.org).toBe("acme-org");
    } finally {
      await b.stop();
    }
  });
});

describe("runners live in their policy's organisation", () => {
  test("each caller's runner is created in its own organisation, through that organisation's installation, and metrics carry the org", async () => {
    const b = await startBroker(twoOrgs());
    try {
      await withPolicies(b);
      const a = await b.call("POST", "/api/v1/runners/provision", { token: alice, body: { runner_name: "orgs-a-1", labels: ["team-a"] } });
      expect(a.status).toBe(201);
      expect(a.json.runner_url).toBe("https://github.com/acme-org");
      const l = await b.call("POST", "/api/v1/runners/provision", { token: labs, body: { runner_name: "orgs-l-1", labels: ["team-a"] } });
      expect(l.status).toBe(201);
      expect(l.json.runner_url).toBe("https://github.com/acme-labs");
      const posts = githubPaths("POST");
      expect(posts).toContain("/orgs/acme-org/actions/runners/generate-jitconfig");
      expect(posts).toContain("/orgs/acme-labs/actions/runners/generate-jitconfig");
      expect((await b.call("GET", "/api/v1/runners/orgs-l-1", { token: labs })).json.org).toBe("acme-labs");
      // The owner binding knows each organisation's own id: acme-labs with acme-org's id is refused.
      const forged = await b.call("GET", "/api/v1/runners", { token: await w.token(LABS) });
      expect(forged.status).toBe(403);
      expect(forged.json.claim).toBe("repository_owner_id");
      // Each organisation's token came from its own installation.
      expect(posts).toContain(`/app/installations/${LABS_INSTALLATION}/access_tokens`);
      expect(posts).toContain("/app/installations/1001/access_tokens");

      const metrics = (await b.call("GET", "/metrics")).text;
      expect(metrics).toMatch(/ghapp_broker_provisions_total\{[^}]*org="acme-labs"[^}]*\} 1/);
      expect(metrics).toMatch(/ghapp_broker_provisions_total\{[^}]*org="acme-org"[^}]*\} 1/);
      const audit = await b.call("GET", "/api/v1/admin/audit-log?limit=100", { token: admin });
      const provisions = audit.json.records as Array<{ runner_name: string; details: { org?: string } }>;
      expect(provisions.find((x) => x.runner_name === "orgs-l-1")?.details.org).toBe("acme-labs");
    } finally {
      await b.stop();
    }
  });

  test("a caller's runner in org A is never listed, read, refreshed or deleted through org B: 404 as a missing one", async () => {
    const b = await startBroker(twoOrgs());
    try {
      await withPolicies(b);
      expect((await b.call("POST", "/api/v1/runners/provision", { token: alice, body: { runner_name: "orgs-a-2", labels: ["team-a"] } })).status).toBe(201);
      const inA = await b.call("GET", "/api/v1/runners?org=acme-org", { token: alice });
      expect(inA.json.runners.map((r: { runner_name: string }) => r.runner_name)).toEqual(["orgs-a-2"]);
      expect((await b.call("GET", "/api/v1/runners?org=acme-labs", { token: alice })).json.runners).toEqual([]);
      const missing = await b.call("GET", "/api/v1/runners/no-such-runner?org=acme-labs", { token: alice });
      for (const [method, path] of [
        ["GET", "/api/v1/runners/orgs-a-2?org=acme-labs"],
        ["POST", "/api/v1/runners/orgs-a-2/refresh?org=acme-labs"],
        ["DELETE", "/api/v1/runners/orgs-a-2?org=acme-labs"],
      ] as const) {
        const r = await b.call(method, path, { token: alice });
        expect(r.status).toBe(404);
        expect(r.json.title).toBe(missing.json.title);
      }
      // Still there, at GitHub too: nothing was deleted through acme-labs.
      expect(githubPaths("DELETE").filter((p) => p.startsWith("/orgs/"))).toEqual([]);
      expect((await b.call("GET", "/api/v1/runners/orgs-a-2?org=acme-org", { token: alice })).json.status).toBe("pending");
      expect((await b.call("DELETE", "/api/v1/runners/orgs-a-2?org=ACME-ORG", { token: alice })).status).toBe(204);
      expect(githubPaths("DELETE").some((p) => p.startsWith("/orgs/acme-org/actions/runners/"))).toBe(true);
    } finally {
      await b.stop();
    }
  });

  test("a provision naming another organisation than the policy's is refused (403) and creates nothing", async () => {
    const b = await startBroker(twoOrgs());
    try {
      await withPolicies(b);
      const before = githubPaths("POST").length;
      const r = await b.call("POST", "/api/v1/runners/provision", { token: alice, body: { runner_name: "orgs-a-3", labels: ["team-a"], org: "acme-labs" } });
      expect(r.status).toBe(403);
      expect(r.json.detail).toContain("acme-org, not acme-labs");
      expect(githubPaths("POST").slice(before).filter((p) => p.includes("/actions/"))).toEqual([]);
    } finally {
      await b.stop();
    }
  });
});

describe("webhooks from every organisation", () => {
  test("a job in the second organisation makes its runner busy at once, and its end is checked through that organisation", async () => {
    const secretFile = join(w.dir, "orgs-webhook-secret");
    writeFileSync(secretFile, "whsec-orgs-0123456789abcdef\n", { mode: 0o600 });
    const b = await startBroker(twoOrgs({ GITHUB_WEBHOOK_SECRET_FILE: secretFile }));
    try {
      w.sim.webhooks.configure({ url: `${b.url}/api/v1/webhooks/github`, secret: "whsec-orgs-0123456789abcdef" });
      await withPolicies(b);
      const p = await b.call("POST", "/api/v1/runners/provision", { token: labs, body: { runner_name: "orgs-l-hook", labels: ["team-a"] } });
      expect(p.status).toBe(201);
      const id = w.sim.runners.connect(p.json.encoded_jit_config).id;
      w.sim.runners.startJob(id);
      await eventually(async () => (await b.call("GET", "/api/v1/runners/orgs-l-hook", { token: labs })).json.status === "busy", 5000, "busy from acme-labs' in_progress delivery");
      w.sim.runners.finishJob(id);
      await eventually(() => githubPaths("GET").includes(`/orgs/acme-labs/actions/runners/${id}`), 5000, "the end of the job checked at acme-labs");
      expect(githubPaths("GET")).not.toContain(`/orgs/acme-org/actions/runners/${id}`);
    } finally {
      await b.stop();
    }
  }, 20_000);
});

describe("upgrading from one organisation", () => {
  test("runners and policies written before organisations existed belong to GITHUB_ORG, or the first of GITHUB_ORGS, and sync-github names each organisation's failing group", async () => {
    const env = w.env();
    const b = await startBroker(env);
    try {
      expect((await b.call("POST", "/api/v1/admin/label-policies", { token: admin, body: policy(ALICE) })).status).toBe(201);
      expect((await b.call("POST", "/api/v1/runners/provision", { token: alice, body: { runner_name: "orgs-old-1", labels: ["team-a"] } })).status).toBe(201);
    } finally {
      await b.stop();
    }
    // What a database from the release before several organisations holds: rows without one.
    const db = new Database(env.DATABASE_URL!.replace(/^sqlite:\/\//, ""));
    db.run("UPDATE runners SET org = NULL");
    db.run("UPDATE label_policies SET org = NULL");
    db.close();
    const { GITHUB_ORG: _, ...rest } = env;
    const env2 = { ...rest, GITHUB_ORGS: "acme-org,acme-labs" };
    const after = await startBroker(env2);
    try {
      const listed = await after.call("GET", "/api/v1/runners?org=acme-org", { token: alice });
      expect(listed.json.runners.map((r: { runner_name: string; org: string }) => [r.runner_name, r.org])).toEqual([["orgs-old-1", "acme-org"]]);
      expect((await after.call("GET", "/api/v1/runners?org=acme-labs", { token: alice })).json.runners).toEqual([]);
      expect((await after.call("GET", `/api/v1/admin/label-policies/${encodeURIComponent(ALICE)}`, { token: admin })).json.org).toBe("acme-org");
    } finally {
      await after.stop();
    }
    // A policy of acme-labs naming a group acme-labs lacks: sync-github says which organisation's group.
    const missing = new Database(env.DATABASE_URL!.replace(/^sqlite:\/\//, ""));
    missing.run("UPDATE label_policies SET org = 'acme-labs', runner_group_id = 77");
    missing.close();
    const sync = await runBroker(["sync-github"], env2);
    expect(sync.stdout).toContain("runner group acme-labs/77 failed:");
  }, 30_000);
});

describe("runner groups that isolate tenants, per organisation", () => {
  const exposedSeries = async (b: Broker) => (await b.call("GET", "/metrics")).text.split("\n").filter((l) => l.startsWith("ghapp_broker_runner_group_exposed{"));

  test("a group exposed in the second organisation is reported with its organisation; the same group id in the first, isolated, is not", async () => {
    const b = await startBroker(twoOrgs({ SYNC_INTERVAL: "1s", READY_CHECK_INTERVAL: "1s" }));
    try {
      await withPolicies(b);
      await eventually(async () => (await b.call("GET", "/ready")).json.status === "ready", 10_000, "ready");
      // Someone widens acme-labs' group 2; acme-org's group 2 stays as it was.
      w.sim.runners.updateGroup(2, { visibility: "all", allows_public_repositories: true }, "acme-labs");
      expect(w.sim.runners.groupsIn("acme-org").find((g) => g.id === 2)?.visibility).not.toBe("all");
      const ready = await eventually(async () => {
        const r = await b.call("GET", "/ready");
        return r.json.runner_group_exposures?.["acme-labs/2"] ? r : undefined;
      }, 15_000, "/ready naming acme-labs/2");
      expect([ready.status, ready.json.status]).toEqual([200, "degraded"]);
      expect(Object.keys(ready.json.runner_group_exposures)).toEqual(["acme-labs/2"]);
      expect(ready.json.runner_group_exposures["acme-labs/2"].reasons).toEqual(["public_repositories", "visibility_all"]);
      const series = await exposedSeries(b);
      expect(series.filter((l) => l.includes(`org="acme-labs"`) && l.includes(`runner_group_id="2"`) && l.endsWith(" 1")).length).toBe(2);
      expect(series.filter((l) => l.includes(`org="acme-org"`))).toEqual([]);
      const events = (await b.call("GET", "/api/v1/admin/security-events?event_type=runner_group_exposed", { token: admin })).json.events as Array<Record<string, any>>;
      expect(events.map((e) => [e.details.org, e.details.runner_group_id, e.details.reasons])).toEqual([["acme-labs", 2, ["public_repositories", "visibility_all"]]]);
    } finally {
      w.sim.runners.updateGroup(2, { visibility: "selected", allows_public_repositories: false }, "acme-labs");
      await b.stop();
    }
  }, 40_000);

  test("MANAGE_RUNNER_GROUPS=true: a policy of the second organisation gets its group created in that organisation", async () => {
    const b = await startBroker(twoOrgs({ MANAGE_RUNNER_GROUPS: "true" }));
    try {
      const before = w.sim.runners.groupsIn("acme-org").map((g) => g.id);
      const { runner_group_id: _, ...body } = policy(LABS, { org: "acme-labs", repositories: ["acme-labs/tools"] });
      const put = await b.call("POST", "/api/v1/admin/label-policies", { token: admin, body });
      expect(put.status).toBe(201);
      const id = put.json.runner_group_id as number;
      const group = w.sim.runners.groupsIn("acme-labs").find((g) => g.id === id)!;
      expect(group.name).toStartWith("broker-");
      expect([group.visibility, group.allows_public_repositories, group.selected_repository_ids]).toEqual(["selected", false, [9201]]);
      expect(w.sim.runners.groupsIn("acme-org").map((g) => g.id)).toEqual(before);
      expect(githubPaths("POST")).toContain("/orgs/acme-labs/actions/runner-groups");
      // Its runner joins that group in acme-labs.
      const p = await b.call("POST", "/api/v1/runners/provision", { token: labs, body: { runner_name: "orgs-l-managed", labels: ["team-a"] } });
      expect(p.status).toBe(201);
      expect(w.sim.runners.get(p.json.github_runner_id)?.runner_group_id).toBe(id);
    } finally {
      await b.stop();
    }
  }, 40_000);
});

// Last: it uninstalls the App from acme-labs in the shared simulator.
describe("the sync per organisation", () => {
  test("with one organisation's installation removed, the other keeps syncing and /ready names the failing organisation's group", async () => {
    const b = await startBroker(twoOrgs());
    let s: Broker | undefined;
    try {
      await withPolicies(b);
      const a = await b.call("POST", "/api/v1/runners/provision", { token: alice, body: { runner_name: "orgs-a-4", labels: ["team-a"] } });
      expect((await b.call("POST", "/api/v1/runners/provision", { token: labs, body: { runner_name: "orgs-l-4", labels: ["team-a"] } })).status).toBe(201);
      await b.stop();
      // GitHub removes acme-org's runner (an ephemeral runner after its job); acme-labs uninstalls the App.
      expect(w.sim.runners.remove(a.json.github_runner_id)).toBe(true);
      w.sim.uninstall(LABS_INSTALLATION);

      s = await startBroker({ ...b.env, SYNC_INTERVAL: "1s" });
      // acme-org keeps syncing: its runner gone at GitHub is marked deleted.
      await eventually(async () => {
        const got = await s!.call("GET", "/api/v1/runners?status=deleted", { token: alice });
        return got.json.runners.some((x: { runner_name: string }) => x.runner_name === "orgs-a-4");
      }, 15_000, "acme-org's runner marked deleted by the sync");
      const ready = await eventually(async () => {
        const r = await s!.call("GET", "/ready");
        return r.json?.runner_groups?.["acme-labs/2"] ? r : undefined;
      }, 15_000, "/ready naming acme-labs/2");
      expect(Object.keys(ready.json.runner_groups)).toEqual(["acme-labs/2"]);
      // acme-labs' runner is left as it was: its organisation could not be read.
      expect((await s.call("GET", "/api/v1/runners/orgs-l-4", { token: labs })).json.status).toBe("pending");
      expect((await s.call("GET", "/metrics")).text).toMatch(/ghapp_broker_sync_group_failing\{[^}]*org="acme-labs"[^}]*\} 1/);
    } finally {
      await s?.stop();
    }
  }, 40_000);
});
