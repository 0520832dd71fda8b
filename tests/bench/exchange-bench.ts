// `npm run bench`: the broker's token exchange (POST /api/v1/tokens), the compiled broker against
// the simulator, callers holding Kubernetes service-account tokens (one service account, many
// pods) verified from a JWKS file. Figures only; never fails a build.
//   - cache hit: exchanges per second, p50/p99, the errors and the broker's CPU per exchange at 1 to
//     1,000 concurrent callers on SQLite (targets: ≥ 1,000/s at 50, p99 ≤ 50 ms at 100, no error);
//   - miss: 100 concurrent identical requests for a new scope, and the access_tokens calls the
//     simulator saw (target: exactly one);
//   - replicas on PostgreSQL: 3 replicas, identical requests spread over them, and the
//     access_tokens calls (the cache is per replica: tokens are never stored, so one per replica).
//
// EXCHANGE_BENCH_SECONDS (default 5) per concurrency level.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { startPostgres } from "../helpers/postgres.ts";
import { ADMIN, AUDIENCE, startBroker, startWorld, type Broker, type World } from "../broker/harness.ts";
import { kubernetesIssuer, type KubernetesIssuer } from "../broker/kubernetes-issuer.ts";
import { quantile, target } from "./lib.ts";

const SECONDS = Number(process.env.EXCHANGE_BENCH_SECONDS ?? 5);
const K8S = "https://kubernetes.default.svc.cluster.local";
const policy = {
  name: "bench",
  issuer: K8S,
  audience: AUDIENCE,
  subject: "system:serviceaccount:team-a:deployer",
  claims: { "kubernetes.io.namespace": "team-a" },
  owner: "acme-org",
  repositories: ["api", "web"],
  permissions: { contents: "read", pull_requests: "write" },
};

const exchangeCalls = (w: World) => w.sim.requests.filter((r) => r.method === "POST" && r.path.endsWith("/access_tokens") && (r.body as { permissions?: unknown } | null)?.permissions).length;

async function post(url: string, token: string, body: unknown): Promise<{ status: number; token?: string }> {
  const r = await fetch(`${url}/api/v1/tokens`, { method: "POST", headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, body: JSON.stringify(body) });
  const json = (await r.json()) as { token?: string };
  return { status: r.status, ...(json.token ? { token: json.token } : {}) };
}

/** `concurrency` callers exchanging back to back for `seconds`, cycling through pod tokens. */
async function load(brokers: Broker[], tokens: string[], concurrency: number, seconds: number, body: unknown) {
  const ms: number[] = [];
  const errors = new Map<string, number>();
  const end = performance.now() + seconds * 1000;
  let n = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < end) {
        const i = n++;
        const t0 = performance.now();
        try {
          const r = await post(brokers[i % brokers.length]!.url, tokens[i % tokens.length]!, body);
          if (r.status !== 201) errors.set(String(r.status), (errors.get(String(r.status)) ?? 0) + 1);
        } catch (e) {
          const code = (e as { code?: string }).code ?? "network";
          errors.set(code, (errors.get(code) ?? 0) + 1);
        }
        ms.push(performance.now() - t0);
      }
    }),
  );
  return { ms, perSecond: (ms.length / (performance.now() - started)) * 1000, errors };
}

/** The broker process's CPU time (user + system), in ms: divided by the exchanges, a figure less at the mercy of other work on the machine than latency. */
function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").replace(/^.*\) /, "").split(" ");
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // utime, stime in clock ticks (USER_HZ 100)
}

async function podTokens(k8s: KubernetesIssuer, n: number): Promise<string[]> {
  return Promise.all(Array.from({ length: n }, (_, i) => k8s.token({ namespace: "team-a", sa: "deployer", aud: AUDIENCE, pod: { name: `deployer-${i}`, uid: crypto.randomUUID() } })));
}

const w = await startWorld();
const k8s = await kubernetesIssuer(K8S, join(w.dir, "cluster.jwks.json"));
// TOKEN_RATE_LIMIT out of the way: every caller here is one service account.
const env = w.env({ ISSUER_JWKS_FILES: `${K8S}=${k8s.jwksFile}`, TOKEN_RATE_LIMIT: "100000000", SYNC_INTERVAL: "1h", ...(process.env.EXCHANGE_BENCH_LOG_LEVEL ? { LOG_LEVEL: process.env.EXCHANGE_BENCH_LOG_LEVEL } : {}) });
const admin = await w.token(ADMIN);
const tokens = await podTokens(k8s, 200);

console.log(`\ntoken exchange (POST /api/v1/tokens), Kubernetes tokens from a JWKS file, ${SECONDS} s per row, SQLite\n`);
console.log("| cache hit, concurrent callers | exchanges/s | p50 | p99 | errors | broker CPU per exchange |");
console.log("|---|---|---|---|---|---|");
const sqlite = await startBroker(env);
const lines: string[] = [];
try {
  const p = await sqlite.call("POST", "/api/v1/admin/trust-policies", { token: admin, body: policy });
  if (p.status !== 201) throw new Error(`trust policy answered ${p.status}: ${p.text}`);
  const body = { repositories: ["api"], permissions: { contents: "read" } };
  if ((await post(sqlite.url, tokens[0]!, body)).status !== 201) throw new Error("the first exchange failed");
  await load([sqlite], tokens, 10, 1, body); // warm-up
  const results = new Map<number, Awaited<ReturnType<typeof load>>>();
  for (const c of [1, 10, 50, 100, 200, 500, 1000]) {
    const cpu0 = cpuMs(sqlite.proc.pid);
    const r = await load([sqlite], tokens, c, SECONDS, body);
    const cpuPer = ((cpuMs(sqlite.proc.pid) - cpu0) / r.ms.length) * 1000;
    results.set(c, r);
    const errs = [...r.errors].map(([k, v]) => `${v}× ${k}`).join(", ") || "0";
    console.log(`| ${c} | ${r.perSecond.toFixed(0)} | ${quantile(r.ms, 0.5).toFixed(2)} ms | ${quantile(r.ms, 0.99).toFixed(2)} ms | ${errs} | ${cpuPer.toFixed(0)} µs |`);
  }
  const at50 = results.get(50)!;
  const at100 = results.get(100)!;
  const errors = [...results.values()].reduce((s, r) => s + [...r.errors.values()].reduce((a, b) => a + b, 0), 0);
  lines.push(target("cache hit, 50 concurrent callers", `${at50.perSecond.toFixed(0)} exchanges/s`, at50.perSecond >= 1000, "≥ 1,000/s on a 2-core machine"));
  lines.push(target("cache hit, 100 concurrent callers", `p99 ${quantile(at100.ms, 0.99).toFixed(1)} ms`, quantile(at100.ms, 0.99) <= 50, "≤ 50 ms"));
  lines.push(target("errors at 1..1000 concurrent callers", String(errors), errors === 0, "none"));

  // A miss: 100 identical requests for a scope nobody asked for yet, all at once.
  const miss = { repositories: ["web"], permissions: { pull_requests: "write" } };
  const before = exchangeCalls(w);
  const answers = await Promise.all(tokens.slice(0, 100).map((t) => post(sqlite.url, t, miss)));
  const calls = exchangeCalls(w) - before;
  const ok = answers.filter((a) => a.status === 201).length;
  const distinct = new Set(answers.map((a) => a.token)).size;
  lines.push(target("cache miss, 100 concurrent identical requests", `${calls} access_tokens call(s), ${ok}/100 answered 201 with ${distinct} distinct token(s)`, calls === 1 && ok === 100, "exactly one call"));
} finally {
  await sqlite.stop();
}

// Replicas on PostgreSQL: the cache is per replica (a token is never stored), measured.
try {
  const pg = await startPostgres({ fsync: false });
  try {
    const url = await pg.createDatabase("exchange");
    const replicas = await Promise.all([0, 1, 2].map(() => startBroker({ ...env, DATABASE_URL: url })));
    try {
      const p = await replicas[0]!.call("POST", "/api/v1/admin/trust-policies", { token: admin, body: policy });
      if (p.status !== 201) throw new Error(`trust policy answered ${p.status}`);
      const body = { repositories: ["api", "web"], permissions: { contents: "read" } };
      const before = exchangeCalls(w);
      const r = await load(replicas, tokens, 50, SECONDS, body);
      const calls = exchangeCalls(w) - before;
      console.log(`\nPostgreSQL, 3 replicas, identical requests spread over them, 50 concurrent callers: ${r.perSecond.toFixed(0)} exchanges/s, p50 ${quantile(r.ms, 0.5).toFixed(2)} ms, p99 ${quantile(r.ms, 0.99).toFixed(2)} ms, ${r.ms.length} exchanges, ${calls} access_tokens calls (the cache is per replica: one call per replica and scope per half hour)`);
    } finally {
      await Promise.all(replicas.map((b) => b.stop()));
    }
  } finally {
    await pg.stop();
  }
} catch (e) {
  console.log(`\nPostgreSQL replicas: not measured: ${(e as Error).message.split("\n")[0]}`);
}

console.log("");
for (const l of lines) console.log(l);
await w.close();
