// The sync lease's heartbeat, with two SyncLoops (two replicas) on one SQLite database and a sync
// stand-in that records when each replica's rounds run: a round longer than the lease's life does
// not let the other replica in, and a replica that stops hands the work over at once rather than
// after the lease expires. (Takeover from a replica killed outright: sync-takeover.test.ts.)
import { afterEach, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createLogger } from "../../generator/src/core/logger.ts";
import { BrokerMetrics } from "../../generator/src/broker/metrics.ts";
import { SqliteStorage } from "../../generator/src/broker/storage/sqlite.ts";
import { SYNC_LEASE, SyncLoop, type Sync } from "../../generator/src/broker/sync.ts";

interface Round {
  who: string;
  start: number;
  end: number;
}

const dirs: string[] = [];
const replicas: Array<{ loop: SyncLoop; storage: SqliteStorage }> = [];
afterEach(async () => {
  await Promise.all(replicas.map((r) => r.loop.stop()));
  await Promise.all(replicas.splice(0).map((r) => r.storage.close()));
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A replica: its own storage handle on the shared file, and a sync whose first round lasts `firstRoundMs` (later ones 50 ms) without asking stillLeader. */
function replica(file: string, who: string, rounds: Round[], firstRoundMs: number) {
  const storage = SqliteStorage.open(file);
  let n = 0;
  const sync = {
    async run() {
      const start = Date.now();
      await Bun.sleep(n++ === 0 ? firstRoundMs : 50);
      rounds.push({ who, start, end: Date.now() });
      return { groups: [], seen: 0, statusChanges: 0, removed: [], deleted: 0 };
    },
  } as unknown as Sync;
  // SYNC_INTERVAL 1 s: the lease lives 5 s, the heartbeat is 1 s.
  const loop = new SyncLoop(sync, storage, who, 1000, new BrokerMetrics(), createLogger("error", {}));
  replicas.push({ loop, storage });
  return { loop, storage };
}

async function database(): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), "sync-loop-"));
  dirs.push(dir);
  const file = join(dir, "broker.db");
  const s = SqliteStorage.open(file);
  await s.migrate();
  await s.close();
  return file;
}

async function until<T>(check: () => Promise<T | null | undefined | false>, ms: number, what: string): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(50);
  }
}

test("a round longer than the lease's life keeps the lease: the other replica never runs a round meanwhile", async () => {
  const file = await database();
  const rounds: Round[] = [];
  const a = replica(file, "a", rounds, 7000);
  const b = replica(file, "b", rounds, 100);
  expect(a.loop.leaseTtlMs).toBe(5000);
  a.loop.start();
  await until(async () => (await a.storage.getLease(SYNC_LEASE))?.holder === "a", 10_000, "a holding the lease");
  b.loop.start();
  await until(async () => rounds.some((r) => r.who === "a"), 20_000, "a's long round ending");
  const first = rounds.find((r) => r.who === "a")!;
  // b ran nothing while a's round ran, although it outlasted the lease's 5 s life.
  expect(rounds.filter((r) => r.who === "b" && r.end > first.start && r.start < first.end)).toEqual([]);
  expect((await b.storage.getLease(SYNC_LEASE))?.holder).toBe("a");
}, 30_000);

test("a replica that stops releases the lease, and the other takes over at its next heartbeat, not after expiry", async () => {
  const file = await database();
  const rounds: Round[] = [];
  const a = replica(file, "a", rounds, 50);
  const b = replica(file, "b", rounds, 50);
  a.loop.start();
  await until(async () => (await a.storage.getLease(SYNC_LEASE))?.holder === "a", 10_000, "a holding the lease");
  b.loop.start();
  await Bun.sleep(1500);
  await a.loop.stop();
  const stoppedAt = Date.now();
  await until(async () => (await b.storage.getLease(SYNC_LEASE))?.holder === "b", 10_000, "b taking the lease");
  const tookMs = Date.now() - stoppedAt;
  await until(async () => rounds.some((r) => r.who === "b"), 10_000, "b's first round");
  // The heartbeat is 1 s and the lease would have lived 5 s more: well under that.
  expect(tookMs).toBeLessThan(4000);
  expect(rounds.filter((r) => r.who === "b" && r.start < stoppedAt)).toEqual([]);
}, 30_000);
