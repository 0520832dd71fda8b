// `npm run bench` (storage): the broker's hot write, a quota reservation and its audit record in
// one transaction, timed on PostgreSQL through Bun.SQL and through postgres.js (the measurement
// behind the driver choice, docs/runner-broker-storage.md), with SQLite beside them for scale.
// A throwaway PostgreSQL server (fsync on, as in production) runs on loopback. Prints figures;
// never fails on them.
import postgres from "postgres";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PostgresStorage, type PgConnection, type PgDriver } from "../../generator/src/broker/storage/postgres.ts";
import { SqliteStorage } from "../../generator/src/broker/storage/sqlite.ts";
import type { Storage } from "../../generator/src/broker/storage/storage.ts";
import { startPostgres } from "../helpers/postgres.ts";

const TRANSACTIONS = Number(process.env.BENCH_STORAGE_TX ?? 2000);
const CONCURRENCY = 16;
const REPLICAS = 3;

/** postgres.js behind the same PgDriver seam Bun.SQL uses in the product. */
function postgresJsDriver(url: string, max: number, settings: Record<string, string>): PgDriver {
  const sql = postgres(url, { max, onnotice: () => {}, idle_timeout: 60, connect_timeout: 10, connection: settings });
  const connection = (handle: postgres.Sql | postgres.TransactionSql): PgConnection => ({
    query: async (text, params) => [...(await handle.unsafe(text, params as postgres.ParameterOrJSON<never>[], { prepare: true }))],
    script: async (text) => void (await handle.unsafe(text)),
  });
  return { name: "postgres.js", begin: (fn) => sql.begin((tx) => fn(connection(tx))) as Promise<never>, pool: connection(sql), close: () => sql.end({ timeout: 5 }) };
}

let serial = 0;
/** One provision's storage work: reserve the name under the identity's quota, audit it, together. */
function reserveAndAudit(storage: Storage): Promise<unknown> {
  const n = ++serial;
  const identity = `repo:acme/app-${n % 50}:ref:refs/heads/main`;
  return storage.transaction(async (tx) => {
    const r = await tx.reserveRunner({ name: `bench-${n}`, provisionedBy: identity, labels: ["self-hosted", "linux"], ephemeral: true, mode: "jit", runnerGroupId: 2, maxRunners: 1_000_000 });
    if (!r.ok) throw new Error(`reservation refused: ${r.reason}`);
    await tx.appendAudit({ actor: identity, action: "runner.provision", result: "success", runnerName: r.runner.name, details: { mode: "jit" } });
  });
}

const q = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))]!;

/** `count` transactions with `concurrency` in flight spread over the handles; latency of each and the rate overall. */
async function run(handles: Storage[], count: number, concurrency: number) {
  const latencies: number[] = [];
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async (_, worker) => {
      while (next < count) {
        next++;
        const start = performance.now();
        await reserveAndAudit(handles[worker % handles.length]!);
        latencies.push(performance.now() - start);
      }
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  return { rate: count / seconds, p50: q(latencies, 0.5), p99: q(latencies, 0.99) };
}

function line(name: string, mode: string, r: { rate: number; p50: number; p99: number }, unit = "tx/s") {
  console.log(`  ${name.padEnd(12)} ${mode.padEnd(32)} ${r.rate.toFixed(0).padStart(6)} ${unit.padEnd(7)} p50 ${r.p50.toFixed(2).padStart(6)} ms   p99 ${r.p99.toFixed(2).padStart(6)} ms`);
}

console.log(`\nbroker storage: ${TRANSACTIONS} reserve+audit transactions per row (PostgreSQL ${REPLICAS} pools = replicas, fsync on)`);
const server = await startPostgres({ fsync: true });
const dir = mkdtempSync(join(tmpdir(), "broker-storage-bench-"));
try {
  // Each driver twice, alternating, so a noisy neighbour does not favour one.
  for (const round of [1, 2]) {
    for (const [name, driver] of [
      ["Bun.SQL", undefined],
      ["postgres.js", postgresJsDriver],
    ] as const) {
      const url = await server.createDatabase();
      const display = url.replace(server.password, "***");
      const open = () => PostgresStorage.open(url, display, { maxConnections: 10, ...(driver ? { driver } : {}) });
      const first = open();
      await first.migrate();
      await run([first], 100, 4); // warm-up: connections, prepared statements
      // The driver's own cost, without the commit's disk flush: one-row reads, one at a time.
      const reads: number[] = [];
      for (let i = 0; i < TRANSACTIONS; i++) {
        const start = performance.now();
        await first.getRunnerByName(`bench-${1 + (i % 100)}`);
        reads.push(performance.now() - start);
      }
      line(`${name}`, `round ${round}, reads, 1 in flight`, { rate: 1000 / (reads.reduce((a, b) => a + b, 0) / reads.length), p50: q(reads, 0.5), p99: q(reads, 0.99) }, "reads/s");
      line(`${name}`, `round ${round}, 1 in flight`, await run([first], TRANSACTIONS, 1));
      const replicas = [first, open(), open()];
      line(`${name}`, `round ${round}, ${CONCURRENCY} in flight x ${REPLICAS}`, await run(replicas, TRANSACTIONS, CONCURRENCY));
      await Promise.all(replicas.map((s) => s.close()));
    }
  }
  const sqlite = SqliteStorage.open(join(dir, "bench.db"));
  await sqlite.migrate();
  await run([sqlite], 100, 4);
  line("SQLite", "1 in flight", await run([sqlite], TRANSACTIONS, 1));
  line("SQLite", `${CONCURRENCY} in flight`, await run([sqlite], TRANSACTIONS, CONCURRENCY));
  await sqlite.close();
} finally {
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
}
