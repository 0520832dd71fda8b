// `npm run bench`: the runner broker's capacity per replica, the figures of the sizing table in
// docs/runner-broker-storage.md. JIT provisions through the compiled broker against the simulator
// (each one: OIDC verification, policy, a reservation transaction, GitHub's generate-jitconfig, a
// transaction recording the answer and its audit record), 8 in flight per replica, round-robin
// over the replicas; SQLite with one replica, PostgreSQL with one and with three. Beside each
// row, the database connections each replica held:
// - PostgreSQL: TCP connections from each broker process to the server (`ss -tnp`, by process id),
//   the most seen while the load ran and what is left 2 s after it (the pool closes idle ones after
//   60 s); cross-checked with pg_stat_activity's count for application_name ghapp-runner-broker;
// - SQLite has no connections: one in-process handle on one file; the row counts the files the
//   broker process holds open on it (the database, its -wal and -shm), from /proc/PID/fd;
// and each replica's resident memory after the load.
// Figures only: a shared 2-core machine is noisy, nothing here passes or fails.
//
// BROKER_BENCH_RUNS (default 300) provisions per replica per row.
import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import { SQL } from "bun";
import { startPostgres } from "../helpers/postgres.ts";
import { ADMIN, ALICE, policy, startBroker, startWorld, type Broker } from "../broker/harness.ts";

const RUNS = Number(process.env.BROKER_BENCH_RUNS ?? 300);
const PER_REPLICA_IN_FLIGHT = 8;
const q = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))] ?? NaN;

let serial = 0;
async function load(brokers: Broker[], token: string, inFlight: number, runs: number): Promise<{ ms: number[]; perSecond: number }> {
  const ms: number[] = [];
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (next < runs) {
        const i = next++;
        const t0 = performance.now();
        const r = await brokers[i % brokers.length]!.call("POST", "/api/v1/runners/provision", { token, body: { runner_name: `r-${serial++}`, labels: ["team-a"] } });
        if (r.status !== 201) throw new Error(`provision answered ${r.status}: ${r.text}`);
        ms.push(performance.now() - t0);
      }
    }),
  );
  return { ms, perSecond: (runs / (performance.now() - started)) * 1000 };
}

/** Established TCP connections to `port`, per owning process id. */
async function pgConnectionsByPid(port: number): Promise<Map<number, number>> {
  const out = await new Response(Bun.spawn(["ss", "-Htnp", "state", "established", "dport", `= :${port}`], { stdout: "pipe", stderr: "ignore" }).stdout).text();
  const counts = new Map<number, number>();
  for (const m of out.matchAll(/pid=(\d+)/g)) counts.set(Number(m[1]), (counts.get(Number(m[1])) ?? 0) + 1);
  return counts;
}

/** Files a process holds open whose path starts with `prefix` (SQLite: the database, -wal, -shm). */
function openFiles(pid: number, prefix: string): number {
  let n = 0;
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      if (readlinkSync(`/proc/${pid}/fd/${fd}`).startsWith(prefix)) n++;
    } catch {}
  }
  return n;
}

/** A process's resident memory (VmRSS), MiB. */
function rssMiB(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) / 1024 : NaN;
}

interface Row {
  database: string;
  replicas: number;
  inFlight: number;
  perSecond: number;
  p50: number;
  p99: number;
  during: string;
  after: string;
  rss: string;
}
const rows: Row[] = [];

async function measure(database: string, brokers: Broker[], token: string, connections: () => Promise<number[]>) {
  const inFlight = PER_REPLICA_IN_FLIGHT * brokers.length;
  await load(brokers, token, inFlight, 20 * brokers.length); // warm-up: keys fetched, installation tokens minted
  const peak = brokers.map(() => 0);
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      (await connections()).forEach((n, i) => (peak[i] = Math.max(peak[i]!, n)));
      await Bun.sleep(100);
    }
  })();
  const r = await load(brokers, token, inFlight, RUNS * brokers.length);
  sampling = false;
  await sampler;
  await Bun.sleep(2000);
  const after = await connections();
  const rss = brokers.map((b) => rssMiB(b.proc.pid).toFixed(0)).join(" / ");
  rows.push({ database, replicas: brokers.length, inFlight, perSecond: r.perSecond, p50: q(r.ms, 0.5), p99: q(r.ms, 0.99), during: peak.join(" / "), after: after.join(" / "), rss });
}

const w = await startWorld();
const env = w.env({ CALLER_RATE_LIMIT: "1000000", SYNC_INTERVAL: "1h" });
const setUp = async (first: Broker) => {
  const p = await first.call("POST", "/api/v1/admin/label-policies", { token: await w.token(ADMIN), body: policy(ALICE, { max_runners: 10_000 }) });
  if (p.status >= 300) throw new Error(`policy answered ${p.status}: ${p.text}`);
  return w.token(ALICE, { expires_in: 3600 });
};

const sqlite = await startBroker(env);
const sqliteFile = env.DATABASE_URL!.replace(/^sqlite:\/\//, "");
await measure("SQLite", [sqlite], await setUp(sqlite), async () => [openFiles(sqlite.proc.pid, sqliteFile)]);
await sqlite.stop();

let pgNote = "";
try {
  const pg = await startPostgres();
  try {
    for (const n of [1, 3]) {
      const url = await pg.createDatabase(`bench_replicas_${n}`);
      const brokers = await Promise.all(Array.from({ length: n }, () => startBroker({ ...env, DATABASE_URL: url })));
      const token = await setUp(brokers[0]!);
      await measure("PostgreSQL", brokers, token, async () => {
        const byPid = await pgConnectionsByPid(pg.port);
        return brokers.map((b) => byPid.get(b.proc.pid) ?? 0);
      });
      const sql = new SQL(pg.url, { max: 1 });
      const [row] = await sql`SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'ghapp-runner-broker'`;
      await sql.close();
      pgNote += `\n  PostgreSQL, ${n} replica(s): pg_stat_activity counts ${row.n} broker connections 2 s after the load`;
      await Promise.all(brokers.map((b) => b.stop()));
    }
  } finally {
    await pg.stop();
  }
} catch (e) {
  pgNote += `\n  PostgreSQL not measured: ${(e as Error).message.split("\n")[0]}`;
}
await w.close();

console.log(`\nrunner broker per replica: JIT provisions against the simulator on loopback, ${RUNS} per replica per row, ${PER_REPLICA_IN_FLIGHT} in flight per replica; PostgreSQL with fsync on\n`);
console.log("| database | replicas | in flight | provisions/s, all | provisions/s per replica | p50 | p99 | DB connections per replica, most during load | 2 s after | memory (RSS) per replica after |");
console.log("|---|---|---|---|---|---|---|---|---|---|");
for (const r of rows) {
  const conn = r.database === "SQLite" ? `${r.during} open files (one handle)` : r.during;
  const after = r.database === "SQLite" ? `${r.after} open files` : r.after;
  console.log(`| ${r.database} | ${r.replicas} | ${r.inFlight} | ${r.perSecond.toFixed(0)} | ${(r.perSecond / r.replicas).toFixed(0)} | ${r.p50.toFixed(1)} ms | ${r.p99.toFixed(1)} ms | ${conn} | ${after} | ${r.rss} MiB |`);
}
console.log(`\nload average at the end: ${(await Bun.file("/proc/loadavg").text()).split(" ").slice(0, 3).join(" ")}${pgNote}`);
