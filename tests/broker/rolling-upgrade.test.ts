// A rolling upgrade with a schema migration while callers keep provisioning: three compiled brokers
// of this release on one PostgreSQL are replaced, the way a Deployment's rollout replaces pods, by
// three of "the next release", which adds a migration; callers going through a load-balancer
// stand-in never see a failure beyond the retries they are told to make.
//
// There is no second release to upgrade to, so the test builds one: this source, copied, with one
// more migration file listed in migrations/index.ts, compiled with ci/build.ts's configuration
// (upgraded-broker.ts). The shipped broker carries no test hook for it; the next release's
// replicas run the real migration runner at start against the real database while this release's
// replicas keep serving from it.
//
// The rollout: the first two new replicas start TOGETHER (a rollout with maxSurge 2, or two pods
// rescheduled at once), so both run the migration runner at the same moment. The added migration
// sleeps 2 s inside its transaction and is not idempotent (ADD COLUMN), so if the runner did not
// serialise replicas, both would apply it and one would fail to start; the test also counts the
// applications (upgrade_probe, schema_migrations). Each old replica then gets SIGTERM and leaves
// the load balancer 300 ms later (Kubernetes removes a terminating pod's endpoint while the
// signal is delivered, not before), so callers may meet a refused connection: the stand-in's
// callers retry those on the next replica, and 503s with Retry-After, and nothing else.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { SQL } from "bun";
import { startPostgres, type PostgresServer } from "../helpers/postgres.ts";
import { ADMIN, ALICE, eventually, policy, runBroker, startBroker, startWorld, type Broker, type World } from "./harness.ts";
import { LoadBalancer, provisionLoad, RetryingCaller, summary } from "./retrying-caller.ts";
import { buildUpgradedBroker, type UpgradedBroker } from "./upgraded-broker.ts";

let pg: PostgresServer;
let w: World;
let dbUrl: string;
let env: Record<string, string>;
let next: UpgradedBroker | undefined;
const all: Broker[] = [];

beforeAll(async () => {
  [pg, w, next] = await Promise.all([startPostgres({ fsync: false }), startWorld(), buildUpgradedBroker()]);
  dbUrl = await pg.createDatabase("upgrade");
  env = w.env({ DATABASE_URL: dbUrl, SYNC_INTERVAL: "1s", CALLER_RATE_LIMIT: "100000", REQUEST_TIMEOUT: "2s" });
}, 120_000);
afterAll(async () => {
  await Promise.all(all.map((b) => b.stop("SIGKILL").catch(() => undefined)));
  await w?.close();
  await pg?.stop();
  next?.remove();
});

const ready = (b: Broker) => eventually(async () => (await b.call("GET", "/ready")).status === 200, 30_000, "/ready 200");

test("three replicas are replaced by a release with a new migration while callers provision: no failure beyond the retries they are told to make", async () => {
  const old = await Promise.all([0, 1, 2].map(() => startBroker(env, ["serve"], 30_000)));
  all.push(...old);
  const admin = await w.token(ADMIN);
  expect((await old[0]!.call("POST", "/api/v1/admin/label-policies", { token: admin, body: policy(ALICE, { max_runners: 10_000 }) })).status).toBe(201);
  const token = await w.token(ALICE, { expires_in: 3600 });
  const lb = new LoadBalancer(old.map((b) => b.url));
  const load = provisionLoad(new RetryingCaller(lb, () => token), 3, "up-");
  await eventually(() => load.outcomes.length >= 6, 30_000, "provisions before the upgrade");

  const retire = async (b: Broker) => {
    const exited = b.stop("SIGTERM");
    await Bun.sleep(300);
    lb.remove(b.url);
    return exited;
  };
  // Surge: two replicas of the next release start together, each migrating at start.
  const fresh = await Promise.all([0, 1].map(() => startBroker(env, ["serve"], 60_000, next!.path)));
  all.push(...fresh);
  for (const b of fresh) {
    await ready(b);
    lb.add(b.url);
  }
  const exits: number[] = await Promise.all([retire(old[0]!), retire(old[1]!)]);
  const last = await startBroker(env, ["serve"], 60_000, next!.path);
  all.push(last);
  await ready(last);
  lb.add(last.url);
  exits.push(await retire(old[2]!));
  const served = load.outcomes.length;
  await eventually(() => load.outcomes.length >= served + 6, 30_000, "provisions after the upgrade");
  const outcomes = await load.stop();

  const s = summary(outcomes);
  console.log(`rolling upgrade: ${JSON.stringify(s)}`);
  // A 500's cause is in its replica's log: shown first, it names what broke.
  expect(all.flatMap((b) => b.logs().split("\n").filter((l) => l.includes("unexpected error")))).toEqual([]);
  expect(s.failures).toEqual([]);
  expect(s.succeeded).toBe(s.requests);
  // The old replicas stopped cleanly (requests in flight finished, the sync lease released).
  expect(exits).toEqual([0, 0, 0]);

  const sql = new SQL(dbUrl, { max: 1 });
  try {
    // Applied exactly once, by one replica, although two ran the migration runner together.
    const applied = (await sql`SELECT version FROM schema_migrations WHERE version = ${next!.version}`) as unknown[];
    expect(applied.length).toBe(1);
    expect(((await sql`SELECT applied_by FROM upgrade_probe`) as unknown[]).length).toBe(1);
    // Every runner a caller received is in the database.
    const names = new Set(((await sql`SELECT name FROM runners WHERE status <> 'deleted'`) as Array<{ name: string }>).map((r) => r.name));
    expect(outcomes.map((o) => o.json.runner_name as string).filter((n) => !names.has(n))).toEqual([]);
  } finally {
    await sql.close();
  }
  // The previous release now refuses the upgraded database rather than run on a schema it does not know.
  const rollback = await runBroker(["init-db"], env);
  expect(rollback.code).toBe(2);
  expect(rollback.stderr).toContain("newer than this broker knows");
}, 240_000);
