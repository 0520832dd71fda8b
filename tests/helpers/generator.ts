// Runs the compiled generator (dist/ghapp-token) as a subprocess, the way Kubernetes does:
// only the environment the test gives (nothing inherited, so no stray proxy or CA settings
// from the host), stdout and stderr captured, exit code and wall time measured.
// Always async: the simulator may live in the test's own event loop.
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { freePort, runCommand } from "./run.ts";

export const BINARY = resolve(import.meta.dir, "../../dist/ghapp-token");

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
  ms: number;
}

export function requireBinary(): string {
  if (!existsSync(BINARY)) throw new Error(`${BINARY} is missing: run \`npm run build\` first (npm test does)`);
  return BINARY;
}

export async function runGenerator(args: string[], env: Record<string, string | undefined>, opts: { timeoutMs?: number; cwd?: string } = {}): Promise<RunResult> {
  const clean: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined) clean[k] = v;
  const started = performance.now();
  const r = await runCommand([requireBinary(), ...args], { env: clean, cwd: opts.cwd ?? tmpdir(), timeoutMs: opts.timeoutMs ?? 25_000 });
  return { ...r, ms: performance.now() - started };
}

/**
 * Starts `exe refresh` on a free port and returns once /healthz answers 200 (its first token is
 * written); throws with its stderr if it exits or is not ready within `timeoutMs`. `get` answers a
 * path's status (0 when nothing answers); `stop` sends SIGTERM and resolves to the exit code.
 */
export async function startHealthySidecar(exe: string, env: Record<string, string>, timeoutMs = 10_000) {
  const port = freePort();
  const proc = Bun.spawn([exe, "refresh"], { env: { ...env, LISTEN_ADDR: `127.0.0.1:${port}` }, stdout: "ignore", stderr: "pipe" });
  const get = (path: string) => fetch(`http://127.0.0.1:${port}${path}`).then((r) => r.status).catch(() => 0);
  const deadline = Date.now() + timeoutMs;
  while ((await get("/healthz")) !== 200) {
    if (Date.now() > deadline || proc.exitCode !== null) {
      proc.kill("SIGKILL");
      throw new Error(`the sidecar did not become ready: ${await new Response(proc.stderr).text()}`);
    }
    await Bun.sleep(25);
  }
  const stop = async () => {
    proc.kill("SIGTERM");
    return proc.exited;
  };
  return { proc, port, get, stop };
}

/** A fresh temporary folder, removed by the returned cleanup. */
export function tempDir(prefix = "ghapp-test-"): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Parses the generator's JSON log lines (stderr); non-JSON lines fail the test loudly. */
export function logLines(stderr: string): Array<Record<string, unknown>> {
  return stderr
    .split("\n")
    .filter((l) => l.trim())
    .map((l) => {
      try {
        return JSON.parse(l) as Record<string, unknown>;
      } catch {
        throw new Error(`log line is not JSON: ${l}`);
      }
    });
}
