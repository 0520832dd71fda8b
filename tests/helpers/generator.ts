// Runs the compiled generator (dist/ghapp-token) as a subprocess, the way Kubernetes does:
// only the environment the test gives (nothing inherited, so no stray proxy or CA settings
// from the host), stdout and stderr captured, exit code and wall time measured.
// Always async: the simulator may live in the test's own event loop.
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { runCommand } from "./run.ts";

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
