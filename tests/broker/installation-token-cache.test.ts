// The broker's installation token: minted once, reused, renewed ten minutes before it expires,
// one mint for many concurrent callers, and dropped when GitHub refuses it.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { createPrivateKey } from "node:crypto";
import { GitHubClient } from "../../generator/src/core/github-client.ts";
import { InstallationTokenCache } from "../../generator/src/core/installation-token-cache.ts";
import { createLogger } from "../../generator/src/core/logger.ts";
import { startSimulator, type Simulator } from "../simulator/simulator.ts";

let sim: Simulator;
beforeAll(async () => {
  sim = await startSimulator();
});
afterAll(() => sim.close());

function cache(now: () => number) {
  // The App's JWT is signed on the real clock; only the cache's judgement of expiry moves.
  const client = new GitHubClient({ apiUrl: sim.url, timeoutMs: 5000, maxRetryWaitMs: 1000, logger: createLogger("error", {}) });
  return new InstallationTokenCache({ client, appAuth: { app: { appId: String(sim.app.id), key: createPrivateKey(sim.app.privateKeyPem) } }, installationId: async () => 1001, now });
}
const mints = () => sim.requests.filter((r) => r.path === "/app/installations/1001/access_tokens").length;

test("reuses the token, and renews it once less than ten minutes are left", async () => {
  let clock = Date.now();
  const c = cache(() => clock);
  const before = mints();
  const first = await c.token();
  clock += 49 * 60_000;
  expect(await c.token()).toBe(first);
  expect(mints()).toBe(before + 1);
  clock += 2 * 60_000;
  const second = await c.token();
  expect(second).not.toBe(first);
  expect(mints()).toBe(before + 2);
  expect(sim.tokens.has(second)).toBe(true);
});

test("many concurrent callers share one mint", async () => {
  const c = cache(Date.now);
  const before = mints();
  const tokens = await Promise.all(Array.from({ length: 20 }, () => c.token()));
  expect(new Set(tokens).size).toBe(1);
  expect(mints()).toBe(before + 1);
});

test("invalidate() makes the next caller mint a new token", async () => {
  const c = cache(Date.now);
  const first = await c.token();
  c.invalidate();
  expect(await c.token()).not.toBe(first);
});

test("judges expiry by GitHub's clock: a host two hours ahead reuses the token instead of minting on every call", async () => {
  // GitHub (the simulator) runs two hours behind this host: by the host's clock every token it
  // issues has already expired.
  const behind = await startSimulator({ clockOffsetSeconds: -7200 });
  try {
    const client = new GitHubClient({ apiUrl: behind.url, timeoutMs: 5000, maxRetryWaitMs: 1000, logger: createLogger("error", {}) });
    const c = new InstallationTokenCache({ client, appAuth: { app: { appId: String(behind.app.id), key: createPrivateKey(behind.app.privateKeyPem) } }, installationId: async () => 1001 });
    const first = await c.token();
    expect(await c.token()).toBe(first);
    expect(await c.token()).toBe(first);
    expect(behind.requests.filter((r) => r.path === "/app/installations/1001/access_tokens" && r.status === 201)).toHaveLength(1);
  } finally {
    await behind.close();
  }
});
