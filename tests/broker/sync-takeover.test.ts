// Background work (the sync and its clean-up) runs on exactly one of three compiled brokers, and
// when that replica is killed outright (SIGKILL: no lease released) another takes over within
// seconds, with the default SYNC_INTERVAL of one minute: the lease is a heartbeat (5 s) that lives
// 15 s, apart from the sync's interval. What an operator sees is what is asserted: each replica's
// ghapp_broker_sync_leader gauge, sampled throughout, its "sync lease taken" and "sync done" log
// lines, and the lease row.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { SQL } from "bun";
import { startPostgres, type PostgresServer } from "../helpers/postgres.ts";
import { eventually, logLines, startBroker, startWorld, type Broker, type World } from "./harness.ts";

let pg: PostgresServer;
let w: World;
let dbUrl: string;
let brokers: Broker[] = [];

beforeAll(async () => {
  pg = await startPostgres({ fsync: false });
  w = await startWorld();
  dbUrl = await pg.createDatabase("takeover");
  const env = w.env({ DATABASE_URL: dbUrl, SYNC_INTERVAL: "1m" });
  brokers = await Promise.all([0, 1, 2].map(() => startBroker(env, ["serve"], 30_000)));
}, 90_000);
afterAll(async () => {
  await Promise.all(brokers.map((b) => b.stop("SIGKILL").catch(() => undefined)));
  await w?.close();
  await pg?.stop();
});

const isLeader = async (b: Broker): Promise<boolean | undefined> => {
  if (b.proc.exitCode !== null || b.proc.signalCode) return undefined;
  const r = await b.call("GET", "/metrics").catch(() => undefined);
  const m = r && /^ghapp_broker_sync_leader (\d+)/m.exec(r.text);
  return m ? m[1] === "1" : undefined;
};
const logged = (b: Broker, message: string) => logLines(b.logs()).filter((l) => l.message === message);

test("one replica does the background work; killed with SIGKILL, another takes over within seconds and only it", async () => {
  // Sample every replica's leader gauge from now on: never two at once.
  const samples: number[] = [];
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      const flags = await Promise.all(brokers.map(isLeader));
      samples.push(flags.filter((f) => f === true).length);
      await Bun.sleep(200);
    }
  })();

  const leader = await eventually(async () => {
    const flags = await Promise.all(brokers.map(isLeader));
    return flags.filter(Boolean).length === 1 && brokers[flags.indexOf(true)]!;
  }, 30_000, "one leader");
  await eventually(() => logged(leader, "sync done").length > 0, 30_000, "the leader's first sync");
  await Bun.sleep(6000);
  const survivors = brokers.filter((b) => b !== leader);
  for (const b of survivors) expect(logged(b, "sync done")).toEqual([]);

  await leader.stop("SIGKILL");
  const killedAt = Date.now();
  const next = await eventually(async () => {
    for (const b of survivors) if ((await isLeader(b)) === true) return b;
    return undefined;
  }, 60_000, "a survivor taking the lease");
  const takeoverMs = Date.now() - killedAt;
  await eventually(() => logged(next, "sync done").length > 0, 30_000, "the new leader's first sync");
  await Bun.sleep(6000);
  sampling = false;
  await sampler;
  console.log(`sync takeover after SIGKILL of the leader: ${takeoverMs} ms (lease 15 s, heartbeat 5 s); ${samples.length} samples`);

  // Within the lease's life and one heartbeat (15 s + 5 s), with room for a loaded machine.
  expect(takeoverMs).toBeLessThan(30_000);
  expect(Math.max(...samples)).toBe(1);
  // Only the new leader syncs among the survivors, and the lease changed hands exactly once.
  const other = survivors.find((b) => b !== next)!;
  expect(logged(other, "sync done")).toEqual([]);
  expect(logged(other, "sync lease taken")).toEqual([]);
  const taken = logged(next, "sync lease taken");
  expect(taken.length).toBe(1);
  const sql = new SQL(dbUrl, { max: 1 });
  try {
    const [lease] = (await sql`SELECT holder, generation FROM leases WHERE name = 'github-sync'`) as Array<{ holder: string; generation: string | number }>;
    expect(lease!.holder).toBe(String(taken[0]!.holder));
    expect(Number(lease!.generation)).toBe(2);
  } finally {
    await sql.close();
  }
}, 150_000);
