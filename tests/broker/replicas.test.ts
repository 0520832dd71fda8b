// Three compiled brokers on one real PostgreSQL server: the quota holds across replicas, one
// replica syncs at a time and another takes over when it dies, and a broker killed in the middle
// of a provision leaves no runner at GitHub that the database does not know.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { startPostgres, type PostgresServer } from "../helpers/postgres.ts";
import { expectNoSecrets } from "../helpers/secrets.ts";
import { ADMIN, ALICE, eventually, policy, runBroker, startBroker, startWorld, type Broker, type World } from "./harness.ts";

let pg: PostgresServer;
let w: World;
let dbUrl: string;
let brokers: Broker[] = [];
let admin: string;
const handedOut: string[] = [];

const syncsIn = (b: Broker) => (b.logs().match(/"message":"sync done"/g) ?? []).length;

beforeAll(async () => {
  pg = await startPostgres({ fsync: false });
  w = await startWorld();
  dbUrl = await pg.createDatabase("replicas");
  const env = w.env({ DATABASE_URL: dbUrl, SYNC_INTERVAL: "1s", CALLER_RATE_LIMIT: "10000", REQUEST_TIMEOUT: "1s" });
  brokers = await Promise.all([0, 1, 2].map(() => startBroker(env)));
  admin = await w.token(ADMIN);
  expect((await brokers[0]!.call("POST", "/api/v1/admin/label-policies", { token: admin, body: policy(ALICE, { max_runners: 5 }) })).status).toBe(201);
}, 60_000);
afterAll(async () => {
  await Promise.all(brokers.map((b) => b.stop("SIGKILL").catch(() => undefined)));
  await w?.close();
  await pg?.stop();
});

describe("three replicas on one PostgreSQL", () => {
  test("50 concurrent provisions by one identity with max_runners 5 give exactly 5 runners", async () => {
    const token = await w.token(ALICE);
    const answers = await Promise.all(
      Array.from({ length: 50 }, (_, i) => brokers[i % 3]!.call("POST", "/api/v1/runners/provision", { token, body: { runner_name: `q-${i}`, labels: ["team-a"] } })),
    );
    const statuses = answers.map((a) => a.status);
    expect(statuses.filter((s) => s === 201).length).toBe(5);
    expect(statuses.filter((s) => s === 403).length).toBe(45);
    for (const a of answers) if (a.status === 201) handedOut.push(a.json.encoded_jit_config);
    const atGitHub = w.sim.runners.list().filter((r) => r.name.startsWith("q-"));
    expect(atGitHub.length).toBe(5);
    const listed = (await brokers[1]!.call("GET", "/api/v1/runners", { token })).json.runners;
    expect(listed.map((r: any) => r.runner_name).sort()).toEqual(atGitHub.map((r) => r.name).sort());
  }, 60_000);

  test("only one replica syncs at a time, and another takes over when it is killed", async () => {
    await Bun.sleep(3000);
    const before = brokers.map(syncsIn);
    await Bun.sleep(3000);
    const during = brokers.map((b, i) => syncsIn(b) - before[i]!);
    expect(during.filter((n) => n > 0).length).toBe(1);
    const leader = during.findIndex((n) => n > 0);
    await brokers[leader]!.stop("SIGKILL");
    const rest = brokers.filter((_, i) => i !== leader);
    const base = rest.map(syncsIn);
    // The lease lives max(3 × SYNC_INTERVAL, 5 s): a survivor takes over once it expires.
    await eventually(() => rest.some((b, i) => syncsIn(b) > base[i]!), 15_000, "a survivor syncing");
    const mid = rest.map(syncsIn);
    await Bun.sleep(3000);
    expect(rest.filter((b, i) => syncsIn(b) > mid[i]!).length).toBe(1);
    brokers = rest;
  }, 40_000);

  test("a broker killed with SIGKILL mid-provision leaves no runner at GitHub the database does not know", async () => {
    // Room under the quota for one more.
    const token = await w.token(ALICE);
    const victimName = (await brokers[0]!.call("GET", "/api/v1/runners", { token })).json.runners[0].runner_name;
    expect((await brokers[0]!.call("DELETE", `/api/v1/runners/${victimName}`, { token })).status).toBe(204);
    const env = brokers[0]!.env;
    const doomed = await startBroker(env);
    w.sim.inject({ kind: "delay", ms: 1500, match: { path: "generate-jitconfig" }, times: 1 });
    const inFlight = doomed.call("POST", "/api/v1/runners/provision", { token, body: { runner_name: "killed-1", labels: ["team-a"] } }).catch(() => undefined);
    await Bun.sleep(500);
    await doomed.stop("SIGKILL");
    await inFlight;
    // GitHub creates the runner after the broker died: nobody ever received its JIT config.
    const orphan = await eventually(() => w.sim.runners.list().find((r) => r.name === "killed-1"), 5000, "runner created at GitHub");
    // After the next sync every runner in the broker's group is one the database knows...
    await Bun.sleep(2500);
    const known = JSON.parse((await runBroker(["list-runners", "--json"], env)).stdout) as Array<{ runner_name: string }>;
    for (const r of w.sim.runners.list().filter((x) => x.runner_group_id === 2)) expect(known.map((k) => k.runner_name)).toContain(r.name);
    // ...and once the provision is surely dead, the orphan is removed at GitHub and its name freed.
    await eventually(() => w.sim.runners.get(orphan.id) === undefined, 30_000, "orphan removed");
    const audit = (await brokers[0]!.call("GET", "/api/v1/admin/audit-log?user=system&limit=1000", { token: admin })).json.records;
    expect(audit.some((a: any) => a.runner_name === "killed-1" && a.action === "verify.abandoned_provision")).toBe(true);
  }, 60_000);

  test("no JIT config or installation token is in a dump of the database", async () => {
    const dump = await pg.dump(dbUrl);
    expect(dump).toContain("q-");
    expectNoSecrets(dump, [...handedOut, ...w.sim.tokens.keys()]);
  });
});
