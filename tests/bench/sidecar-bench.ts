// `npm run bench` (2/2): the refresh sidecar's memory. Idle: resident memory after its first
// token, at rest (target ≤ 40 MiB). Soak: 1,000 refreshes with very short tokens, resident memory
// at start and end, which should stay flat. Figures only; never fails.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { startSimulator } from "../simulator/simulator.ts";

const BINARY = resolve(import.meta.dir, "../../dist/ghapp-token");
const SOAK = Number(process.env.SOAK_REFRESHES ?? 1000);
const mib = (kb: number) => (kb / 1024).toFixed(1);
// Resident memory, and its two parts: anonymous (the process's own heap and stacks) and
// file-backed (pages of the 100 MB executable it has touched: clean, shared by every process
// that maps the same file, and reclaimable by the kernel under pressure).
const status = (pid: number, field: string) => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? NaN);
const rssKb = (pid: number) => status(pid, "VmRSS");
const memory = (pid: number) => ({ rss: rssKb(pid), anon: status(pid, "RssAnon"), file: status(pid, "RssFile") });

async function sidecar(ttlSeconds: number) {
  const sim = await startSimulator({ tokenTtlSeconds: ttlSeconds });
  const dir = mkdtempSync(join(tmpdir(), "ghapp-sidecar-bench-"));
  writeFileSync(join(dir, "key.pem"), sim.app.privateKeyPem);
  const probe = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => new Response() });
  const port = probe.port!;
  probe.stop(true);
  const proc = Bun.spawn([BINARY, "refresh"], {
    env: { APP_ID: String(sim.app.id), PRIVATE_KEY_FILE: join(dir, "key.pem"), GITHUB_API_URL: sim.url, OUTPUT_PATH: join(dir, "token"), INSTALLATION_ID: "1001", LISTEN_ADDR: `127.0.0.1:${port}`, LOG_LEVEL: "warn" },
    stdout: "ignore",
    stderr: "ignore",
  });
  const refreshes = async () => Number(/ghapp_token_refresh_total\{result="success",reason="ok"\} (\d+)/.exec(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text())?.[1] ?? 0);
  for (let i = 0; i < 200; i++) {
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
  return { proc, refreshes, stop };
}

const idle = await sidecar(3600);
await Bun.sleep(3000);
const idleMem = memory(idle.proc.pid);
await idle.stop();

// Sub-second tokens: expires_at has whole seconds, so each token is due at once and the sidecar
// refreshes back to back, which is the hardest case for leaks.
const soak = await sidecar(1);
const startKb = rssKb(soak.proc.pid);
const t0 = performance.now();
let done = 0;
// One reading per fifth of the soak: a garbage-collected heap saws up and down, so a single
// start/end pair can show growth that is not a leak; a leak rises at every reading.
const samples: Array<{ refreshes: number; rss: number; anon: number }> = [];
while ((done = await soak.refreshes()) < SOAK && performance.now() - t0 < 300_000) {
  if (done >= ((samples.length + 1) * SOAK) / 5) samples.push({ refreshes: done, ...memory(soak.proc.pid) });
  await Bun.sleep(200);
}
const endKb = rssKb(soak.proc.pid);
const seconds = (performance.now() - t0) / 1000;
await soak.stop();

console.log("\nrefresh sidecar memory\n");
console.log("| | resident memory |");
console.log("|---|---|");
console.log(`| idle, after the first token | ${mib(idleMem.rss)} MiB (target ≤ 40 MiB): ${mib(idleMem.anon)} MiB anonymous + ${mib(idleMem.file)} MiB of the executable's pages |`);
console.log(`| soak start | ${mib(startKb)} MiB |`);
for (const s of samples) console.log(`| soak, after ${s.refreshes} refreshes | ${mib(s.rss)} MiB (${mib(s.anon)} MiB anonymous) |`);
console.log(`| soak end, after ${done} refreshes in ${seconds.toFixed(0)} s | ${mib(endKb)} MiB (${endKb >= startKb ? "+" : ""}${mib(endKb - startKb)} MiB) |`);
