// Background work under the sync lease (one replica at a time): GitHub never redelivers a failed
// webhook delivery by itself, and only deliveries of the last three days can be redelivered
// (https://docs.github.com/webhooks/using-webhooks/handling-failed-webhook-deliveries). Each round
// lists the App's recent deliveries (newest first) and, for each GUID that failed every time, that
// the broker never received, and that it has not asked about before, asks GitHub once to redeliver
// it. "Once" is kept in the database (webhook_redeliveries), so neither a restart nor a change of
// leader asks twice; a GUID redelivered and failed again is left to the sync, the safety net.
// It also runs the webhook service's sweep of deliveries accepted but left unprocessed.
import type { Logger } from "../core/logger.ts";
import { BrokerError } from "./errors.ts";
import type { HookDelivery, HookDeliveryApi } from "./github-hook-deliveries.ts";
import type { BrokerMetrics } from "./metrics.ts";
import type { WebhookService } from "./service/webhooks.ts";
import type { Storage } from "./storage/storage.ts";

/** GitHub's redelivery window, with an hour's margin so a request is never made for an expired delivery. */
export const REDELIVERY_WINDOW_MS = 3 * 24 * 3_600_000 - 3_600_000;
/** Events the broker acts on; failed deliveries of others are not worth a request. */
const EVENTS = new Set(["workflow_job", "ping"]);
/** At most this many pages (of 100) read, and redeliveries asked, per round: a bounded cost under a backlog. */
const MAX_PAGES = 20;
const MAX_REQUESTS = 50;

export interface RedeliveryDeps {
  storage: Storage;
  hooks: HookDeliveryApi;
  webhooks: WebhookService;
  metrics: BrokerMetrics;
  logger: Logger;
  now?: () => number;
}

export interface RedeliveryReport {
  failed: number;
  requested: number;
  swept: number;
}

export class Redelivery {
  readonly name = "webhook-redelivery";
  private readonly now: () => number;
  /**
   * Deliveries up to this id were all judged in an earlier complete round of this replica: later
   * rounds stop paging there, so a busy App's log costs one page a round, not twenty. GitHub's
   * delivery ids increase; a new leader starts from 0 and reads the whole window once.
   */
  private judgedUpTo = 0;

  constructor(private readonly d: RedeliveryDeps) {
    this.now = d.now ?? Date.now;
  }

  async run(stillLeader: () => Promise<boolean> = async () => true): Promise<RedeliveryReport> {
    const report: RedeliveryReport = { failed: 0, requested: 0, swept: 0 };
    report.swept = await this.d.webhooks.sweep(stillLeader);
    const oldest = this.now() - REDELIVERY_WINDOW_MS;
    // By GUID: a GUID with any delivery that succeeded needs nothing; else its newest failed one.
    const byGuid = new Map<string, { ok: boolean; newest: HookDelivery }>();
    let newestId = this.judgedUpTo;
    let complete = true;
    let pages = 0;
    await this.d.hooks.list((page) => {
      pages++;
      for (const delivery of page) {
        // A delivery still in flight (GitHub waits up to 10 s) may be logged after a newer one: the
        // mark stays a minute behind, so a late entry below it is still judged.
        if (delivery.deliveredAt.getTime() < this.now() - 60_000) newestId = Math.max(newestId, delivery.id);
        if (delivery.deliveredAt.getTime() < oldest || delivery.id <= this.judgedUpTo) return false;
        const seen = byGuid.get(delivery.guid);
        if (!seen) byGuid.set(delivery.guid, { ok: delivery.ok, newest: delivery });
        else seen.ok ||= delivery.ok;
      }
      if (pages >= MAX_PAGES) complete = false;
      return true;
    }, MAX_PAGES);
    for (const [guid, { ok, newest }] of byGuid) {
      if (ok || !EVENTS.has(newest.event)) continue;
      report.failed++;
      if (report.requested >= MAX_REQUESTS || !(await stillLeader())) {
        complete = false;
        break;
      }
      // Received after all (GitHub recorded a failure the broker did not see, e.g. a lost answer).
      if (await this.d.storage.getWebhookDelivery(guid)) continue;
      if (!(await this.d.storage.recordRedeliveryRequest({ guid, githubDeliveryId: newest.id, result: "requested" }))) continue;
      try {
        await this.d.hooks.redeliver(newest.id);
        this.d.metrics.webhookRedeliveries.inc({ result: "requested" });
        report.requested++;
        this.d.logger.info("webhook: asked GitHub to redeliver a failed delivery", { delivery: guid, github_delivery_id: newest.id, event: newest.event, action: newest.action, status_code: newest.statusCode });
      } catch (e) {
        // Asked once: not again (the sync covers what the delivery would have told).
        // (recorded before asking, so a leader that dies here never asks twice)
        this.d.metrics.webhookRedeliveries.inc({ result: "failed" });
        this.d.logger.warn("webhook: GitHub refused to redeliver a failed delivery; the sync covers it", { delivery: guid, github_delivery_id: newest.id, reason: e instanceof BrokerError ? e.code : "error" });
      }
    }
    if (complete) this.judgedUpTo = newestId;
    return report;
  }
}
