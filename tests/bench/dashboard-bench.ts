// `npm run bench`: the dashboard's pages at scale (issue 22: "pages that stay fast with 10,000
// runners and 100,000 audit records"). Seeds a SQLite database with DASHBOARD_BENCH_RUNNERS runners
// (100 identities) and DASHBOARD_BENCH_AUDIT audit records, starts the compiled broker on it, signs
// an administrator and a caller in through the simulator's issuer, and times each page: p50 and p99
// of DASHBOARD_BENCH_RUNS requests, and the page's size. Target: p50 under 50 ms for every page.
// Figures only; never fails a build.
import { join } from "node:path";
import { openStorage } from "../../generator/src/broker/storage/open.ts";
import { ADMIN, startBroker, startWorld, type Broker } from "../broker/harness.ts";
import { quantile } from "./lib.ts";

const RUNNERS = Number(process.env.DASHBOARD_BENCH_RUNNERS ?? 10_000);
const AUDIT = Number(process.env.DASHBOARD_BENCH_AUDIT ?? 100_000);
const RUNS = Number(process.env.DASHBOARD_BENCH_RUNS ?? 50);
const IDENTITIES = 100;
const caller = (i: number) => `repo:acme-org/svc-${i}:ref:refs/heads/main`;

const w = await startWorld();
const dbPath = join(w.dir, "dashboard-bench.db");
const seeding = performance.now();
const storage = openStorage(`sqlite://${dbPath}`);
await storage.migrate();
await storage.transaction(async (tx) => {
  for (let i = 0; i < RUNNERS; i++) await tx.reserveRunner({ name: `bench-${i}`, provisionedBy: caller(i % IDENTITIES), labels: ["team-a", "linux"], ephemeral: true, mode: "jit", runnerGroupId: 2, maxRunners: RUNNERS });
});
for (let done = 0; done < AUDIT; done += 10_000) {
  await storage.transaction(async (tx) => {
    for (let i = done; i < Math.min(AUDIT, done + 10_000); i++) await tx.appendAudit({ actor: caller(i % IDENTITIES), action: i % 3 ? "runner.provision" : "runner.get", result: i % 7 ? "success" : "denied", runnerName: `bench-${i % RUNNERS}` });
  });
}
await storage.close();
console.log(`\n### Dashboard pages (${RUNNERS} runners, ${AUDIT} audit records, SQLite; seeded in ${((performance.now() - seeding) / 1000).toFixed(1)} s)\n`);

const probe = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response("") });
const port = probe.port!;
await probe.stop(true);
let b: Broker | undefined;
try {
  b = await startBroker(w.env({ DATABASE_URL: `sqlite://${dbPath}`, LISTEN_ADDR: `127.0.0.1:${port}`, DASHBOARD_CLIENT_ID: "bench", DASHBOARD_URL: `http://127.0.0.1:${port}`, CALLER_RATE_LIMIT: "100000" }), ["serve"], 60_000);
  /** Signs in as a browser would (three redirects), returning the session cookie. */
  const signIn = async (sub: string) => {
    const login = await fetch(`${b!.url}/ui/login?login_hint=${encodeURIComponent(sub)}`, { redirect: "manual" });
    const pending = login.headers.get("set-cookie")!.split(";")[0]!;
    const provider = await fetch(login.headers.get("location")!, { redirect: "manual" });
    const callback = await fetch(provider.headers.get("location")!, { redirect: "manual", headers: { cookie: pending } });
    return callback.headers.getSetCookie().find((c) => c.startsWith("ghapp_session="))!.split(";")[0]!;
  };
  const admin = await signIn(ADMIN);
  const user = await signIn(caller(7));
  const firstAudit = await (await fetch(`${b.url}/ui/admin/audit`, { headers: { cookie: admin } })).text();
  const older = /href="([^"]+)" rel="next"/.exec(firstAudit)?.[1]?.replaceAll("&amp;", "&") ?? "/ui/admin/audit";
  const pages: [string, string, string][] = [
    ["a caller's runners (100 of its own)", "/ui/runners", user],
    ["a caller's runners, filtered by label", "/ui/runners?label=linux&name=bench-1", user],
    ["all runners, first page", "/ui/admin/runners", admin],
    ["all runners of one owner", `/ui/admin/runners?owner=${encodeURIComponent(caller(42))}`, admin],
    ["audit log, first page", "/ui/admin/audit", admin],
    ["audit log, an older page", older, admin],
    ["audit log, identity + result filter", `/ui/admin/audit?identity=${encodeURIComponent(caller(3))}&result=denied`, admin],
    ["audit log, time range", "/ui/admin/audit?since=2000-01-01T00:00&until=2999-01-01T00:00", admin],
  ];
  console.log("| page | p50 | p99 | bytes |\n| --- | --- | --- | --- |");
  for (const [name, path, cookie] of pages) {
    const ms: number[] = [];
    let bytes = 0;
    for (let i = 0; i < RUNS + 5; i++) {
      const started = performance.now();
      const res = await fetch(`${b.url}${path}`, { headers: { cookie } });
      const text = await res.text();
      if (res.status !== 200) throw new Error(`${path}: HTTP ${res.status}`);
      if (i >= 5) ms.push(performance.now() - started);
      bytes = text.length;
    }
    const p50 = quantile(ms, 0.5);
    console.log(`| ${name} | ${p50.toFixed(1)} ms${p50 < 50 ? "" : " (NOT MET: 50 ms)"} | ${quantile(ms, 0.99).toFixed(1)} ms | ${bytes} |`);
  }
} finally {
  await b?.stop();
  await w.close();
}
