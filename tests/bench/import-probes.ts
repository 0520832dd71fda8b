// `npm run bench` (1/3): where a mint's time goes. Each probe in tests/bench/probes/ is a small
// program compiled exactly as ci/build.ts compiles ghapp-token (same flags, same bytecode depth),
// evicted from the page cache, then run round-robin with the others; the figure that matters is
// each probe's median minus the runtime's. "whole-…" probes load a library's package index the
// usual way, for comparison with the deep imports core/logger.ts and core/jwt.ts use. They run as
// the image runs ghapp-token (IMAGE.ownEnv).
import { mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { basename, join, resolve } from "node:path";
import { build, BUN_TARGETS } from "../../ci/build.ts";
import { IMAGE } from "../../ci/image-rootfs.ts";
import { startSimulator } from "../simulator/simulator.ts";
import { buildLauncher, evictFromPageCache, fileMB, interleave, median, mib, tmpfsFolder, type Contender } from "./lib.ts";

const ROUNDS = Number(process.env.PROBE_RUNS ?? 21);
const ROOT = resolve(import.meta.dir, "../..");
const OUT = join(ROOT, ".cache/bench/probes");
const PROBES = join(import.meta.dir, "probes");

await buildLauncher();
rmSync(OUT, { recursive: true, force: true });
mkdirSync(OUT, { recursive: true });
const names = readdirSync(PROBES).filter((f) => f.endsWith(".ts")).map((f) => basename(f, ".ts"));
// The order that reads best: the runtime, then the mint's pieces in the order a mint uses them.
const ORDER = ["runtime", "key", "logger", "logger-whole-winston", "jwt", "jwt-whole-jsonwebtoken", "ky", "fetch-mint"];
names.sort((a, b) => (ORDER.indexOf(a) + 1 || 99) - (ORDER.indexOf(b) + 1 || 99));

const target = process.arch === "arm64" ? BUN_TARGETS["linux/arm64"]! : BUN_TARGETS["linux/amd64"]!;
for (const name of names) {
  const outfile = join(OUT, name);
  await build({ outfile, target, entryPoint: join(PROBES, `${name}.ts`) });
  await evictFromPageCache(outfile);
}

const sim = await startSimulator();
const dir = tmpfsFolder("ghapp-probes-");
writeFileSync(join(dir, "key.pem"), sim.app.privateKeyPem);
const env = { APP_ID: String(sim.app.id), PRIVATE_KEY_FILE: join(dir, "key.pem"), GITHUB_API_URL: sim.url, INSTALLATION_ID: "1001", OUTPUT_PATH: join(dir, "token") };
const contenders: Contender[] = names.map((name) => ({
  name,
  cmd: [join(OUT, name)],
  env: { ...IMAGE.ownEnv },
  check: (code, stderr) => {
    if (code !== 0) throw new Error(`probe ${name} failed (exit ${code}): ${stderr}`);
  },
  runs: [],
}));
await interleave(contenders, ROUNDS, 2, env);
await sim.close();
rmSync(dir, { recursive: true, force: true });

const floor = median(contenders[0]!.runs.map((r) => r.ms));
console.log(`\nimport probes: each compiled with ci/build.ts's flags, median of ${ROUNDS} interleaved runs after 2 warm-ups\n`);
console.log("| probe | median | over the runtime | peak RSS | executable |");
console.log("|---|---:|---:|---:|---:|");
for (const c of contenders) {
  const ms = median(c.runs.map((r) => r.ms));
  console.log(`| ${c.name} | ${ms.toFixed(1)} ms | ${c === contenders[0] ? "" : `+${(ms - floor).toFixed(1)} ms`} | ${mib(median(c.runs.map((r) => r.peakRss)))} MiB | ${fileMB(join(OUT, c.name))} MB |`);
}
