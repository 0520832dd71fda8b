// The redelivery round in process, against the simulator's App delivery log over real HTTP (the
// project's GitHub client, the App's JWT) and a real SQLite database: how much it asks GitHub for
// per round, and that each GUID is asked for once however many rounds or handles there are.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createPrivateKey } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { GitHubClient } from "../../generator/src/core/github-client.ts";
import { createLogger } from "../../generator/src/core/logger.ts";
import { GitHubHookDeliveries } from "../../generator/src/broker/github-hook-deliveries.ts";
import type { GitHubRunnerApi } from "../../generator/src/broker/github-runners.ts";
import { BrokerMetrics } from "../../generator/src/broker/metrics.ts";
import { Redelivery } from "../../generator/src/broker/redelivery.ts";
import { Journal } from "../../generator/src/broker/service/journal.ts";
import { WebhookService } from "../../generator/src/broker/service/webhooks.ts";
import { openStorage } from "../../generator/src/broker/storage/open.ts";
import type { Storage } from "../../generator/src/broker/storage/storage.ts";
import { startSimulator, type Simulator } from "../simulator/simulator.ts";

let sim: Simulator;
let dir: string;
let receiver: ReturnType<typeof Bun.serve>;
const storages: Storage[] = [];

beforeAll(async () => {
  sim = await startSimulator();
  dir = mkdtempSync(join(tmpdir(), "redelivery-"));
  receiver = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response(null, { status: 204 }) });
});
afterAll(async () => {
  await Promise.all(storages.map((s) => s.close()));
  receiver.stop(true);
  await sim.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A broker's redelivery over its own fresh database (a new leader with nothing asked yet). */
async function redelivery(): Promise<{ run: () => Promise<{ requested: number }>; metrics: BrokerMetrics }> {
  const storage = openStorage(`sqlite://${join(dir, `db-${storages.length}.sqlite`)}`);
  storages.push(storage);
  await storage.migrate();
  const logger = createLogger("error", {});
  const metrics = new BrokerMetrics();
  const client = new GitHubClient({ apiUrl: sim.url, timeoutMs: 5000, maxRetryWaitMs: 0, logger });
  const hooks = new GitHubHookDeliveries(client, { app: { appId: String(sim.app.id), key: createPrivateKey(sim.app.privateKeyPem) } }, sim.url);
  // Sweeping needs no GitHub: nothing was accepted by this database.
  const webhooks = new WebhookService({ storage, github: {} as GitHubRunnerApi, journal: new Journal(storage), metrics, logger, secret: "x".repeat(32), org: "acme-org" });
  const r = new Redelivery({ storage, hooks, webhooks, metrics, logger });
  return { run: () => r.run(), metrics };
}

/** n pings to the receiver, `failed` of them dropped; the log is then moved two minutes into the past. */
async function pings(n: number, failed: number): Promise<void> {
  sim.webhooks.drop(failed);
  for (let i = 0; i < n; i++) sim.webhooks.configure({ url: `http://127.0.0.1:${receiver.port}/hook`, secret: "s".repeat(32) });
  await sim.webhooks.settled();
  sim.webhooks.backdate(2 * 60_000);
}

const listCalls = () => sim.requests.filter((r) => r.method === "GET" && r.path.startsWith("/app/hook/deliveries")).length;
const attempts = () => sim.requests.filter((r) => r.method === "POST" && r.path.endsWith("/attempts")).length;

describe("redelivery rounds", () => {
  test("at most 50 requests a round; the rest next round; each GUID once, whatever the number of rounds", async () => {
    await pings(60, 60);
    const r = await redelivery();
    const before = attempts();
    expect((await r.run()).requested).toBe(50);
    expect((await r.run()).requested).toBe(10);
    expect((await r.run()).requested).toBe(0);
    await sim.webhooks.settled();
    expect(attempts() - before).toBe(60);
    const guids = sim.webhooks.deliveries().filter((d) => d.redelivery).map((d) => d.guid);
    expect(new Set(guids).size).toBe(guids.length);
  });

  test("after a complete round, the next reads only the first page of the log", async () => {
    await pings(150, 1);
    const r = await redelivery(); // a new leader: reads the whole window once
    let calls = listCalls();
    await r.run();
    expect(listCalls() - calls).toBeGreaterThanOrEqual(3); // 211+ deliveries, 100 a page
    calls = listCalls();
    expect((await r.run()).requested).toBe(0);
    expect(listCalls() - calls).toBe(1);
  });
});
