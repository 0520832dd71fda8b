// GitHub webhooks as a service: a delivery is verified (X-Hub-Signature-256 over the raw bytes,
// constant time) before anything parses it, deduplicated by its X-GitHub-Delivery GUID (recorded
// in the database before the answer, so a replay is refused on any replica), and queued; the
// answer goes out at once and the work happens after it, well inside GitHub's 10 seconds.
// Processing sets a broker runner's status the moment GitHub reports it (in_progress: busy;
// completed: idle, and an ephemeral runner GitHub has removed: deleted), in one transaction with
// its audit record and the delivery's "processed" mark. The sync stays the safety net.
// Refusals are counted (metrics, and per-minute aggregate rows, never one row per request).
// Knows nothing of HTTP. https://docs.github.com/webhooks/webhook-events-and-payloads#workflow_job
import { z } from "zod";
import type { Logger } from "../../core/logger.ts";
import { BrokerError } from "../errors.ts";
import type { GitHubRunnerApi } from "../github-runners.ts";
import type { BrokerMetrics } from "../metrics.ts";
import type { RunnerStatus, Storage, WebhookDeliveryEntry } from "../storage/storage.ts";
import { checkWebhookSignature } from "../webhook-signature.ts";
import type { Journal } from "./journal.ts";

/**
 * The largest delivery accepted. GitHub caps payloads at 25 MB; a workflow_job delivery is about
 * 10 KB (the repository object is most of it) plus about 200 bytes per step, so 256 KiB holds a job
 * of more than a thousand steps while a flood of large bodies costs little memory.
 */
export const WEBHOOK_MAX_BYTES = 256 * 1024;
/** How long delivery GUIDs are remembered; an older delivery is refused as a replay (its GUID may be forgotten). */
export const DELIVERY_MEMORY_MS = 7 * 24 * 3_600_000;
const SYSTEM = "system";
const GUID = /^[A-Za-z0-9-]{1,64}$/;
const EVENT = /^[a-z_]{1,64}$/;

export const WorkflowJobPayload = z.object({
  action: z.string().regex(/^[a-z_]{1,64}$/),
  workflow_job: z.object({
    id: z.number().int().positive(),
    run_id: z.number().int().positive(),
    status: z.string().max(32),
    conclusion: z.string().max(32).nullable().optional(),
    labels: z.array(z.string().max(256).nullable()).max(500),
    // A job cancelled before any runner took it has been seen with runner_id 0 and runner_name ""
    // (actions/actions-runner-controller#2520): no runner, like null.
    runner_id: z.number().int().nonnegative().nullable().optional(),
    runner_name: z.string().max(256).nullable().optional(),
    runner_group_id: z.number().int().nullable().optional(),
    created_at: z.string().max(64).optional(),
    started_at: z.string().max(64).nullable().optional(),
    completed_at: z.string().max(64).nullable().optional(),
  }),
  organization: z.object({ login: z.string().max(100) }).optional(),
});
type WorkflowJob = z.infer<typeof WorkflowJobPayload>;

export type WebhookAnswer = { status: 200 | 202; body: { status: "queued" | "pong" | "ignored"; detail?: string } };

export interface WebhookServiceDeps {
  storage: Storage;
  github: GitHubRunnerApi;
  journal: Journal;
  metrics: BrokerMetrics;
  logger: Logger;
  /** The webhook secret, read from GITHUB_WEBHOOK_SECRET_FILE. Never logged, stored or answered. */
  secret: string;
  org: string;
  /** GITHUB_ORGS: jobs in any of them are the broker's; unset: `org` alone */
  orgs?: readonly string[];
  /** each organisation's GitHub (its own installation token); unset: `github` */
  githubFor?: (org: string) => GitHubRunnerApi;
  now?: () => number;
}

export interface IncomingDelivery {
  signature: string | undefined;
  event: string | undefined;
  guid: string | undefined;
  body: Uint8Array;
}

/** The event as a metric label: from a fixed set, never the header's text. */
const eventLabel = (event: string | undefined) => (event === "workflow_job" || event === "ping" ? event : "other");

export class WebhookService {
  private readonly now: () => number;
  private queue: Promise<void> = Promise.resolve();
  private queued = 0;

  constructor(private readonly d: WebhookServiceDeps) {
    this.now = d.now ?? Date.now;
  }

  /** Counts a refusal the HTTP layer saw before the service (a body over WEBHOOK_MAX_BYTES). */
  tooLarge(event: string | undefined): void {
    this.d.metrics.webhookDeliveries.inc({ event: eventLabel(event), result: "too_large" });
    this.d.journal.countWebhookRefusal("webhook_too_large");
  }

  /** Verify, then parse, then record (replay check) and queue. Throws BrokerErrors for refusals. */
  async receive(input: IncomingDelivery): Promise<WebhookAnswer> {
    const label = eventLabel(input.event);
    const check = checkWebhookSignature(this.d.secret, input.body, input.signature);
    if (check !== "ok") {
      this.d.metrics.webhookDeliveries.inc({ event: label, result: check });
      this.d.journal.countWebhookRefusal(check === "unsigned" ? "webhook_unsigned" : "webhook_bad_signature");
      throw check === "unsigned"
        ? new BrokerError("webhook_unsigned", "the delivery has no X-Hub-Signature-256: set the webhook secret in the GitHub App's settings")
        : new BrokerError("webhook_bad_signature", "X-Hub-Signature-256 does not match the body: the secret in the GitHub App's settings and GITHUB_WEBHOOK_SECRET_FILE differ");
    }
    const malformed = (detail: string) => {
      this.d.metrics.webhookDeliveries.inc({ event: label, result: "malformed" });
      return new BrokerError("invalid_request", detail);
    };
    if (!input.guid || !GUID.test(input.guid)) throw malformed("X-GitHub-Delivery is missing or not a GUID");
    if (!input.event || !EVENT.test(input.event)) throw malformed("X-GitHub-Event is missing or not an event name");
    if (input.event !== "workflow_job" && input.event !== "ping") {
      // Answered 2xx: a 4xx would show as a failed delivery GitHub's log keeps for nothing.
      this.d.metrics.webhookDeliveries.inc({ event: label, result: "ignored" });
      return { status: 202, body: { status: "ignored", detail: "the broker acts on workflow_job and ping only" } };
    }
    let json: unknown;
    try {
      json = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(input.body));
    } catch {
      throw malformed("the body is not JSON");
    }
    let entry: WebhookDeliveryEntry = { guid: input.guid, event: input.event };
    if (input.event === "workflow_job") {
      const p = WorkflowJobPayload.safeParse(json);
      if (!p.success) throw malformed("the body is not a workflow_job payload (action, workflow_job.id, ...)");
      if (this.isStale(p.data)) {
        this.d.metrics.webhookDeliveries.inc({ event: label, result: "replayed" });
        this.d.journal.countWebhookRefusal("webhook_replayed");
        throw new BrokerError("webhook_replayed", "the delivery reports a job event older than the 7 days the broker remembers delivery GUIDs for");
      }
      const orgs = (this.d.orgs ?? [this.d.org]).map((o) => o.toLowerCase());
      if (p.data.organization && !orgs.includes(p.data.organization.login.toLowerCase())) {
        this.d.metrics.webhookDeliveries.inc({ event: label, result: "ignored" });
        return { status: 202, body: { status: "ignored", detail: "the job is not in GITHUB_ORG (or GITHUB_ORGS)" } };
      }
      const j = p.data.workflow_job;
      entry = { ...entry, action: p.data.action, workflowJobId: j.id, runnerId: j.runner_id || null, runnerName: j.runner_name || null, runnerGroupId: j.runner_group_id ?? null };
    }
    if (!(await this.d.storage.recordWebhookDelivery(entry))) {
      this.d.metrics.webhookDeliveries.inc({ event: label, result: "replayed" });
      this.d.journal.countWebhookRefusal("webhook_replayed");
      throw new BrokerError("webhook_replayed", `delivery ${input.guid} was received before: a delivery is acted on once`);
    }
    this.d.metrics.webhookDeliveries.inc({ event: label, result: "accepted" });
    if (input.event === "ping") {
      await this.d.storage.claimWebhookDelivery(entry.guid, "pong");
      return { status: 200, body: { status: "pong" } };
    }
    this.enqueue(entry);
    return { status: 202, body: { status: "queued" } };
  }

  /** A delivery whose own event time is older than the GUID memory could be a replay of a forgotten GUID. */
  private isStale(p: WorkflowJob): boolean {
    const j = p.workflow_job;
    const at = p.action === "completed" ? j.completed_at : p.action === "in_progress" ? j.started_at : j.created_at;
    const t = at ? Date.parse(at) : NaN;
    return Number.isFinite(t) && this.now() - t > DELIVERY_MEMORY_MS - 3_600_000;
  }

  private enqueue(entry: WebhookDeliveryEntry): void {
    this.queued++;
    this.queue = this.queue
      .then(async () => void (await this.process(entry)))
      .catch((e) => {
        // Left unprocessed: the background work picks it up again (sweep).
        this.d.metrics.webhookProcessed.inc({ outcome: "failed" });
        this.d.logger.warn("webhook: processing a delivery failed; the background work retries it", { delivery: entry.guid, reason: e instanceof BrokerError ? e.code : (e as Error)?.name ?? "error" });
      })
      .finally(() => void this.queued--);
  }

  /** Waits until every queued delivery is processed (graceful stop, tests). */
  async drain(): Promise<void> {
    while (this.queued > 0) await this.queue;
  }

  /** Acts on one accepted workflow_job delivery, exactly once across replicas. */
  async process(entry: WebhookDeliveryEntry): Promise<string> {
    const { storage } = this.d;
    const { outcome, confirmGone } = await storage.transaction(async (tx): Promise<{ outcome: string; confirmGone: { id: number; githubRunnerId: number; name: string; org: string } | null }> => {
      let outcome = "no_change";
      let target: RunnerStatus | null = null;
      let record = entry.runnerId ? await tx.getRunnerByGithubId(entry.runnerId) : null;
      if (record?.status === "deleted") record = null;
      let link = false;
      if (!record && entry.runnerId && entry.runnerName) {
        // A registration-token runner the sync has not linked yet: the same rule as the sync's.
        const byName = await tx.getRunnerByName(entry.runnerName);
        if (byName && byName.githubRunnerId === null && byName.secretSha256 !== null && byName.runnerGroupId === entry.runnerGroupId) {
          record = byName;
          link = true;
        }
      }
      if (entry.action !== "in_progress" && entry.action !== "completed") outcome = "queued_job";
      else if (!record || (await tx.isPreexistingRunner(entry.runnerId!))) outcome = "unknown_runner";
      else if (entry.runnerName && record.name.toLowerCase() !== entry.runnerName.toLowerCase()) outcome = "runner_mismatch";
      else if (entry.action === "in_progress" && (await tx.isWorkflowJobCompleted(entry.workflowJobId!))) outcome = "stale";
      else target = entry.action === "in_progress" ? "busy" : "active";
      if (target && record && (target !== record.status || link)) outcome = "status_change";
      if (!(await tx.claimWebhookDelivery(entry.guid, outcome))) return { outcome: "already_processed", confirmGone: null };
      if (outcome === "status_change" && record && target) {
        await tx.updateRunner(record.id, { status: target, lastSeenAt: new Date(this.now()), ...(link ? { githubRunnerId: entry.runnerId! } : {}) });
        await tx.appendAudit({ actor: SYSTEM, action: "webhook.status_change", result: "success", runnerName: record.name, githubRunnerId: entry.runnerId ?? null, details: { from: record.status, to: target, delivery: entry.guid, workflow_job_id: entry.workflowJobId, ...(link ? { linked: true } : {}) } });
      }
      const confirm = entry.action === "completed" && record && record.ephemeral && outcome !== "runner_mismatch" && outcome !== "unknown_runner";
      return { outcome, confirmGone: confirm && record ? { id: record.id, githubRunnerId: entry.runnerId!, name: record.name, org: record.org } : null };
    });
    if (outcome === "already_processed") return outcome;
    this.d.metrics.webhookProcessed.inc({ outcome });
    if (confirmGone) {
      // The delivery is processed; only the early clean-up is lost if GitHub does not answer.
      await this.confirmGone(confirmGone).catch((e) => this.d.logger.warn("webhook: cannot ask GitHub whether an ephemeral runner is gone after its job; the sync decides", { runner: confirmGone.name, reason: e instanceof BrokerError ? e.code : "error" }));
    }
    return outcome;
  }

  /**
   * GitHub removes an ephemeral runner after its one job: asking GitHub now frees the runner's
   * place in max_runners at once instead of at the next sync. Still there: the sync decides later.
   */
  private async confirmGone(r: { id: number; githubRunnerId: number; name: string; org: string }): Promise<void> {
    const github = r.org && this.d.githubFor ? this.d.githubFor(r.org) : this.d.github;
    const gh = await github.getRunner(r.githubRunnerId);
    if (gh) return;
    await this.d.storage.transaction(async (tx) => {
      const before = await tx.getRunnerById(r.id);
      if (!before || before.status === "deleted") return;
      await tx.updateRunner(r.id, { status: "deleted" });
      await tx.appendAudit({ actor: SYSTEM, action: "webhook.status_change", result: "success", runnerName: r.name, githubRunnerId: r.githubRunnerId, details: { from: before.status, to: "deleted", reason: "gone_at_github" } });
    });
    this.d.metrics.webhookProcessed.inc({ outcome: "deleted" });
  }

  /**
   * Background work (one replica): deliveries accepted but left unprocessed (a replica died after
   * answering, the database refused for a moment) are processed, and old GUIDs forgotten.
   */
  async sweep(stillLeader: () => Promise<boolean>): Promise<number> {
    let done = 0;
    const left = await this.d.storage.listUnprocessedWebhookDeliveries({ receivedBefore: new Date(this.now() - 30_000), limit: 100 });
    for (const entry of left) {
      if (!(await stillLeader())) return done;
      await this.process(entry).catch(() => this.d.metrics.webhookProcessed.inc({ outcome: "failed" }));
      done++;
    }
    await this.d.storage.pruneWebhookDeliveries(new Date(this.now() - DELIVERY_MEMORY_MS));
    return done;
  }
}
