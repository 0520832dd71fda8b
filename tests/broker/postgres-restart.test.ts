// PostgreSQL crashes and comes back while three compiled brokers serve callers: the brokers
// reconnect on their own (no restart of theirs), /ready says "database" while it is down and
// recovers once it is back (/health stays 200, so a liveness probe does not restart a broker for
// its database's sake), callers see only 503 with Retry-After meanwhile, every provision answered
// 201 is still in the database afterwards, and the sync resumes on one replica.
//
// The server is stopped with an immediate shutdown (a crash: the next start recovers from the
// WAL) and runs with fsync and synchronous commit on, as production does, so "still there" means
// what a committed transaction means.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { SQL } from "bun";
import { startPostgres, type PostgresServer } from "../helpers/postgres.ts";
import { ADMIN, ALICE, eventually, policy, startBroker, startWorld, type Broker, type World } from "./harness.ts";
import { LoadBalancer, provisionLoad, RetryingCaller, summary } from "./retrying-caller.ts";

let pg: PostgresServer;
let w: World;
let dbUrl: string;
let brokers: Broker[] = [];

const syncsIn = (b: Broker) => (b.logs().match(/"message":"sync done"/g) ?? []).length;

beforeAll(async () => {
  pg = await startPostgres();
  w = await startWorld();
  dbUrl = await pg.createDatabase("restart");
  const env = w.env({ DATABASE_URL: dbUrl, SYNC_INTERVAL: "1s", CALLER_RATE_LIMIT: "100000", REQUEST_TIMEOUT: "2s" });
  brokers = await Promise.all([0, 1, 2].map(() => startBroker(env, ["serve"], 30_000)));
  const admin = await w.token(ADMIN);
  expect((await brokers[0]!.call("POST", "/api/v1/admin/label-policies", { token: admin, body: policy(ALICE, { max_runners: 10_000 }) })).status).toBe(201);
}, 90_000);
afterAll(async () => {
  await Promise.all(brokers.map((b) => b.stop("SIGKILL").catch(() => undefined)));
  await w?.close();
  await pg?.stop();
});

test("a PostgreSQL crash and restart: brokers reconnect, /ready follows the database, callers only retry 503s, nothing committed is lost", async () => {
  const token = await w.token(ALICE, { expires_in: 3600 });
  const caller = new RetryingCaller(new LoadBalancer(brokers.map((b) => b.url)), () => token);
  const before = await Promise.all([1, 2, 3].map(() => caller.provision("before-")));
  expect(before.map((o) => o.status)).toEqual([201, 201, 201]);

  const load = provisionLoad(caller, 3, "during-");
  await eventually(() => load.outcomes.length >= 6, 30_000, "provisions before the crash");
  await pg.stopServer("immediate");
  const downAt = Date.now();

  // Down: every replica says why it is not ready, and stays alive.
  for (const b of brokers) {
    const ready = await eventually(async () => {
      const r = await b.call("GET", "/ready");
      return r.status === 503 && r;
    }, 30_000, "/ready 503 while the database is down");
    expect(ready.text).toContain("database");
    expect((await b.call("GET", "/health")).status).toBe(200);
  }
  const unreadyAfterMs = Date.now() - downAt;
  // Callers meet the outage (503 + Retry-After) for a few seconds.
  await Bun.sleep(Math.max(0, 3000 - (Date.now() - downAt)));
  await pg.startServer();
  const upAt = Date.now();
  for (const b of brokers) await eventually(async () => (await b.call("GET", "/ready")).status === 200, 30_000, "/ready 200 once the database is back");
  const readyAfterMs = Date.now() - upAt;
  const served = load.outcomes.length;
  await eventually(() => load.outcomes.length >= served + 6, 30_000, "provisions after the restart");
  const outcomes = await load.stop();

  const s = summary(outcomes);
  console.log(`postgres restart: ${JSON.stringify(s)}; all replicas unready ${unreadyAfterMs} ms after the crash, ready ${readyAfterMs} ms after the database was back`);
  expect(brokers.flatMap((b) => b.logs().split("\n").filter((l) => l.includes("unexpected error")))).toEqual([]);
  expect(s.failures).toEqual([]);
  expect(s.succeeded).toBe(s.requests);
  expect(s.retriedAfter503).toBeGreaterThan(0); // the callers did meet the outage
  // The operator's side of those 503s: a log line saying why, never the database's password.
  expect(brokers.some((b) => b.logs().includes('"message":"database unavailable; answered 503"'))).toBe(true);
  for (const b of brokers) expect(b.logs()).not.toContain(pg.password);

  // Nothing committed is lost: every runner a caller received, and its audit record, is there.
  const handedOut = [...before, ...outcomes].map((o) => o.json.runner_name as string);
  const sql = new SQL(dbUrl, { max: 1 });
  try {
    const rows = (await sql`SELECT name FROM runners WHERE status <> 'deleted'`) as Array<{ name: string }>;
    const audited = (await sql`SELECT runner_name FROM audit_log WHERE action = 'runner.provision' AND result = 'success'`) as Array<{ runner_name: string }>;
    const names = new Set(rows.map((r) => r.name));
    const auditedNames = new Set(audited.map((r) => r.runner_name));
    expect(handedOut.filter((n) => !names.has(n))).toEqual([]);
    expect(handedOut.filter((n) => !auditedNames.has(n))).toEqual([]);
  } finally {
    await sql.close();
  }
  // And the brokers read it back through the API.
  const listed = new Set(((await brokers[2]!.call("GET", "/api/v1/runners", { token })).json.runners as Array<{ runner_name: string }>).map((r) => r.runner_name));
  expect(handedOut.filter((n) => !listed.has(n))).toEqual([]);

  // The background sync resumed, on one replica.
  const base = brokers.map(syncsIn);
  await eventually(() => brokers.some((b, i) => syncsIn(b) > base[i]!), 30_000, "a sync after the restart");
  const mid = brokers.map(syncsIn);
  await Bun.sleep(3000);
  expect(brokers.filter((b, i) => syncsIn(b) > mid[i]!).length).toBe(1);
  // No broker process restarted: the ones that started are the ones still serving.
  for (const b of brokers) expect(b.proc.exitCode).toBeNull();
}, 180_000);
