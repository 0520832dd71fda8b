// `npm run bench` (3/3): the refresh sidecar's memory, read from /proc/PID/smaps_rollup: resident,
// split into anonymous (its own heap and stacks) and file pages (the executable's pages it
// touched: clean, shared, reclaimable), and PSS. Idle: after its first token, at rest, then again
// after a minute of idling with /metrics scraped every 5 s as Prometheus would (what the idle
// loop allocates), with how often it wakes up; the bare executable's idle figures beside them
// (the sidecar runs as the image runs it, IMAGE.ownEnv). Soak: 1,000 refreshes with one-second
// tokens (one a second: about 17 minutes), a reading every 200, which should stay flat. The executable is evicted from the page cache first (lib.ts says why). Figures only.
import { existsSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { IMAGE } from "../../ci/image-rootfs.ts";
import { EVENT_LOOP_PRECISION_MS } from "../../generator/src/token/metrics.ts";
import { MIN_DELAY_MS } from "../../generator/src/token/refresh-schedule.ts";
import { freePort } from "../helpers/run.ts";
import { startSimulator } from "../simulator/simulator.ts";
import { evictFromPageCache, memoryOf, mib, target, tmpfsFolder, wakeupsOf } from "./lib.ts";

const BINARY = process.env.SIDECAR_BINARY ?? resolve(import.meta.dir, "../../dist/ghapp-token");
const SOAK = Number(process.env.SOAK_REFRESHES ?? 1000);
const IDLE_SECONDS = Number(process.env.IDLE_SECONDS ?? 60);
if (!existsSync(BINARY)) throw new Error(`${BINARY} is missing: run npm run build`);

async function sidecar(ttlSeconds: number, runtimeEnv: Record<string, string> = IMAGE.ownEnv) {
  const sim = await startSimulator({ tokenTtlSeconds: ttlSeconds });
  const dir = tmpfsFolder("ghapp-sidecar-bench-");
  writeFileSync(join(dir, "key.pem"), sim.app.privateKeyPem, { mode: 0o600 });
  const port = freePort();
  const proc = Bun.spawn([BINARY, "refresh"], {
    env: { APP_ID: String(sim.app.id), PRIVATE_KEY_FILE: join(dir, "key.pem"), GITHUB_API_URL: sim.url, OUTPUT_PATH: join(dir, "token"), INSTALLATION_ID: "1001", LISTEN_ADDR: `127.0.0.1:${port}`, LOG_LEVEL: "warn", ...runtimeEnv },
    stdout: "ignore",
    stderr: "ignore",
  });
  const scrape = async () => (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const refreshes = async () => Number(/ghapp_token_refresh_total\{result="success",reason="ok"\} (\d+)/.exec(await scrape())?.[1] ?? 0);
  for (let i = 0; i < 400; i++) {
    try {
      if ((await refreshes()) > 0) break;
    } catch {
      /* not listening yet */
    }
    await Bun.sleep(25);
  }
  const stop = async () => {
    proc.kill("SIGTERM");
    await proc.exited;
    await sim.close();
    rmSync(dir, { recursive: true, force: true });
  };
  return { proc, scrape, refreshes, stop };
}

const row = (label: string, m: ReturnType<typeof memoryOf>) =>
  `| ${label} | ${mib(m.rss)} MiB | ${mib(m.anon)} MiB | ${mib(m.file)} MiB | ${mib(m.pss)} MiB |`;

await evictFromPageCache(BINARY);
const idle = await sidecar(3600);
await Bun.sleep(3000);
const idleMem = memoryOf(idle.proc.pid);
const wakeupsBefore = wakeupsOf(idle.proc.pid);
for (let s = 0; s < IDLE_SECONDS; s += 5) {
  await idle.scrape();
  await Bun.sleep(5000);
}
const idleLater = memoryOf(idle.proc.pid);
const wakeupsPerSecond = (wakeupsOf(idle.proc.pid) - wakeupsBefore) / (Math.ceil(IDLE_SECONDS / 5) * 5);
await idle.stop();

// The bare executable (JIT on), for comparison: what the image's environment buys.
await evictFromPageCache(BINARY);
const bare = await sidecar(3600, {});
await Bun.sleep(3000);
const bareMem = memoryOf(bare.proc.pid);
await bare.stop();

// One-second tokens: expires_at has whole seconds, so each token is due at once and the sidecar
// refreshes back to back, which is the hardest case for leaks. Back to back means once a second:
// the sidecar never schedules a refresh sooner than MIN_DELAY_MS (refresh-schedule.ts), so the
// default 1,000 refreshes take about 17 minutes (SOAK_REFRESHES=200 for a quicker look).
const soak = await sidecar(1);
const soakBudgetMs = SOAK * (MIN_DELAY_MS + 500) + 60_000;
const start = memoryOf(soak.proc.pid);
const t0 = performance.now();
let done = 0;
// A garbage-collected heap saws up and down, so a single start/end pair can show growth that is
// not a leak; a leak rises at every reading.
const samples: Array<{ refreshes: number; m: ReturnType<typeof memoryOf> }> = [];
while ((done = await soak.refreshes()) < SOAK && performance.now() - t0 < soakBudgetMs) {
  if (done >= ((samples.length + 1) * SOAK) / 5) samples.push({ refreshes: done, m: memoryOf(soak.proc.pid) });
  await Bun.sleep(200);
}
const end = memoryOf(soak.proc.pid);
const seconds = (performance.now() - t0) / 1000;
await soak.stop();

console.log("\nrefresh sidecar memory (from /proc/PID/smaps_rollup)\n");
console.log("| | resident | anonymous | file pages | PSS |");
console.log("|---|---:|---:|---:|---:|");
console.log(row("idle, 3 s after the first token", idleMem));
console.log(row(`idle, ${IDLE_SECONDS} s later (scraped every 5 s)`, idleLater));
console.log(row("the bare executable (JIT on), idle, 3 s after the first token", bareMem));
console.log(row("soak start", start));
for (const s of samples) console.log(row(`soak, after ${s.refreshes} refreshes`, s.m));
console.log(row(`soak end, after ${done} refreshes in ${seconds.toFixed(0)} s`, end));
const anons = [start, ...samples.map((s) => s.m), end].map((m) => m.anon);
// Flat: after the first fifth (the heap grows to its working size, then saws with garbage
// collection) no later reading is more than 2 MiB above it; a leak keeps climbing.
const settled = samples[0]?.m.anon ?? start.anon;
const flat = done >= SOAK && Math.max(...anons.slice(2)) - settled <= 2 * 2 ** 20;
console.log(`\nidle wakeups: ${wakeupsPerSecond.toFixed(1)} a second, all threads, scrapes included (prom-client samples the event loop every ${EVENT_LOOP_PRECISION_MS} ms)`);
console.log("\ntargets (this run):");
console.log(target("sidecar idle resident", `${mib(idleMem.rss)} MiB`, idleMem.rss <= 40 * 2 ** 20, "≤ 40 MiB"));
console.log(target("sidecar idle anonymous", `${mib(idleMem.anon)} MiB`, idleMem.anon <= 8 * 2 ** 20, "≤ 8 MiB"));
console.log(target(`memory over ${SOAK} refreshes`, `anonymous ${anons.map((a) => mib(a)).join(", ")} MiB`, flat, "flat: after the first fifth, no reading > 2 MiB above it"));
