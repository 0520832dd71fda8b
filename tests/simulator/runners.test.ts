// The runner endpoints as the broker meets them (GitHub's statuses and shapes over real HTTP), and the
// control endpoints that play the runner's part. The broker's end-to-end tests stand on these.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import jwt from "jsonwebtoken";
import { defaultInstallations, startSimulator, type Installation, type Simulator } from "./simulator.ts";

// A second organization with the runner permission, to prove one org's token cannot touch another's runners.
const otherOrg: Installation = {
  id: 1003,
  account: { login: "other-org", id: 5003, type: "Organization" },
  repository_selection: "all",
  repositories: [],
  permissions: { organization_self_hosted_runners: "write" },
  suspended_at: null,
};

let sim: Simulator;
let token: string; // acme-org, organization_self_hosted_runners: write
beforeAll(async () => {
  sim = await startSimulator({ installations: [...defaultInstallations(), otherOrg] });
  token = await installationToken(1001);
});
afterAll(async () => {
  await sim.close();
});

const nowS = () => Math.floor(Date.now() / 1000);
const appJwt = () => jwt.sign({ iat: nowS() - 60, exp: nowS() + 540, iss: String(sim.app.id) }, sim.app.privateKeyPem, { algorithm: "RS256" });

async function installationToken(id: number, body: unknown = undefined, s = sim): Promise<string> {
  const j = jwt.sign({ iat: nowS() - 60, exp: nowS() + 540, iss: String(s.app.id) }, s.app.privateKeyPem, { algorithm: "RS256" });
  const res = await fetch(`${s.url}/app/installations/${id}/access_tokens`, { method: "POST", headers: { authorization: `Bearer ${j}` }, ...(body ? { body: JSON.stringify(body) } : {}) });
  if (res.status !== 201) throw new Error(`no token for installation ${id}: ${res.status}`);
  return ((await res.json()) as { token: string }).token;
}

// GitHub's answers are JSON documents whose shape each test asserts on.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;
async function api(method: string, path: string, opts: { body?: unknown; auth?: string | null; s?: Simulator } = {}): Promise<{ status: number; headers: Headers; body: Json }> {
  const s = opts.s ?? sim;
  const auth = opts.auth === undefined ? `Bearer ${token}` : opts.auth;
  const res = await fetch(`${s.url}${path}`, {
    method,
    headers: { accept: "application/vnd.github+json", ...(auth ? { authorization: auth } : {}) },
    ...(opts.body !== undefined ? { body: JSON.stringify(opts.body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : null };
}
async function control(method: string, path: string, body?: unknown, s = sim): Promise<{ status: number; body: Json }> {
  const res = await fetch(`${s.origin}/_simulator${path}`, { method, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
  return { status: res.status, body: await res.json() };
}

let n = 0;
const unique = (stem: string) => `${stem}-${++n}`;
const jit = (name: string, extra: Record<string, unknown> = {}) =>
  api("POST", "/orgs/acme-org/actions/runners/generate-jitconfig", { body: { name, runner_group_id: 2, labels: ["gpu"], ...extra } });

describe("generate-jitconfig", () => {
  test("answers 201 with an offline ephemeral runner and a base64 JSON config naming that runner", async () => {
    const name = unique("jit");
    const res = await jit(name, { labels: ["gpu", "GPU", " linux ", "team-a"], work_folder: "_w" });
    expect(res.status).toBe(201);
    expect(res.body.runner).toEqual({
      id: expect.any(Number),
      name,
      os: "linux",
      status: "offline",
      busy: false,
      ephemeral: true,
      runner_group_id: 2,
      // Exactly the call's labels: trimmed, de-duplicated, nothing added; GitHub's own names are read-only.
      labels: [
        { id: expect.any(Number), name: "gpu", type: "custom" },
        { id: expect.any(Number), name: "linux", type: "read-only" },
        { id: expect.any(Number), name: "team-a", type: "custom" },
      ],
      version: null,
    });
    const files = JSON.parse(Buffer.from(res.body.encoded_jit_config, "base64").toString("utf8"));
    expect(Object.keys(files).sort()).toEqual([".credentials", ".credentials_rsaparams", ".runner"]);
    const runnerFile = JSON.parse(Buffer.from(files[".runner"], "base64").toString("utf8"));
    expect(runnerFile).toMatchObject({ AgentId: res.body.runner.id, AgentName: name, PoolId: 2, WorkFolder: "_w", Ephemeral: true });
    // GitHub now holds the runner; the broker finds it by name.
    const listed = await api("GET", `/orgs/acme-org/actions/runners?name=${name}`);
    expect(listed.body).toEqual({ total_count: 1, runners: [res.body.runner] });
  });

  test("registers a JIT runner with exactly the labels of the call, as GitHub's reference example shows", async () => {
    const res = await jit(unique("exact"), { labels: ["self-hosted", "X64", "macOS", "no-gpu"] });
    expect(res.body.runner.labels.map((l: Json) => [l.name, l.type])).toEqual([["self-hosted", "read-only"], ["X64", "read-only"], ["macOS", "read-only"], ["no-gpu", "custom"]]);
    const bare = await jit(unique("bare"), { labels: ["team-a"] });
    expect(bare.body.runner.labels.map((l: Json) => l.name)).toEqual(["team-a"]);
  });

  test("answers 409 for a name that exists, whatever its case, with GitHub's message", async () => {
    const name = unique("dup");
    expect((await jit(name)).status).toBe(201);
    const again = await jit(name.toUpperCase());
    expect(again.status).toBe(409);
    expect(again.body.message).toBe(`Already exists - A runner with the name ${name.toUpperCase()} already exists.`);
  });

  test("answers 404 for a runner group that does not exist", async () => {
    const res = await jit(unique("nogroup"), { runner_group_id: 99 });
    expect(res.status).toBe(404);
    expect(res.body.message).toBe("Not Found");
  });

  test("answers 422 naming what is wrong with the body, and creates nothing", async () => {
    const before = (await control("GET", "/runners")).body.length;
    const cases: Array<[unknown, string]> = [
      [{ runner_group_id: 1, labels: ["a"] }, "object is missing required key: name"],
      [{ name: "x", labels: ["a"] }, "object is missing required key: runner_group_id"],
      [{ name: "x", runner_group_id: 1 }, "object is missing required key: labels"],
      [{ name: "x", runner_group_id: 1, labels: [] }, "labels must have 1 to 100 items"],
      [{ name: "x", runner_group_id: 1, labels: Array.from({ length: 101 }, (_, i) => `l${i}`) }, "labels must have 1 to 100 items"],
      [{ name: "x".repeat(65), runner_group_id: 1, labels: ["a"] }, "name is longer than 64 characters"],
      [{ name: "x", runner_group_id: "1", labels: ["a"] }, "runner_group_id must be an integer"],
      [{ name: "x", runner_group_id: 1, labels: [""] }, "each label must be a non-empty string"],
      [["not", "an", "object"], "the body must be a JSON object"],
    ];
    for (const [body, message] of cases) {
      const res = await api("POST", "/orgs/acme-org/actions/runners/generate-jitconfig", { body });
      expect(res.status).toBe(422);
      expect(res.body.message).toContain(message);
      expect(res.body.documentation_url).toContain("docs.github.com");
    }
    expect((await control("GET", "/runners")).body.length).toBe(before);
  });
});

describe("who may call", () => {
  test("401 without a token, and for the App's JWT, as GitHub answers", async () => {
    expect((await api("GET", "/orgs/acme-org/actions/runners", { auth: null })).body.message).toBe("Requires authentication");
    const withJwt = await api("GET", "/orgs/acme-org/actions/runners", { auth: `Bearer ${appJwt()}` });
    expect(withJwt.status).toBe(401);
    const revoked = await installationToken(1001);
    await fetch(`${sim.url}/installation/token`, { method: "DELETE", headers: { authorization: `token ${revoked}` } });
    const bad = await api("GET", "/orgs/acme-org/actions/runners", { auth: `token ${revoked}` });
    expect([bad.status, bad.body.message]).toEqual([401, "Bad credentials"]);
  });

  test("403 Resource not accessible by integration for a token without organization_self_hosted_runners", async () => {
    const scoped = await installationToken(1001, { permissions: { contents: "read" } });
    for (const [method, path] of [
      ["GET", "/orgs/acme-org/actions/runners"],
      ["POST", "/orgs/acme-org/actions/runners/registration-token"],
      ["POST", "/orgs/acme-org/actions/runners/generate-jitconfig"],
      ["DELETE", "/orgs/acme-org/actions/runners/1"],
    ] as const) {
      const res = await api(method, path, { auth: `Bearer ${scoped}`, ...(method === "POST" ? { body: {} } : {}) });
      expect(res.status).toBe(403);
      expect(res.body.message).toBe("Resource not accessible by integration");
      expect(res.headers.get("x-accepted-github-permissions")).toBe(`organization_self_hosted_runners=${method === "GET" ? "read" : "write"}`);
    }
  });

  test("read lets a token list and get runners but not create or delete them", async () => {
    const reader = await installationToken(1001, { permissions: { organization_self_hosted_runners: "read" } });
    const seeded = (await control("POST", "/runners/seed", { name: unique("seen"), labels: [], runner_group_id: 1 })).body;
    expect((await api("GET", "/orgs/acme-org/actions/runners", { auth: `token ${reader}` })).status).toBe(200);
    expect((await api("GET", `/orgs/acme-org/actions/runners/${seeded.id}`, { auth: `token ${reader}` })).status).toBe(200);
    expect((await api("POST", "/orgs/acme-org/actions/runners/registration-token", { auth: `token ${reader}` })).status).toBe(403);
    expect((await api("DELETE", `/orgs/acme-org/actions/runners/${seeded.id}`, { auth: `token ${reader}` })).status).toBe(403);
    expect((await api("GET", `/orgs/acme-org/actions/runners/${seeded.id}`)).status).toBe(200);
  });

  test("an installation that lost the permission gets 403 on tokens issued afterwards", async () => {
    const inst = sim.installations.find((i) => i.id === 1003)!;
    const before = { ...inst.permissions };
    try {
      const changed = await control("PUT", "/installations/1003/permissions", { permissions: { metadata: "read" } });
      expect(changed).toEqual({ status: 200, body: { id: 1003, permissions: { metadata: "read" } } });
      const t = await installationToken(1003);
      expect((await api("GET", "/orgs/other-org/actions/runners", { auth: `Bearer ${t}` })).status).toBe(403);
    } finally {
      inst.permissions = before;
    }
  });

  test("a token of one organization gets 403 on another's runners, and 404 for an unknown org or a user", async () => {
    const other = await installationToken(1003);
    const theirs = (await control("POST", "/runners/seed", { name: unique("theirs"), labels: [], runner_group_id: 1, org: "other-org" })).body;
    expect((await api("GET", "/orgs/other-org/actions/runners", { auth: `Bearer ${other}` })).body.runners.map((r: Json) => r.id)).toEqual([theirs.id]);
    expect((await api("GET", "/orgs/other-org/actions/runners")).status).toBe(403);
    expect((await api("DELETE", `/orgs/other-org/actions/runners/${theirs.id}`)).status).toBe(403);
    // Asked through its own org's path, another org's runner does not exist.
    expect((await api("GET", `/orgs/acme-org/actions/runners/${theirs.id}`)).status).toBe(404);
    expect((await api("DELETE", `/orgs/acme-org/actions/runners/${theirs.id}`)).status).toBe(404);
    expect((await api("GET", "/orgs/no-such-org/actions/runners")).status).toBe(404);
    expect((await api("GET", "/orgs/Octo-User/actions/runners")).status).toBe(404);
  });

  test("the org in the path is case-insensitive, as GitHub's is", async () => {
    expect((await api("GET", "/orgs/ACME-ORG/actions/runners")).status).toBe(200);
  });
});

describe("registration tokens", () => {
  test("answer 201 with a token valid for one hour that registers any number of runners (config.sh)", async () => {
    const res = await api("POST", "/orgs/acme-org/actions/runners/registration-token");
    expect(res.status).toBe(201);
    expect(res.body.token).toMatch(/^[A-Z2-7]{29}$/);
    const lifetime = Date.parse(res.body.expires_at) - Date.now();
    expect(lifetime).toBeGreaterThan(3590_000);
    expect(lifetime).toBeLessThanOrEqual(3600_000);

    const first = await control("POST", "/runners/register", { registration_token: res.body.token, name: unique("reg"), labels: ["team-a"] });
    expect(first.status).toBe(201);
    expect(first.body).toMatchObject({ status: "online", busy: false, ephemeral: false, runner_group_id: 1, version: expect.any(String) });
    expect(first.body.labels.map((l: Json) => [l.name, l.type])).toEqual([["self-hosted", "read-only"], ["Linux", "read-only"], ["X64", "read-only"], ["team-a", "custom"]]);
    // The same token registers a second runner, with labels nobody approved: the broker must notice.
    const second = await control("POST", "/runners/register", { registration_token: res.body.token, name: unique("reg"), labels: ["root-access"], ephemeral: true, runner_group_id: 2, status: "offline" });
    expect(second.status).toBe(201);
    expect(second.body).toMatchObject({ status: "offline", ephemeral: true, runner_group_id: 2 });
    expect((await api("GET", `/orgs/acme-org/actions/runners/${second.body.id}`)).body).toEqual(second.body);
  });

  test("an unknown or expired token registers nothing (404, as config.sh is told)", async () => {
    const { body } = await api("POST", "/orgs/acme-org/actions/runners/registration-token");
    expect((await control("POST", "/runners/register", { registration_token: "AAAAAAAAAAAAAAAAAAAAAAAAAAAAA", name: unique("x"), labels: [] })).status).toBe(404);
    sim.setClockOffset(3601);
    try {
      const late = await control("POST", "/runners/register", { registration_token: body.token, name: unique("late"), labels: [] });
      expect(late.status).toBe(404);
      expect(late.body.message).toContain("unknown or expired");
    } finally {
      sim.setClockOffset(0);
    }
  });

  test("registration refuses a taken name (409) and an unknown group (404)", async () => {
    const { body } = await api("POST", "/orgs/acme-org/actions/runners/registration-token");
    const name = unique("taken");
    expect((await control("POST", "/runners/register", { registration_token: body.token, name, labels: [] })).status).toBe(201);
    expect((await control("POST", "/runners/register", { registration_token: body.token, name, labels: [] })).status).toBe(409);
    expect((await control("POST", "/runners/register", { registration_token: body.token, name: unique("g"), labels: [], runner_group_id: 42 })).status).toBe(404);
  });
});

describe("listing", () => {
  test("pages with Link headers and counts every runner in total_count", async () => {
    const s = await startSimulator();
    try {
      const t = await installationToken(1001, undefined, s);
      for (let i = 0; i < 5; i++) await control("POST", "/runners/seed", { name: `r${i}`, labels: ["x"], runner_group_id: i % 2 ? 2 : 1 }, s);
      const names: string[] = [];
      let next: string | undefined = `${s.url}/orgs/acme-org/actions/runners?per_page=2`;
      let pages = 0;
      while (next) {
        const res: Response = await fetch(next, { headers: { authorization: `Bearer ${t}` } });
        const body = (await res.json()) as Json;
        expect(body.total_count).toBe(5);
        names.push(...body.runners.map((r: Json) => r.name));
        if (++pages === 1) expect(res.headers.get("link")).toContain(`<${s.url}/orgs/acme-org/actions/runners?per_page=2&page=3>; rel="last"`);
        next = /<([^>]+)>; rel="next"/.exec(res.headers.get("link") ?? "")?.[1];
      }
      expect([pages, names]).toEqual([3, ["r0", "r1", "r2", "r3", "r4"]]);

      const byName = await api("GET", "/orgs/acme-org/actions/runners?name=R3", { auth: `Bearer ${t}`, s });
      expect(byName.body.runners.map((r: Json) => r.name)).toEqual(["r3"]);
      expect((await api("GET", "/orgs/acme-org/actions/runners?name=nobody", { auth: `Bearer ${t}`, s })).body).toEqual({ total_count: 0, runners: [] });

      const group = await api("GET", "/orgs/acme-org/actions/runner-groups/2/runners?per_page=1", { auth: `Bearer ${t}`, s });
      expect(group.body.total_count).toBe(2);
      expect(group.body.runners.map((r: Json) => r.name)).toEqual(["r1"]);
      expect(group.headers.get("link")).toContain('rel="next"');
      expect((await api("GET", "/orgs/acme-org/actions/runner-groups/77/runners", { auth: `Bearer ${t}`, s })).status).toBe(404);
    } finally {
      await s.close();
    }
  });

  test("lists the runner groups, Default and brokered unless configured otherwise", async () => {
    const groups = await api("GET", "/orgs/acme-org/actions/runner-groups");
    expect(groups.body.runner_groups.map((g: Json) => [g.id, g.name, g.default])).toEqual([[1, "Default", true], [2, "brokered", false]]);
    expect((await api("GET", "/orgs/acme-org/actions/runner-groups/2")).body.name).toBe("brokered");
    const s = await startSimulator({ runnerGroups: [{ id: 1, name: "Default" }, { id: 7, name: "partners" }] });
    try {
      const t = await installationToken(1001, undefined, s);
      const post = (gid: number) => api("POST", "/orgs/acme-org/actions/runners/generate-jitconfig", { auth: `Bearer ${t}`, s, body: { name: `p${gid}`, runner_group_id: gid, labels: ["a"] } });
      expect((await post(7)).status).toBe(201);
      expect((await post(2)).status).toBe(404);
    } finally {
      await s.close();
    }
  });

  test("a group's access settings: Default is open to all repositories, a dedicated group to the selected ones", async () => {
    const s = await startSimulator({ runnerGroups: [{ id: 1, name: "Default" }, { id: 2, name: "brokered" }] });
    try {
      const t = await installationToken(1001, undefined, s);
      const get = async (gid: number) => (await api("GET", `/orgs/acme-org/actions/runner-groups/${gid}`, { auth: `Bearer ${t}`, s })).body;
      const d = await get(1);
      expect([d.visibility, d.allows_public_repositories, d.restricted_to_workflows, "selected_repositories_url" in d]).toEqual(["all", false, false, false]);
      const b = await get(2);
      expect([b.visibility, b.selected_repositories_url]).toEqual(["selected", `${s.url}/orgs/acme-org/actions/runner-groups/2/repositories`]);
      // Someone widens it (PATCH, as the org's settings page does), then narrows it again.
      const wf = "acme-org/api/.github/workflows/ci.yml@refs/heads/main";
      const patched = await api("PATCH", "/orgs/acme-org/actions/runner-groups/2", { auth: `Bearer ${t}`, s, body: { name: "brokered", visibility: "all", allows_public_repositories: true, restricted_to_workflows: true, selected_workflows: [wf] } });
      expect(patched.status).toBe(200);
      expect([patched.body.visibility, patched.body.allows_public_repositories, patched.body.restricted_to_workflows, patched.body.selected_workflows]).toEqual(["all", true, true, [wf]]);
      expect((await get(2)).visibility).toBe("all");
      expect((await api("PATCH", "/orgs/acme-org/actions/runner-groups/2", { auth: `Bearer ${t}`, s, body: { name: "brokered", visibility: "everyone" } })).status).toBe(422);
      expect((await api("PATCH", "/orgs/acme-org/actions/runner-groups/2", { auth: `Bearer ${t}`, s, body: { name: "brokered", selected_workflows: ["ci.yml"] } })).status).toBe(422);
      expect((await api("PATCH", "/orgs/acme-org/actions/runner-groups/2", { auth: `Bearer ${t}`, s, body: { visibility: "selected" } })).status).toBe(422);
      expect((await api("PATCH", "/orgs/acme-org/actions/runner-groups/99", { auth: `Bearer ${t}`, s, body: { name: "x", visibility: "selected" } })).status).toBe(404);
    } finally {
      await s.close();
    }
  });

  test("creates a group (visibility all unless told), sets and lists its repositories", async () => {
    const s = await startSimulator({ runnerGroups: [{ id: 1, name: "Default" }] });
    try {
      const t = await installationToken(1001, undefined, s);
      const call = (method: string, path: string, body?: unknown) => api(method, `/orgs/acme-org/actions/runner-groups${path}`, { auth: `Bearer ${t}`, s, ...(body !== undefined ? { body } : {}) });
      const open = await call("POST", "", { name: "open" });
      expect([open.status, open.body.visibility, open.body.allows_public_repositories]).toEqual([201, "all", false]);
      const made = await call("POST", "", { name: "tenant", visibility: "selected", selected_repository_ids: [9001] });
      expect([made.status, made.body.visibility]).toEqual([201, "selected"]);
      const listed = await call("GET", `/${made.body.id}/repositories`);
      expect(listed.body.repositories.map((r: Json) => r.full_name)).toEqual(["acme-org/api"]);
      expect((await call("PUT", `/${made.body.id}/repositories`, { selected_repository_ids: [9001, 9002] })).status).toBe(204);
      expect((await call("GET", `/${made.body.id}/repositories`)).body.total_count).toBe(2);
    } finally {
      await s.close();
    }
  });

  test("refuses runner groups without a unique positive id", async () => {
    await expect(startSimulator({ runnerGroups: [{ id: 1, name: "a" }, { id: 1, name: "b" }] })).rejects.toThrow("unique positive integer id");
  });
});

describe("get and delete", () => {
  test("gets a runner by id, and 404 for one that does not exist", async () => {
    const seeded = (await control("POST", "/runners/seed", { name: unique("get"), labels: ["a"], runner_group_id: 1 })).body;
    expect((await api("GET", `/orgs/acme-org/actions/runners/${seeded.id}`)).body).toEqual(seeded);
    expect((await api("GET", "/orgs/acme-org/actions/runners/999999")).status).toBe(404);
    expect((await api("GET", "/orgs/acme-org/actions/runners/abc")).status).toBe(404);
  });

  test("deletes an idle runner with 204, refuses a busy one with 422, and 404 for an unknown one", async () => {
    const r = (await jit(unique("del"))).body.runner;
    expect((await control("POST", `/runners/${r.id}/job`)).status).toBe(409); // offline: not connected yet
    const busy = (await control("POST", "/runners/seed", { name: unique("busy"), labels: ["a"], runner_group_id: 2, busy: true })).body;
    const refused = await api("DELETE", `/orgs/acme-org/actions/runners/${busy.id}`);
    expect(refused.status).toBe(422);
    expect(refused.body.message).toBe(`Bad request - Runner "${busy.name}" is still running a job`);

    const gone = await api("DELETE", `/orgs/acme-org/actions/runners/${r.id}`);
    expect([gone.status, gone.body]).toEqual([204, null]);
    expect((await api("GET", `/orgs/acme-org/actions/runners/${r.id}`)).status).toBe(404);
    expect((await api("DELETE", `/orgs/acme-org/actions/runners/${r.id}`)).status).toBe(404);
  });
});

describe("the runner's side (control endpoints)", () => {
  test("a JIT config connects once: online, then 409; after its runner is deleted, 404", async () => {
    const { body } = await jit(unique("conn"));
    const online = await control("POST", "/runners/connect", { encoded_jit_config: body.encoded_jit_config });
    expect(online.status).toBe(200);
    expect(online.body).toMatchObject({ id: body.runner.id, status: "online", version: expect.any(String) });
    expect((await control("POST", "/runners/connect", { encoded_jit_config: body.encoded_jit_config })).status).toBe(409);

    const other = (await jit(unique("conn"))).body;
    expect((await api("DELETE", `/orgs/acme-org/actions/runners/${other.runner.id}`)).status).toBe(204);
    expect((await control("POST", "/runners/connect", { encoded_jit_config: other.encoded_jit_config })).status).toBe(404);
    // A config the simulator never issued, however well-formed, connects nothing.
    const forged = Buffer.from(JSON.stringify({ ".runner": "e30=", ".credentials": "e30=", ".credentials_rsaparams": "e30=" })).toString("base64");
    expect((await control("POST", "/runners/connect", { encoded_jit_config: forged })).status).toBe(404);
    expect((await control("POST", "/runners/connect", {})).status).toBe(400);
  });

  test("a JIT runner takes one job, goes busy, and is removed when it finishes", async () => {
    const { body } = await jit(unique("job"));
    await control("POST", "/runners/connect", { encoded_jit_config: body.encoded_jit_config });
    const busy = await control("POST", `/runners/${body.runner.id}/job`);
    expect(busy.body).toMatchObject({ busy: true, status: "online" });
    expect((await api("GET", `/orgs/acme-org/actions/runners/${body.runner.id}`)).body.busy).toBe(true);
    expect((await control("POST", `/runners/${body.runner.id}/job`)).status).toBe(409);
    const done = await control("POST", `/runners/${body.runner.id}/job/finish`);
    expect(done).toEqual({ status: 200, body: { id: body.runner.id, removed: true } });
    expect((await api("GET", `/orgs/acme-org/actions/runners/${body.runner.id}`)).status).toBe(404);
  });

  test("a long-lived runner goes idle after its job, and offline and online again", async () => {
    const r = (await control("POST", "/runners/seed", { name: unique("long"), labels: ["a"], runner_group_id: 2 })).body;
    expect(r).toMatchObject({ status: "online", busy: false, ephemeral: false });
    await control("POST", `/runners/${r.id}/job`);
    expect((await control("POST", `/runners/${r.id}/job/finish`)).body).toMatchObject({ id: r.id, busy: false });
    expect((await control("POST", `/runners/${r.id}/job/finish`)).status).toBe(409);
    expect((await control("POST", `/runners/${r.id}/offline`)).body.status).toBe("offline");
    expect((await api("GET", `/orgs/acme-org/actions/runners/${r.id}`)).body.status).toBe("offline");
    expect((await control("POST", `/runners/${r.id}/online`)).body.status).toBe("online");
    expect((await control("POST", "/runners/424242/offline")).status).toBe(404);
  });

  test("GitHub can remove a runner on its own, busy or not", async () => {
    const r = (await control("POST", "/runners/seed", { name: unique("vanish"), labels: [], runner_group_id: 2, busy: true })).body;
    const res = await fetch(`${sim.origin}/_simulator/runners/${r.id}`, { method: "DELETE" });
    expect(res.status).toBe(204);
    expect((await api("GET", `/orgs/acme-org/actions/runners/${r.id}`)).status).toBe(404);
    expect((await fetch(`${sim.origin}/_simulator/runners/${r.id}`, { method: "DELETE" })).status).toBe(404);
  });

  test("seeds pre-existing runners, offline or busy, in any organization, and lists everything", async () => {
    const offline = await control("POST", "/runners/seed", { name: unique("old"), labels: ["legacy"], runner_group_id: 1, status: "offline" });
    expect(offline.status).toBe(201);
    expect(offline.body).toMatchObject({ status: "offline", version: null });
    const theirs = (await control("POST", "/runners/seed", { name: unique("old"), labels: [], runner_group_id: 1, org: "other-org", busy: true })).body;
    const all = (await control("GET", "/runners")).body as Json[];
    expect(all.map((r) => r.id)).toEqual(expect.arrayContaining([offline.body.id, theirs.id]));
    expect(all.find((r) => r.id === theirs.id)).toEqual(theirs);
    expect((await control("POST", "/runners/seed", { name: "x", labels: [], org: "no-such-org" })).status).toBe(404);
    expect((await control("POST", "/runners/seed", { name: "", labels: [] })).status).toBe(400);
    expect((await control("POST", "/runners/seed", { name: "y", labels: [], status: "asleep" })).status).toBe(400);
  });

  test("the in-process API does what the control endpoints do", async () => {
    const r = sim.runners.seed({ name: unique("inproc"), labels: ["a"], runner_group_id: 2 });
    expect(sim.runners.startJob(r.id).busy).toBe(true);
    expect(sim.runners.get(r.id)?.busy).toBe(true);
    expect(() => sim.runners.seed({ name: r.name, labels: [] })).toThrow("Already exists");
  });
});

describe("GitHub's ways", () => {
  test("faults apply to runner paths: a 503 and a dropped connection, then it recovers", async () => {
    sim.inject({ kind: "status", status: 503, match: { path: "/actions/runners" } }, { kind: "drop", match: { path: "generate-jitconfig" } });
    expect((await api("GET", "/orgs/acme-org/actions/runners")).status).toBe(503);
    const dropped = await jit(unique("drop")).then(() => null, (e: { code?: string }) => e);
    expect(dropped?.code).toBe("ECONNRESET");
    expect((await api("GET", "/orgs/acme-org/actions/runners")).status).toBe(200);
  });

  test("serves the runner endpoints under /api/v3 as GitHub Enterprise Server", async () => {
    const ghes = await startSimulator({ prefix: "/api/v3" });
    try {
      const t = await installationToken(1001, undefined, ghes);
      expect((await api("POST", "/orgs/acme-org/actions/runners/registration-token", { auth: `Bearer ${t}`, s: ghes })).status).toBe(201);
      expect((await fetch(`${ghes.origin}/orgs/acme-org/actions/runners`, { headers: { authorization: `Bearer ${t}` } })).status).toBe(404);
    } finally {
      await ghes.close();
    }
  });

  test("keeps no JIT config or registration token where anyone can read it", async () => {
    const { body } = await jit(unique("secret"));
    const reg = (await api("POST", "/orgs/acme-org/actions/runners/registration-token")).body.token as string;
    const readable = await Promise.all(["/runners", "/state"].map(async (p) => (await fetch(`${sim.origin}/_simulator${p}`)).text()));
    readable.push(JSON.stringify((await api("GET", "/orgs/acme-org/actions/runners?per_page=100")).body), JSON.stringify(sim.runners.list()));
    for (const text of readable) {
      expect(text).not.toContain(body.encoded_jit_config);
      expect(text).not.toContain(reg);
    }
  });
});
