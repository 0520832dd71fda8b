// Runs the COMPILED broker (dist/ghapp-runner-broker) as a subprocess against the in-process
// GitHub simulator, which is also the callers' OIDC issuer: what an operator and a caller see
// (HTTP answers, exit codes, logs) and what GitHub sees (runners, requests).
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { startSimulator, type Simulator, type SimulatorOptions } from "../simulator/simulator.ts";
import { runCommand, type CommandResult } from "../helpers/run.ts";
import type { MintRequest } from "../simulator/oidc-issuer.ts";

export const BROKER = resolve(import.meta.dir, "../../dist/ghapp-runner-broker");
export const AUDIENCE = "ghapp-runner-broker";
export const ADMIN = "repo:acme-org/platform:ref:refs/heads/main";
export const ALICE = "repo:acme-org/api:ref:refs/heads/main";
export const BOB = "repo:acme-org/web:ref:refs/heads/main";

export function requireBroker(): string {
  if (!existsSync(BROKER)) throw new Error(`${BROKER} is missing: run \`npm run build\` first (npm test does)`);
  return BROKER;
}

export interface World {
  sim: Simulator;
  dir: string;
  keyFile: string;
  /** the environment a broker needs against this simulator */
  env(extra?: Record<string, string>): Record<string, string>;
  token(sub: string, extra?: Partial<MintRequest>): Promise<string>;
  close(): Promise<void>;
}

export async function startWorld(opts: SimulatorOptions = {}): Promise<World> {
  const sim = await startSimulator(opts);
  const dir = mkdtempSync(join(tmpdir(), "broker-test-"));
  const keyFile = join(dir, "app.pem");
  writeFileSync(keyFile, sim.app.privateKeyPem, { mode: 0o600 });
  let n = 0;
  return {
    sim,
    dir,
    keyFile,
    env: (extra = {}) => ({
      PATH: "/usr/bin:/bin",
      GITHUB_APP_ID: String(sim.app.id),
      GITHUB_APP_PRIVATE_KEY_FILE: keyFile,
      GITHUB_ORG: "acme-org",
      GITHUB_API_URL: sim.url,
      GITHUB_URL: "https://github.com",
      DATABASE_URL: `sqlite://${join(dir, `broker-${++n}.db`)}`,
      LISTEN_ADDR: "127.0.0.1:0",
      OIDC_ISSUER: sim.oidc.issuer,
      OIDC_AUDIENCE: AUDIENCE,
      ADMIN_IDENTITIES: ADMIN,
      SYNC_INTERVAL: "1h",
      ...extra,
    }),
    token: (sub, extra = {}) => sim.oidc.mint({ sub, aud: AUDIENCE, ...extra }),
    close: async () => {
      await sim.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface Broker {
  url: string;
  env: Record<string, string>;
  proc: ReturnType<typeof Bun.spawn>;
  /** everything the broker wrote on stderr so far */
  logs(): string;
  call(method: string, path: string, opts?: { token?: string; body?: unknown; headers?: Record<string, string> }): Promise<{ status: number; headers: Headers; text: string; json: any }>;
  stop(signal?: NodeJS.Signals): Promise<number>;
}

/**
 * Starts `ghapp-runner-broker serve` and waits for its "listening" line (10 s, or `startTimeoutMs`);
 * `binary` is another build of the broker (the rolling-upgrade test's next release).
 */
export async function startBroker(env: Record<string, string>, args: string[] = ["serve"], startTimeoutMs = 10_000, binary?: string): Promise<Broker> {
  const proc = Bun.spawn([binary ?? requireBroker(), ...args], { env, stdout: "pipe", stderr: "pipe", cwd: tmpdir() });
  let stderr = "";
  const { promise: urlP, resolve: resolveUrl, reject: rejectUrl } = Promise.withResolvers<string>();
  void (async () => {
    const decoder = new TextDecoder();
    let listening = false;
    for await (const chunk of proc.stderr as ReadableStream<Uint8Array>) {
      stderr += decoder.decode(chunk);
      // Searched until found only: a busy broker's log grows by megabytes (a benchmark's), and a
      // regular expression over it at every chunk would cost the test process more than the broker.
      if (listening) continue;
      const m = /"message":"listening"[^\n]*"port":(\d+)/.exec(stderr) ?? /"port":(\d+)[^\n]*"message":"listening"/.exec(stderr);
      if (m) {
        listening = true;
        resolveUrl(`http://127.0.0.1:${m[1]}`);
      }
    }
  })();
  void proc.exited.then((code) => rejectUrl(new Error(`broker exited with ${code} before listening:\n${stderr}`)));
  const timer = setTimeout(() => rejectUrl(new Error(`broker did not start within ${startTimeoutMs / 1000} s:\n${stderr}`)), startTimeoutMs);
  const url = await urlP.finally(() => clearTimeout(timer));
  void new Response(proc.stdout as ReadableStream).text();
  return {
    url,
    env,
    proc,
    logs: () => stderr,
    async call(method, path, o = {}) {
      const headers: Record<string, string> = { ...(o.headers ?? {}) };
      if (o.token) headers.authorization = `Bearer ${o.token}`;
      if (o.body !== undefined) headers["content-type"] = "application/json";
      const res = await fetch(`${url}${path}`, { method, headers, ...(o.body !== undefined ? { body: typeof o.body === "string" ? o.body : JSON.stringify(o.body) } : {}) });
      const text = await res.text();
      let json: any;
      try {
        json = text ? JSON.parse(text) : undefined;
      } catch {
        json = undefined;
      }
      return { status: res.status, headers: res.headers, text, json };
    },
    async stop(signal = "SIGTERM") {
      proc.kill(signal);
      return await proc.exited;
    },
  };
}

/** Runs a broker CLI command to completion. */
export function runBroker(args: string[], env: Record<string, string>, timeoutMs = 20_000): Promise<CommandResult> {
  return runCommand([requireBroker(), ...args], { env, cwd: tmpdir(), timeoutMs });
}

/** The broker's JSON log lines. */
export function logLines(text: string): Array<Record<string, unknown>> {
  return text
    .split("\n")
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** Polls until `check` returns a truthy value (or throws after timeoutMs). */
export async function eventually<T>(check: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 10_000, what = "condition"): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(100);
  }
}

/**
 * A policy body in the API's shape. It allows linux and x64 as an operator of Linux x64 runners
 * would: a runner registered with config.sh carries them (GitHub adds them), and only self-hosted
 * passes a policy unnamed.
 */
export function policy(user: string, extra: Record<string, unknown> = {}) {
  return { user_identity: user, allowed_labels: ["team-a", "gpu-small", "linux", "x64"], label_patterns: ["build-[a-z0-9]+"], required_labels: [], max_runners: 5, allow_registration_token: false, runner_group_id: 2, ...extra };
}
