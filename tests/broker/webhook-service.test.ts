// The webhook service's processing, in process over a real SQLite database with a clock the test
// moves: what a delivery does to a runner when deliveries arrive late, out of order, or were accepted
// by a replica that died before acting on them.
import { afterAll, afterEach, beforeEach, describe, expect, test } from "bun:test";
import { createHash, randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createLogger } from "../../generator/src/core/logger.ts";
import { BrokerError } from "../../generator/src/broker/errors.ts";
import type { GitHubRunner, GitHubRunnerApi } from "../../generator/src/broker/github-runners.ts";
import { BrokerMetrics } from "../../generator/src/broker/metrics.ts";
import { Journal } from "../../generator/src/broker/service/journal.ts";
import { WebhookService } from "../../generator/src/broker/service/webhooks.ts";
import { openStorage } from "../../generator/src/broker/storage/open.ts";
import type { RunnerRecord, Storage } from "../../generator/src/broker/storage/storage.ts";
import { signWebhook } from "../../generator/src/broker/webhook-signature.ts";

const SECRET = "service-test-secret-0123456789";
const dir = mkdtempSync(join(tmpdir(), "webhook-service-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let t: number;
let storage: Storage;
let service: WebhookService;
/** What GitHub answers to GET runner: the runners it still has; `down` makes it fail. */
let atGitHub: Map<number, GitHubRunner>;
let down: boolean;

afterEach(() => storage.close());
beforeEach(async () => {
  t = Date.parse("2026-03-01T12:00:00Z");
  storage = openStorage(`sqlite://${join(dir, `${randomUUID()}.db`)}`, { now: () => new Date(t) });
  await storage.migrate();
  atGitHub = new Map();
  down = false;
  const github = {
    getRunner: async (id: number) => {
      if (down) throw new BrokerError("github_unavailable", "GitHub is unavailable for get runner: retry later");
      return atGitHub.get(id) ?? null;
    },
  } as unknown as GitHubRunnerApi;
  service = new WebhookService({ storage, github, journal: new Journal(storage), metrics: new BrokerMetrics(), logger: createLogger("error", {}), secret: SECRET, org: "acme-org", now: () => t });
});

/** A JIT runner GitHub created (id 101 unless given), in the status given. */
async function runner(status: RunnerRecord["status"], githubRunnerId: number | null = 101, mode: RunnerRecord["mode"] = "jit"): Promise<RunnerRecord> {
  const r = await storage.reserveRunner({ name: "build-1", provisionedBy: "team-a", labels: ["team-a"], ephemeral: mode === "jit", mode, runnerGroupId: 2, maxRunners: 5 });
  if (!r.ok) throw new Error("reservation failed");
  return (await storage.updateRunner(r.runner.id, { githubRunnerId, status, secretSha256: createHash("sha256").update("secret").digest("hex") }))!;
}

/** A signed workflow_job delivery, as GitHub sends it (the essentials), received by the service. */
function deliver(action: "queued" | "in_progress" | "completed", jobId = 7001, runnerId: number | null = 101, guid = randomUUID()) {
  const at = new Date(t).toISOString();
  const body = new TextEncoder().encode(
    JSON.stringify({
      action,
      workflow_job: { id: jobId, run_id: 9001, status: action, conclusion: action === "completed" ? "success" : null, labels: ["self-hosted", "team-a"], runner_id: runnerId, runner_name: runnerId ? "build-1" : null, runner_group_id: runnerId ? 2 : null, created_at: at, started_at: at, completed_at: action === "completed" ? at : null },
      organization: { login: "acme-org" },
    }),
  );
  return service.receive({ signature: signWebhook(SECRET, body), event: "workflow_job", guid, body }).then((answer) => ({ answer, guid }));
}

const statusOf = async (id: number) => (await storage.getRunnerById(id))?.status;

describe("processing", () => {
  test("in_progress makes the runner busy and completed makes it idle, each with an audit record in the same change", async () => {
    const r = await runner("active");
    atGitHub.set(101, { id: 101, name: "build-1", online: true, busy: false, ephemeral: true, runnerGroupId: 2, labels: [] });
    expect((await deliver("in_progress")).answer).toEqual({ status: 202, body: { status: "queued" } });
    await service.drain();
    expect(await statusOf(r.id)).toBe("busy");
    await deliver("completed");
    await service.drain();
    expect(await statusOf(r.id)).toBe("active"); // GitHub still lists it: the sync decides later
    const audit = await storage.listAudit({ action: "webhook.status_change", order: "asc" });
    expect(audit.map((a) => [a.details.from, a.details.to])).toEqual([["active", "busy"], ["busy", "active"]]);
  });

  test("an ephemeral runner GitHub removed after its job is deleted at once; with GitHub down it stays idle for the sync", async () => {
    const r = await runner("busy");
    await deliver("completed");
    await service.drain();
    expect(await statusOf(r.id)).toBe("deleted");
    const again = await runner("busy", 102);
    down = true;
    await deliver("completed", 7009, 102);
    await service.drain();
    expect(await statusOf(again.id)).toBe("active");
  });

  test("a late in_progress of a job that already completed does not make its runner busy again", async () => {
    const r = await runner("active");
    atGitHub.set(101, { id: 101, name: "build-1", online: true, busy: false, ephemeral: true, runnerGroupId: 2, labels: [] });
    await deliver("completed");
    await service.drain();
    const late = await deliver("in_progress");
    await service.drain();
    expect(await statusOf(r.id)).toBe("active");
    expect((await storage.getWebhookDelivery(late.guid))?.outcome).toBe("stale");
  });

  test("a delivery for a runner the broker did not provision changes nothing", async () => {
    const r = await runner("active");
    const other = await deliver("in_progress", 7002, 555);
    await service.drain();
    expect(await statusOf(r.id)).toBe("active");
    expect((await storage.getWebhookDelivery(other.guid))?.outcome).toBe("unknown_runner");
  });

  test("a registration-token runner the sync has not linked yet is linked by its first in_progress", async () => {
    const r = await runner("pending", null, "registration_token");
    await deliver("in_progress", 7003, 321);
    await service.drain();
    expect(await storage.getRunnerById(r.id)).toMatchObject({ githubRunnerId: 321, status: "busy" });
  });

  test("a delivery accepted by a replica that died before acting on it is processed by the leader's sweep, after 30 s, once", async () => {
    const r = await runner("active");
    // What the dead replica left: the GUID recorded, nothing processed.
    const guid = randomUUID();
    await storage.recordWebhookDelivery({ guid, event: "workflow_job", action: "in_progress", workflowJobId: 7004, runnerId: 101, runnerName: "build-1", runnerGroupId: 2 });
    t += 10_000;
    expect(await service.sweep(async () => true)).toBe(0);
    t += 21_000;
    expect(await service.sweep(async () => true)).toBe(1);
    expect(await statusOf(r.id)).toBe("busy");
    expect(await service.sweep(async () => true)).toBe(0);
    expect(await storage.listAudit({ action: "webhook.status_change" })).toHaveLength(1);
  });
});
