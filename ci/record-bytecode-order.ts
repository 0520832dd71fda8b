// `npm run build:order`: records which functions ghapp-token runs, for the profile-guided
// bytecode layout ci/build.ts builds with (BYTECODE_ORDER; Bun's --bytecode-order,
// https://bun.com/docs/bundler/executables#profile-guided-bytecode-layout). Builds the
// executable, then runs it the two ways pods do against the simulator, each with
// BUN_BYTECODE_ORDER_OUT: a mint, and a refresh sidecar that writes its first token and answers
// its probes and a /metrics scrape before SIGTERM stops it. The profiles hold function hashes
// only (no code, no secrets). A profile from an older build still applies; when the code has
// moved on, tests/e2e/bytecode-order.test.ts fails and asks for this to be run again.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startHealthySidecar } from "../tests/helpers/generator.ts";
import { startSimulator, type Simulator } from "../tests/simulator/simulator.ts";
import { build, BYTECODE_ORDER } from "./build.ts";

/** Runs `exe` as a mint and as a refresh sidecar against `sim`, and returns the two profiles it wrote. */
export async function recordProfiles(exe: string, sim: Simulator): Promise<{ mint: string; refresh: string }> {
  const dir = mkdtempSync(join(tmpdir(), "ghapp-order-"));
  try {
    writeFileSync(join(dir, "key.pem"), sim.app.privateKeyPem, { mode: 0o600 });
    const env = { APP_ID: String(sim.app.id), PRIVATE_KEY_FILE: join(dir, "key.pem"), GITHUB_API_URL: sim.url, INSTALLATION_ID: "1001", OUTPUT_PATH: join(dir, "token"), PATH: process.env.PATH ?? "/usr/bin:/bin" };

    const mint = Bun.spawn([exe], { env: { ...env, BUN_BYTECODE_ORDER_OUT: join(dir, "mint.order") }, stderr: "pipe" });
    if ((await mint.exited) !== 0) throw new Error(`the mint failed: ${await new Response(mint.stderr).text()}`);

    const sidecar = await startHealthySidecar(exe, { ...env, BUN_BYTECODE_ORDER_OUT: join(dir, "refresh.order") });
    for (const path of ["/livez", "/readyz", "/metrics"]) await sidecar.get(path);
    if ((await sidecar.stop()) !== 0) throw new Error(`the sidecar did not stop cleanly: ${await new Response(sidecar.proc.stderr).text()}`);
    return { mint: readFileSync(join(dir, "mint.order"), "utf8"), refresh: readFileSync(join(dir, "refresh.order"), "utf8") };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The functions a profile lists (its "F <hash>" lines). */
export const profiledFunctions = (profile: string): Set<string> => new Set(profile.split("\n").filter((l) => l.startsWith("F ")));

if (import.meta.main) {
  const dir = mkdtempSync(join(tmpdir(), "ghapp-order-build-"));
  const sim = await startSimulator();
  try {
    const exe = join(dir, "ghapp-token");
    await build({ outfile: exe });
    const profiles = await recordProfiles(exe, sim);
    const [mintOrder, refreshOrder] = BYTECODE_ORDER as [string, string];
    for (const [profile, to] of [[profiles.mint, mintOrder], [profiles.refresh, refreshOrder]] as const) {
      writeFileSync(to, profile);
      console.log(`wrote ${to.slice(process.cwd().length + 1)}: ${profiledFunctions(profile).size} functions`);
    }
  } finally {
    await sim.close();
    rmSync(dir, { recursive: true, force: true });
  }
  console.log("now run npm run build: ghapp-token is laid out by these profiles");
}
