// `npm run bench`: the runner broker. Provisions (JIT) through the compiled broker against the
// simulator, one at a time (latency: p50/p99) and 8 in flight (provisions per second), on SQLite
// and on PostgreSQL with three replicas, side by side with the simulator's own latency for the
// same GitHub call; and the cost of one OIDC verification with warm keys. Target: the broker adds
// at most 5 ms at the median to the simulator's own latency. Figures only; never fails a build.
//
// BROKER_BENCH_RUNS (default 300) provisions per measurement.
import { createPrivateKey } from "node:crypto";
import { signAppJwt } from "../../generator/src/core/jwt.ts";
import { OidcVerifier } from "../../generator/src/broker/oidc.ts";
import { startPostgres } from "../helpers/postgres.ts";
import { ADMIN, ALICE, AUDIENCE, policy, startBroker, startWorld, type Broker, type World } from "../broker/harness.ts";

const RUNS = Number(process.env.BROKER_BENCH_RUNS ?? 300);
const q = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))] ?? NaN;
};
const row = (name: string, ms: number[], perSecond?: number) =>
  console.log(`| ${name} | ${q(ms, 0.5).toFixed(2)} ms | ${q(ms, 0.99).toFixed(2)} ms | ${perSecond === undefined ? "" : perSecond.toFixed(0)} |`);

let serial = 0;
async function simulatorOwn(w: World): Promise<number[]> {
  const jwt = signAppJwt(String(w.sim.app.id), createPrivateKey(w.sim.app.privateKeyPem), Date.now());
  const t = await fetch(`${w.sim.url}/app/installations/1001/access_tokens`, { method: "POST", headers: { authorization: `Bearer ${jwt}`, accept: "application/vnd.github+json" } });
  const token = ((await t.json()) as { token: string }).token;
  const ms: number[] = [];
  for (let i = 0; i < RUNS + 20; i++) {
    const started = performance.now();
    const r = await fetch(`${w.sim.url}/orgs/acme-org/actions/runners/generate-jitconfig`, {
      method: "POST",
      headers: { authorization: `token ${token}`, accept: "application/vnd.github+json", "content-type": "application/json" },
      body: JSON.stringify({ name: `sim-${serial++}`, runner_group_id: 2, labels: ["team-a"], work_folder: "_work" }),
    });
    await r.text();
    if (i >= 20) ms.push(performance.now() - started);
  }
  return ms;
}

async function provisions(brokers: Broker[], token: string, concurrency: number, runs: number): Promise<{ ms: number[]; perSecond: number }> {
  const ms: number[] = [];
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < runs) {
        const i = next++;
        const t0 = performance.now();
        const r = await brokers[i % brokers.length]!.call("POST", "/api/v1/runners/provision", { token, body: { runner_name: `b-${serial++}`, labels: ["team-a"] } });
        if (r.status !== 201) throw new Error(`provision answered ${r.status}: ${r.text}`);
        ms.push(performance.now() - t0);
      }
    }),
  );
  return { ms, perSecond: (runs / (performance.now() - started)) * 1000 };
}

async function measure(label: string, w: World, brokers: Broker[]) {
  const admin = await w.token(ADMIN);
  const p = await brokers[0]!.call("POST", "/api/v1/admin/label-policies", { token: admin, body: policy(ALICE, { max_runners: 10_000 }) });
  if (p.status >= 300) throw new Error(`policy answered ${p.status}: ${p.text}`);
  const token = await w.token(ALICE, { expires_in: 3600 });
  await provisions(brokers, token, 1, 20); // warm-up: keys fetched, installation token minted
  const one = await provisions(brokers, token, 1, RUNS);
  const eight = await provisions(brokers, token, 8, RUNS);
  row(`broker, ${label}, 1 in flight`, one.ms, one.perSecond);
  row(`broker, ${label}, 8 in flight`, eight.ms, eight.perSecond);
  return one.ms;
}

const w = await startWorld();
// LOG_LEVEL info: the harness waits for the "listening" line; a provision logs nothing at info.
const env = w.env({ CALLER_RATE_LIMIT: "1000000", SYNC_INTERVAL: "1h" });
console.log(`\nrunner broker: JIT provisions against the simulator on loopback, ${RUNS} per row (after warm-up)\n`);
console.log("| | p50 | p99 | provisions/s |");
console.log("|---|---|---|---|");
const own = await simulatorOwn(w);
row("simulator alone (generate-jitconfig)", own);

const sqlite = await startBroker(env);
const sqliteMs = await measure("SQLite", w, [sqlite]);
await sqlite.stop();

let pgMs: number[] | undefined;
try {
  const pg = await startPostgres({ fsync: false });
  try {
    const url = await pg.createDatabase("bench");
    const replicas = await Promise.all([0, 1, 2].map(() => startBroker({ ...env, DATABASE_URL: url })));
    pgMs = await measure("PostgreSQL ×3 replicas", w, replicas);
    await Promise.all(replicas.map((b) => b.stop()));
  } finally {
    await pg.stop();
  }
} catch (e) {
  console.log(`| broker, PostgreSQL | not measured: ${(e as Error).message.split("\n")[0]} | | |`);
}

// OIDC verification with warm keys, in process (what each API request pays).
const verifier = new OidcVerifier({ issuer: w.sim.oidc.issuer, audience: AUDIENCE, identityClaim: "sub", timeoutMs: 5000 });
const tokens = await Promise.all(Array.from({ length: 50 }, () => w.token(ALICE)));
for (const t of tokens) await verifier.verify(t);
const verifyMs: number[] = [];
for (let i = 0; i < 2000; i++) {
  const t0 = performance.now();
  await verifier.verify(tokens[i % tokens.length]!);
  verifyMs.push(performance.now() - t0);
}
console.log(`\nOIDC verification with warm keys (RS256, 2000 runs): p50 ${(q(verifyMs, 0.5) * 1000).toFixed(0)} µs, p99 ${(q(verifyMs, 0.99) * 1000).toFixed(0)} µs`);
const added = (ms: number[]) => (q(ms, 0.5) - q(own, 0.5)).toFixed(2);
console.log(`broker's added median latency over the simulator's own: SQLite ${added(sqliteMs)} ms${pgMs ? `, PostgreSQL ${added(pgMs)} ms` : ""}   (target ≤ 5 ms)`);
await w.close();
