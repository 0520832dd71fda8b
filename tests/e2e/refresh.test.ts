// The sidecar against the simulator with short-lived tokens: timing, atomic replacement under a
// polling reader, outages, expiry, health, metrics, key rotation, shutdown and revocation; and
// the revoke and installations commands.
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { startSimulator, type Simulator } from "../simulator/simulator.ts";
import { BINARY, logLines, runGenerator, tempDir } from "../helpers/generator.ts";
import { freePort } from "../helpers/run.ts";
import { expectNoSecrets, keyFragments } from "../helpers/secrets.ts";

let sim: Simulator;
const tmp = tempDir();
let n = 0;
const running: Array<ReturnType<typeof Bun.spawn>> = [];

beforeAll(async () => {
  sim = await startSimulator({ tokenTtlSeconds: 4 });
});
afterAll(async () => {
  for (const p of running) p.kill("SIGKILL");
  await sim.close();
  tmp.cleanup();
});
afterEach(() => {
  sim.clearFaults();
  sim.setTokenTtl(4);
});

async function startSidecar(extra: Record<string, string> = {}) {
  const dir = join(tmp.dir, `sidecar-${++n}`);
  mkdirSync(dir);
  const keyFile = join(dir, "privateKey");
  writeFileSync(keyFile, sim.app.privateKeyPem);
  const port = freePort();
  const env = { APP_ID: String(sim.app.id), PRIVATE_KEY_FILE: keyFile, GITHUB_API_URL: sim.url, OUTPUT_PATH: join(dir, "token"), OWNER: "acme-org", LISTEN_ADDR: `127.0.0.1:${port}`, ...extra };
  const proc = Bun.spawn([BINARY, "refresh"], { env, stdout: "pipe", stderr: "pipe" });
  running.push(proc);
  let stderr = "";
  void (async () => {
    for await (const chunk of proc.stderr as ReadableStream<Uint8Array>) stderr += new TextDecoder().decode(chunk);
  })();
  const health = async () => {
    const r = await fetch(`http://127.0.0.1:${port}/healthz`);
    return { status: r.status, body: (await r.json()) as { status: string; expires_at: string | null } };
  };
  const metrics = async () => (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const tokenPath = env.OUTPUT_PATH;
  // Wait for the first token and the metadata written just after it.
  const ready = () => existsSync(tokenPath) && (extra.METADATA_PATH === "none" || existsSync(`${tokenPath}.json`));
  for (let i = 0; i < 100 && !ready(); i++) await Bun.sleep(20);
  return { proc, env, dir, keyFile, tokenPath, health, metrics, logs: () => stderr };
}

const minted = () => sim.requests.filter((r) => r.method === "POST" && r.path.endsWith("/access_tokens") && r.status === 201).length;

describe("refresh sidecar", () => {
  test("replaces the token at about 80% of its lifetime, computed from expires_at", async () => {
    const s = await startSidecar();
    const first = readFileSync(s.tokenPath, "utf8");
    const expiresAt = Date.parse(JSON.parse(readFileSync(`${s.tokenPath}.json`, "utf8")).expires_at);
    const t0 = Date.now();
    let changedAt = 0;
    while (Date.now() - t0 < 6000) {
      if (readFileSync(s.tokenPath, "utf8") !== first) {
        changedAt = Date.now();
        break;
      }
      await Bun.sleep(20);
    }
    expect(changedAt).toBeGreaterThan(0);
    // expires_at has whole seconds, so the lifetime is 3-4 s: 80% lands 2.4-3.2 s in, before expiry.
    expect(changedAt - t0).toBeGreaterThan(1500);
    expect(changedAt).toBeLessThan(expiresAt);
    s.proc.kill("SIGTERM");
    await s.proc.exited;
  }, 10_000);

  test("a reader polling the file every few ms never sees it missing, empty or partial", async () => {
    sim.setTokenTtl(2);
    const s = await startSidecar();
    const seen = new Set<string>();
    let bad = 0;
    const until = Date.now() + 4500;
    while (Date.now() < until) {
      try {
        const t = readFileSync(s.tokenPath, "utf8");
        if (!/^ghs_\d+_eyJ[A-Za-z0-9_.-]{400,}$/.test(t)) bad++;
        seen.add(t);
      } catch {
        bad++;
      }
      await Bun.sleep(2);
    }
    s.proc.kill("SIGTERM");
    await s.proc.exited;
    expect(bad).toBe(0);
    expect(seen.size).toBeGreaterThanOrEqual(3);
  }, 10_000);

  test("keeps the valid token through an outage, turns unhealthy once it expires, then recovers", async () => {
    const s = await startSidecar();
    const token = readFileSync(s.tokenPath, "utf8");
    sim.inject({ kind: "status", status: 503, times: 10_000 });
    await Bun.sleep(2500);
    expect(readFileSync(s.tokenPath, "utf8")).toBe(token); // never deleted or emptied
    expect((await s.health()).status).toBe(200);
    await Bun.sleep(2500); // past expiry
    const expired = await s.health();
    expect(expired.status).toBe(503);
    expect(expired.body.status).toBe("expired");
    expect(readFileSync(s.tokenPath, "utf8")).toBe(token);
    // A refresh gives up after its 5 attempts (about 7.5 s of back-off); then the failure counts.
    let metrics = "";
    for (let i = 0; i < 100 && !/reason="unavailable"\} [1-9]/.test(metrics); i++) {
      await Bun.sleep(100);
      metrics = await s.metrics();
    }
    expect(metrics).toMatch(/ghapp_token_refresh_total\{result="failure",reason="unavailable"\} [1-9]/);
    sim.clearFaults();
    for (let i = 0; i < 100 && readFileSync(s.tokenPath, "utf8") === token; i++) await Bun.sleep(100);
    expect(readFileSync(s.tokenPath, "utf8")).not.toBe(token);
    expect((await s.health()).status).toBe(200);
    s.proc.kill("SIGTERM");
    await s.proc.exited;
  }, 40_000);

  test("picks up a rotated key without a restart", async () => {
    const s = await startSidecar();
    const before = minted();
    const newKey = sim.rotateKey(); // GitHub now knows only the new key
    writeFileSync(s.keyFile, newKey); // as the kubelet swaps the mounted Secret
    for (let i = 0; i < 100 && minted() === before; i++) await Bun.sleep(50);
    expect(minted()).toBeGreaterThan(before);
    expect(s.logs()).not.toContain("refresh failed");
    s.proc.kill("SIGTERM");
    await s.proc.exited;
  }, 10_000);

  test("serves metrics and health without any secret", async () => {
    const s = await startSidecar();
    const token = readFileSync(s.tokenPath, "utf8");
    const health = await s.health();
    expect(health.body).toEqual({ status: "ok", expires_at: expect.any(String) });
    const metrics = await s.metrics();
    expect(metrics).toContain('ghapp_token_refresh_total{result="success",reason="ok"} 1');
    expect(metrics).toMatch(/ghapp_token_expiry_timestamp_seconds \d{10}/);
    expect(metrics).toMatch(/ghapp_token_last_refresh_success_timestamp_seconds \d{10}/);
    expect(metrics).toMatch(/ghapp_github_rate_limit_remaining \d+/);
    expect(metrics).toMatch(/ghapp_github_request_duration_seconds_count\{method="POST",status="201"\} 1/);
    expect(Number(/ghapp_github_request_duration_seconds_sum\{method="POST",status="201"\} ([\d.e-]+)/.exec(metrics)?.[1])).toBeGreaterThan(0);
    s.proc.kill("SIGTERM");
    await s.proc.exited;
    expectNoSecrets(metrics + JSON.stringify(health.body) + s.logs(), [token, ...keyFragments(sim.app.privateKeyPem)]);
  });

  test("stops within 2 s on SIGTERM with exit 0, revoking the token with REVOKE_ON_EXIT=true", async () => {
    const s = await startSidecar({ REVOKE_ON_EXIT: "true" });
    const token = readFileSync(s.tokenPath, "utf8");
    const t0 = Date.now();
    s.proc.kill("SIGTERM");
    expect(await s.proc.exited).toBe(0);
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(sim.tokens.get(token)!.revoked).toBe(true);
  });

  test("stops on SIGINT with exit 0 and leaves the token valid without REVOKE_ON_EXIT", async () => {
    const s = await startSidecar();
    const token = readFileSync(s.tokenPath, "utf8");
    s.proc.kill("SIGINT");
    expect(await s.proc.exited).toBe(0);
    expect(sim.tokens.get(token)!.revoked).toBe(false);
  });

  test("exits with mint's code when the first token cannot be had for a credentials reason", async () => {
    const s = await startSidecar({ OWNER: "nobody-here" });
    expect(await s.proc.exited).toBe(4);
    expect(logLines(s.logs()).at(-2)?.message ?? s.logs()).toContain("nobody-here");
  });
});

describe("revoke", () => {
  test("revokes the token in OUTPUT_PATH without App credentials, and is idempotent", async () => {
    const dir = join(tmp.dir, "revoke");
    mkdirSync(dir);
    const keyFile = join(dir, "k");
    writeFileSync(keyFile, sim.app.privateKeyPem);
    const out = join(dir, "token");
    expect((await runGenerator([], { APP_ID: String(sim.app.id), PRIVATE_KEY_FILE: keyFile, GITHUB_API_URL: sim.url, OUTPUT_PATH: out, OWNER: "acme-org" })).code).toBe(0);
    const token = readFileSync(out, "utf8");
    const first = await runGenerator(["revoke"], { GITHUB_API_URL: sim.url, OUTPUT_PATH: out });
    expect(first.code).toBe(0);
    expect(sim.tokens.get(token)!.revoked).toBe(true);
    expect(logLines(first.stderr).at(-1)!.message).toBe("token revoked");
    const again = await runGenerator(["revoke"], { GITHUB_API_URL: sim.url, OUTPUT_PATH: out });
    expect(again.code).toBe(0);
    expect(logLines(again.stderr).at(-1)!.message).toContain("already expired or revoked");
    expectNoSecrets(first.stderr + again.stderr, [token]);
  });

  test("has nothing to do without a token file", async () => {
    const r = await runGenerator(["revoke"], { GITHUB_API_URL: sim.url, OUTPUT_PATH: join(tmp.dir, "never-written") });
    expect(r.code).toBe(0);
    expect(logLines(r.stderr).at(-1)!.message).toContain("nothing to revoke");
  });

  test("fails clearly when GitHub is down", async () => {
    const dir = join(tmp.dir, "revoke-down");
    mkdirSync(dir);
    writeFileSync(join(dir, "token"), "ghs_0123456789abcdefghijABCDEFGHIJ012345");
    sim.inject({ kind: "status", status: 503, times: 10 });
    const r = await runGenerator(["revoke"], { GITHUB_API_URL: sim.url, OUTPUT_PATH: join(dir, "token") });
    expect(r.code).toBe(5);
  }, 15_000);
});

describe("installations", () => {
  test("lists the App's installations as JSON on stdout", async () => {
    const keyFile = join(tmp.dir, "inst.pem");
    writeFileSync(keyFile, sim.app.privateKeyPem);
    const r = await runGenerator(["installations"], { APP_ID: String(sim.app.id), PRIVATE_KEY_FILE: keyFile, GITHUB_API_URL: sim.url });
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual([
      { id: 1001, account: "acme-org", type: "Organization", repository_selection: "selected", suspended: false },
      { id: 1002, account: "Octo-User", type: "User", repository_selection: "all", suspended: false },
    ]);
  });
});
