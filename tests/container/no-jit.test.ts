// The image's environment (IMAGE.ownEnv, the Dockerfile's ENV) runs ghapp-token without a JIT, so
// its process holds no memory that is both writable and executable: read from the running
// sidecar's own /proc/PID/maps. The same executable without that environment is the control: it
// maps JavaScriptCore's JIT pool (writable and executable), so the check can tell them apart.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { IMAGE } from "../../ci/image-rootfs.ts";
import { requireBinary, startHealthySidecar, tempDir } from "../helpers/generator.ts";
import { startSimulator, type Simulator } from "../simulator/simulator.ts";

let sim: Simulator;
const tmp = tempDir("ghapp-nojit-");
beforeAll(async () => {
  sim = await startSimulator();
  writeFileSync(join(tmp.dir, "key.pem"), sim.app.privateKeyPem, { mode: 0o600 });
});
afterAll(async () => {
  await sim.close();
  tmp.cleanup();
});

/** The writable-and-executable mappings of a refresh sidecar that has written its first token. */
async function writableExecutableMappings(env: Record<string, string>): Promise<string[]> {
  const sidecar = await startHealthySidecar(requireBinary(), { APP_ID: String(sim.app.id), PRIVATE_KEY_FILE: join(tmp.dir, "key.pem"), GITHUB_API_URL: sim.url, INSTALLATION_ID: "1001", OUTPUT_PATH: join(tmp.dir, "token"), ...env });
  try {
    return readFileSync(`/proc/${sidecar.proc.pid}/maps`, "utf8")
      .split("\n")
      .filter((line) => /^\S+ .wx/.test(line));
  } finally {
    await sidecar.stop();
  }
}

test("in the image's environment the sidecar has no writable and executable memory", async () => {
  expect(IMAGE.env).toMatchObject(IMAGE.ownEnv);
  expect(await writableExecutableMappings({ ...IMAGE.env })).toEqual([]);
});

test("the control: the bare executable maps a writable and executable JIT pool", async () => {
  const { BUN_JSC_useJIT: _, ...withJit } = IMAGE.env;
  expect((await writableExecutableMappings(withJit)).length).toBeGreaterThan(0);
});
