// `npm run bench` (1/…): mint end to end — process start to exit with the token written — against
// the simulator on loopback, ghapp-token beside the @octokit/auth-app anchor on Node, in the same
// run. Prints median and p90 wall time over RUNS runs and peak resident memory. Never fails:
// these are figures to read, not a timed test (targets: ≥5× faster than the anchor, < 60 MiB).
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { startSimulator } from "../simulator/simulator.ts";

const RUNS = Number(process.env.BENCH_RUNS ?? 25);
const ROOT = resolve(import.meta.dir, "../..");
const BINARY = join(ROOT, "dist/ghapp-token");
if (!existsSync(BINARY)) throw new Error("dist/ghapp-token is missing: run npm run build");

const sim = await startSimulator();
const dir = mkdtempSync(join(tmpdir(), "ghapp-bench-"));
writeFileSync(join(dir, "key.pem"), sim.app.privateKeyPem);
const env = { APP_ID: String(sim.app.id), PRIVATE_KEY_FILE: join(dir, "key.pem"), GITHUB_API_URL: sim.url, INSTALLATION_ID: "1001", OUTPUT_PATH: join(dir, "token"), PATH: process.env.PATH ?? "/usr/bin:/bin" };

async function measure(cmd: string[]): Promise<{ ms: number[]; rss: number[] }> {
  const ms: number[] = [];
  const rss: number[] = [];
  for (let i = 0; i < RUNS + 2; i++) {
    rmSync(env.OUTPUT_PATH, { force: true });
    const t0 = performance.now();
    const proc = Bun.spawn(cmd, { env, stdout: "ignore", stderr: "pipe", cwd: ROOT });
    const code = await proc.exited;
    const elapsed = performance.now() - t0;
    if (code !== 0 || !readFileSync(env.OUTPUT_PATH, "utf8").startsWith("ghs_")) throw new Error(`${cmd.join(" ")} failed (exit ${code}): ${await new Response(proc.stderr).text()}`);
    if (i < 2) continue; // warm-up: page cache, simulator JIT
    ms.push(elapsed);
    rss.push(proc.resourceUsage()!.maxRSS);
  }
  return { ms, rss };
}

const q = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))]!;
const mib = (b: number) => (b / 1024 / 1024).toFixed(1);

const ours = await measure([BINARY]);
const anchor = await measure(["node", join(import.meta.dir, "octokit-mint.mjs")]);
await sim.close();
rmSync(dir, { recursive: true, force: true });

console.log(`\nmint end to end against the simulator on loopback, ${RUNS} runs each (after 2 warm-up runs)\n`);
console.log("| | median | p90 | peak RSS (max) |");
console.log("|---|---|---|---|");
console.log(`| ghapp-token (compiled Bun) | ${q(ours.ms, 0.5).toFixed(1)} ms | ${q(ours.ms, 0.9).toFixed(1)} ms | ${mib(Math.max(...ours.rss))} MiB |`);
console.log(`| @octokit/auth-app on Node (anchor) | ${q(anchor.ms, 0.5).toFixed(1)} ms | ${q(anchor.ms, 0.9).toFixed(1)} ms | ${mib(Math.max(...anchor.rss))} MiB |`);
console.log(`\nspeed-up (median): ${(q(anchor.ms, 0.5) / q(ours.ms, 0.5)).toFixed(2)}×   (target ≥ 5×)`);
console.log(`ghapp-token peak memory: ${mib(Math.max(...ours.rss))} MiB   (target < 60 MiB)`);
