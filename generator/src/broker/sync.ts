// The background sync: one replica at a time (a lease in the shared database) reads the runners
// of every runner group the policies name, and
// - moves broker runners through pending → active ⇄ offline (busy while on a job) → deleted,
//   deleted when GitHub no longer has them (an ephemeral runner after its job);
// - links a registration-token runner to its GitHub id when it registers, and removes (security
//   event) a runner whose labels its policy does not allow, or one nobody provisioned (say a second
//   runner registered with a broker-issued registration token);
// - removes a JIT runner whose config was never handed out (the broker died between GitHub's
//   answer and its own), and runners that never connected within PENDING_RUNNER_TTL (GitHub
//   would keep them for a day), and, when OFFLINE_RUNNER_TTL is set, long-offline ones.
// Runners that were in a group before the broker first looked at it are never touched.
import type { Logger } from "../core/logger.ts";
import { BrokerError } from "./errors.ts";
import type { GitHubRunner } from "./github-runners.ts";
import type { BrokerMetrics } from "./metrics.ts";
import { unexpectedLabels } from "./policy.ts";
import type { RunnerRecord, Storage, SyncGroupFailure } from "./storage/storage.ts";
import type { BrokerDeps } from "./service/deps.ts";
import { removeAtGitHub, statusFromGitHub } from "./service/runners.ts";
import type { ExposureReason, GroupIsolation } from "./service/group-isolation.ts";

export const SYNC_LEASE = "github-sync";

export interface SyncDeps extends BrokerDeps {
  pendingTtlMs: number;
  offlineTtlMs?: number;
  /** a reservation without a handed-out secret older than this is abandoned (its provision died) */
  abandonAfterMs: number;
  now?: () => number;
  /** The organisation this sync reads (GITHUB_ORGS: one Sync each, see OrgsSync); unset: every runner, one organisation. */
  org?: string;
  /** The organisation of a policy that names none (the first of GITHUB_ORGS). */
  defaultOrg?: string;
  /** false when OrgsSync records every organisation's failing groups at once */
  recordFailures?: boolean;
  /** runner groups that isolate tenants (issue 20): their access settings read (and, opted in, kept) each round */
  isolation?: { groups: GroupIsolation; org: string; manage: boolean };
}

export interface SyncReport {
  groups: number[];
  /** groups that could not be read this round, with why */
  failedGroups: { runnerGroupId: number; reason: string; org?: string }[];
  seen: number;
  statusChanges: number;
  removed: { name: string; reason: string }[];
  deleted: number;
}

const SYSTEM = "system";

/** A runner group the sync cannot read, why, and since when. */
export type FailingGroup = SyncGroupFailure;

export class Sync {
  private readonly now: () => number;
  private readonly failing = new Map<number, FailingGroup>();
  constructor(private readonly d: SyncDeps) {
    this.now = d.now ?? Date.now;
  }

  /** Every runner not deleted, oldest first, paged (there may be more than one page). */
  private async liveRunners(): Promise<RunnerRecord[]> {
    const out: RunnerRecord[] = [];
    for (let afterId = 0; ; ) {
      const page = await this.d.storage.listRunners({ order: "asc", afterId, limit: 1000, ...(this.d.org ? { org: this.d.org } : {}) });
      out.push(...page);
      if (page.length < 1000) return out;
      afterId = page[page.length - 1]!.id;
    }
  }

  /**
   * One round. `stillLeader` is asked before each group and before judging runners gone: a replica
   * that lost the lease mid-round (a long round, a paused process) stops instead of racing the new
   * leader.
   */
  async run(stillLeader: () => Promise<boolean> = async () => true): Promise<SyncReport> {
    const { github } = this.d;
    const report: SyncReport = { groups: [], failedGroups: [], seen: 0, statusChanges: 0, removed: [], deleted: 0 };
    // The broker's runners as they were BEFORE GitHub was read: a runner provisioned while the
    // round runs is not in GitHub's list yet and must not be judged gone.
    const before = await this.liveRunners();
    const iso = this.d.isolation;
    // MANAGE_RUNNER_GROUPS: each policy's own group exists and is as it should be before runners are judged.
    if (iso?.manage) await iso.groups.manageAll(iso.org, (await this.d.storage.listLabelPolicies()).filter((p) => this.ownsPolicy(p)));
    const policies = iso ? (await this.d.storage.listLabelPolicies()).filter((p) => this.ownsPolicy(p)) : [];
    const exposures = new Map<number, ExposureReason[]>();
    const isolationCache = {};
    const groups = [...new Set([...(await this.d.policies.managedGroups(this.d.org, this.d.defaultOrg)), ...before.map((r) => r.runnerGroupId)])].sort((a, b) => a - b);
    report.groups = groups;
    const listed = new Set<number>();
    const seenIds = new Set<number>();
    for (const group of groups) {
      if (!(await stillLeader())) return report;
      let runners: GitHubRunner[];
      try {
        // The baseline too: a group deleted at GitHub must not stop the other groups' sync.
        await this.d.baseline.ensure(group);
        runners = await github.listGroupRunners(group);
      } catch (e) {
        // A group that cannot be read is left alone this round: nothing in it is judged gone.
        const failure = { code: e instanceof BrokerError ? e.code : "error", reason: e instanceof BrokerError ? e.message : "the sync failed unexpectedly on this group" };
        this.groupFailed(group, failure);
        report.failedGroups.push({ runnerGroupId: group, reason: failure.reason, ...this.orgField() });
        continue;
      }
      this.groupWorks(group);
      listed.add(group);
      if (iso) {
        const reasons = await iso.groups.inspect(iso.org, group, policies.filter((p) => p.runnerGroupId === group), isolationCache);
        if (reasons) exposures.set(group, reasons);
      }
      for (const gh of runners) {
        report.seen++;
        seenIds.add(gh.id);
        await this.judge(gh, group, report);
      }
    }
    // A group no policy or runner names any more is no longer the sync's concern.
    for (const group of [...this.failing.keys()]) if (!groups.includes(group)) this.groupWorks(group, false);
    // Every replica's /ready reads them from the database (only this one syncs).
    if (this.d.recordFailures !== false) await this.d.storage.setSyncGroupFailures(this.failingGroups()).catch(() => this.d.logger.warn("sync: cannot record the failing runner groups in the database"));
    if (iso) await iso.groups.record(iso.org, exposures, groups).catch(() => this.d.logger.warn("sync: cannot record the exposed runner groups in the database"));
    if (!(await stillLeader())) return report;
    // Broker runners GitHub no longer has (in groups listed this round) are gone: ephemeral
    // runners after their job, runners removed at GitHub by hand.
    const stillLive = new Map((await this.liveRunners()).map((r) => [r.id, r]));
    for (const old of before) {
      const r = stillLive.get(old.id);
      if (!r || !listed.has(r.runnerGroupId)) continue;
      if (old.githubRunnerId !== null && r.githubRunnerId === old.githubRunnerId && !seenIds.has(old.githubRunnerId)) {
        await this.change(r, { status: "deleted" }, "sync.status_change", { from: r.status, to: "deleted", reason: "gone_at_github" });
        report.deleted++;
        continue;
      }
      await this.expire(r, report);
    }
    return report;
  }

  /** The groups the last rounds could not read (this replica's view: the one that syncs). */
  failingGroups(): FailingGroup[] {
    return [...this.failing.values()].sort((a, b) => a.runnerGroupId - b.runnerGroupId);
  }

  /** One log line when a group starts failing (or fails for another reason), none while it stays so. */
  private groupFailed(group: number, f: { code: string; reason: string }): void {
    const before = this.failing.get(group);
    this.d.metrics.syncGroupFailing.set(this.groupLabels(group), 1);
    if (before && before.code === f.code && before.reason === f.reason) return;
    this.failing.set(group, { ...(this.d.org ? { org: this.d.org } : {}), runnerGroupId: group, ...f, since: before?.since ?? new Date(this.now()) });
    this.d.logger.warn("sync: a runner group cannot be synced; the other groups still are", { ...this.orgField(), runner_group_id: group, code: f.code, reason: f.reason });
  }

  /** Whether a policy is this sync's organisation's (every policy when the sync serves one organisation). */
  private ownsPolicy(p: { org?: string }): boolean {
    return !this.d.org || (p.org ?? this.d.defaultOrg ?? "").toLowerCase() === this.d.org.toLowerCase();
  }

  private orgField(): { org?: string } {
    return this.d.org ? { org: this.d.org } : {};
  }

  private groupLabels(group: number): { runner_group_id: string; org?: string } {
    return { runner_group_id: String(group), ...this.orgField() };
  }

  private groupWorks(group: number, log = true): void {
    const before = this.failing.get(group);
    if (!before) return;
    this.failing.delete(group);
    if (log) {
      this.d.metrics.syncGroupFailing.set(this.groupLabels(group), 0);
      this.d.logger.info("sync: a runner group syncs again", { ...this.orgField(), runner_group_id: group, failing_since: before.since.toISOString() });
    } else this.d.metrics.syncGroupFailing.remove(this.groupLabels(group));
  }

  private async judge(gh: GitHubRunner, group: number, report: SyncReport): Promise<void> {
    const { storage } = this.d;
    if (await storage.isPreexistingRunner(gh.id)) return;
    let record = await storage.getRunnerByGithubId(gh.id);
    if (record && record.status === "deleted") record = null;
    if (!record) {
      const byName = await storage.getRunnerByName(gh.name);
      if (byName && byName.githubRunnerId === null && byName.runnerGroupId === group && (!this.d.org || byName.org === this.d.org)) {
        if (byName.secretSha256 === null) {
          // Reserved, GitHub created it, but the broker never recorded handing the config out.
          if (this.now() - byName.createdAt.getTime() < this.d.abandonAfterMs) return;
          await this.removeRunner(gh, byName, "abandoned_provision", report, false);
          return;
        }
        // A registration-token runner registering: link it.
        record = (await storage.updateRunner(byName.id, { githubRunnerId: gh.id })) ?? byName;
        await storage.appendAudit({ actor: SYSTEM, action: "sync.link", result: "success", runnerName: gh.name, githubRunnerId: gh.id, details: { provisioned_by: byName.provisionedBy, ...this.orgField() } });
      }
    }
    if (!record) {
      await this.removeRunner(gh, null, "unprovisioned_runner", report, true);
      return;
    }
    // With its policy deleted (and no "*"), a runner stays as it is: there is nothing to verify against.
    const policy = await this.d.policies.effective(record.provisionedBy);
    const bad = policy ? unexpectedLabels(policy, gh.labels) : [];
    if (bad.length) {
      await this.removeRunner(gh, record, "label_not_allowed", report, true, { refused_labels: bad });
      return;
    }
    const status = statusFromGitHub(gh, record.status);
    const labelsChanged = JSON.stringify(gh.labels) !== JSON.stringify(record.labels);
    if (status !== record.status || labelsChanged) {
      await this.change(record, { status, labels: gh.labels, lastSeenAt: new Date(this.now()) }, "sync.status_change", { from: record.status, to: status });
      report.statusChanges++;
    } else {
      await storage.updateRunner(record.id, { lastSeenAt: new Date(this.now()) });
    }
  }

  /** Why a live runner is stale (pending past its TTL, a dead reservation, offline too long), or null. */
  staleReason(r: RunnerRecord): string | null {
    const age = this.now() - r.createdAt.getTime();
    if (r.status === "pending" && age > this.d.pendingTtlMs) return "cleanup.pending_expired";
    // A reservation whose provision never finished (no secret handed out, no runner at GitHub).
    if (r.status === "pending" && r.secretSha256 === null && r.githubRunnerId === null && age > this.d.abandonAfterMs) return "cleanup.abandoned_reservation";
    if (r.status === "offline" && this.d.offlineTtlMs !== undefined && this.now() - (r.lastSeenAt ?? r.updatedAt).getTime() > this.d.offlineTtlMs) return "cleanup.offline_expired";
    return null;
  }

  private async expire(r: RunnerRecord, report: SyncReport): Promise<void> {
    const reason = this.staleReason(r);
    if (reason) await this.removeRecord(r, reason, report);
  }

  /** The clean-up alone (cleanup-stale-runners): stale runners removed, or only listed with dryRun. */
  async cleanupStale(dryRun: boolean): Promise<{ name: string; reason: string; provisionedBy: string }[]> {
    const out: { name: string; reason: string; provisionedBy: string }[] = [];
    const report: SyncReport = { groups: [], failedGroups: [], seen: 0, statusChanges: 0, removed: [], deleted: 0 };
    for (const r of await this.liveRunners()) {
      const reason = this.staleReason(r);
      if (!reason) continue;
      if (!dryRun) {
        await this.removeRecord(r, reason, report);
        if (!report.removed.some((x) => x.name === r.name)) continue;
      }
      out.push({ name: r.name, reason, provisionedBy: r.provisionedBy });
    }
    return out;
  }

  /** Removes a broker runner's GitHub side (if any) and marks it deleted. */
  private async removeRecord(r: RunnerRecord, action: string, report: SyncReport): Promise<void> {
    try {
      await removeAtGitHub(this.d, r);
    } catch (e) {
      this.d.logger.warn("clean-up: cannot remove a runner at GitHub; will try again", { runner: r.name, reason: e instanceof BrokerError ? e.code : "error" });
      return;
    }
    await this.change(r, { status: "deleted" }, action, { from: r.status });
    this.d.metrics.syncActions.inc({ action, ...this.orgField() });
    report.removed.push({ name: r.name, reason: action });
  }

  private async removeRunner(gh: GitHubRunner, record: RunnerRecord | null, reason: string, report: SyncReport, securityEvent: boolean, details: Record<string, unknown> = {}): Promise<void> {
    try {
      await this.d.github.deleteRunner(gh.id);
    } catch (e) {
      this.d.logger.warn("verification: cannot remove a runner at GitHub; will try again", { runner: gh.name, reason: e instanceof BrokerError ? e.code : "error" });
      return;
    }
    await this.d.storage.transaction(async (tx) => {
      if (record) await tx.updateRunner(record.id, { status: "deleted" });
      await tx.appendAudit({ actor: SYSTEM, action: `verify.${reason}`, result: "success", runnerName: gh.name, githubRunnerId: gh.id, details: { labels: gh.labels, ...details, ...this.orgField() } });
      if (securityEvent) {
        await tx.recordSecurityEvent({ eventType: reason, severity: "high", userIdentity: record?.provisionedBy ?? null, runnerName: gh.name, githubRunnerId: gh.id, actionTaken: "runner_removed", details: { labels: gh.labels, ...details, ...this.orgField() } });
      }
    });
    this.d.metrics.syncActions.inc({ action: reason, ...this.orgField() });
    report.removed.push({ name: gh.name, reason });
  }

  private async change(r: RunnerRecord, patch: Parameters<Storage["updateRunner"]>[1], action: string, details: Record<string, unknown>): Promise<void> {
    await this.d.storage.transaction(async (tx) => {
      await tx.updateRunner(r.id, patch);
      await tx.appendAudit({ actor: SYSTEM, action, result: "success", runnerName: r.name, githubRunnerId: r.githubRunnerId, details: { ...details, ...this.orgField() } });
    });
    this.d.metrics.syncActions.inc({ action: action === "sync.status_change" ? `to_${String(patch.status ?? r.status)}` : action, ...this.orgField() });
  }
}

/**
 * Several organisations (GITHUB_ORGS): one Sync per organisation, each with its own installation,
 * run one after the other in a round. One organisation failing (its installation removed, GitHub
 * refusing its token) does not stop the others, as one failing runner group does not stop the
 * other groups; the failing groups of all organisations are recorded together for /ready.
 */
export class OrgsSync {
  constructor(
    private readonly syncs: readonly Sync[],
    private readonly storage: Storage,
    private readonly logger: Logger,
  ) {}

  async run(stillLeader: () => Promise<boolean> = async () => true): Promise<SyncReport> {
    const total: SyncReport = { groups: [], failedGroups: [], seen: 0, statusChanges: 0, removed: [], deleted: 0 };
    for (const sync of this.syncs) {
      if (!(await stillLeader())) return total;
      const r = await sync.run(stillLeader).catch((e) => {
        this.logger.warn("sync: an organisation could not be synced; the others still are", { reason: e instanceof BrokerError ? e.code : "error" });
        return null;
      });
      if (!r) continue;
      total.groups.push(...r.groups);
      total.failedGroups.push(...r.failedGroups);
      total.seen += r.seen;
      total.statusChanges += r.statusChanges;
      total.removed.push(...r.removed);
      total.deleted += r.deleted;
    }
    await this.storage.setSyncGroupFailures(this.failingGroups()).catch(() => this.logger.warn("sync: cannot record the failing runner groups in the database"));
    return total;
  }

  failingGroups(): FailingGroup[] {
    return this.syncs.flatMap((s) => s.failingGroups());
  }

  async cleanupStale(dryRun: boolean): Promise<{ name: string; reason: string; provisionedBy: string }[]> {
    const out: { name: string; reason: string; provisionedBy: string }[] = [];
    for (const sync of this.syncs) out.push(...(await sync.cleanupStale(dryRun)));
    return out;
  }
}

/** What SyncLoop runs each round: one organisation's Sync, or OrgsSync over several. */
export type SyncRound = Pick<Sync, "run">;

/** How long the sync lease lives without a renewal: a dead holder is replaced this fast. */
export const LEASE_TTL_MIN_MS = 5_000;
export const LEASE_TTL_MAX_MS = 15_000;

/** Other background work that runs on the lease holder after each sync round (e.g. webhook redelivery). */
export interface BackgroundTask {
  readonly name: string;
  run(stillLeader: () => Promise<boolean>): Promise<unknown>;
}

/**
 * Runs the sync every interval on whichever replica holds the lease. The lease is a heartbeat,
 * apart from the sync's interval: every replica tries to take or renew it every `heartbeatMs`
 * (at most a third of its life), and it lives 3 × SYNC_INTERVAL clamped to 5–15 s. So a replica
 * killed outright is replaced within about 20 s even with SYNC_INTERVAL 1m, and a holder keeps
 * renewing while a long round runs; the round (the sync, then the other background tasks) stops
 * acting the moment a renewal fails (`stillLeader`), so two replicas never judge runners at once.
 */
export class SyncLoop {
  private timer: ReturnType<typeof setTimeout> | undefined;
  private stopped = false;
  private beating: Promise<void> | undefined;
  private running: Promise<void> | undefined;
  private holding = false;
  private lastRoundAt = -Infinity;

  constructor(
    private readonly sync: SyncRound,
    private readonly storage: Storage,
    private readonly holder: string,
    private readonly intervalMs: number,
    private readonly metrics: BrokerMetrics,
    private readonly logger: Logger,
    private readonly background: readonly BackgroundTask[] = [],
  ) {}

  get leaseTtlMs(): number {
    return Math.min(Math.max(3 * this.intervalMs, LEASE_TTL_MIN_MS), LEASE_TTL_MAX_MS);
  }

  get heartbeatMs(): number {
    return Math.min(this.intervalMs, Math.floor(this.leaseTtlMs / 3));
  }

  start(): void {
    const tick = async () => {
      if (this.stopped) return;
      this.beating = this.beat();
      await this.beating;
      if (!this.stopped) this.timer = setTimeout(tick, this.heartbeatMs);
    };
    this.timer = setTimeout(tick, 0);
  }

  /** One heartbeat: take or renew the lease; start a round when held and one is due. Never throws. */
  private async beat(): Promise<void> {
    let lease;
    try {
      lease = await this.storage.acquireLease(SYNC_LEASE, this.holder, this.leaseTtlMs);
    } catch {
      // Unknown whether it is still ours: act as if not until the database answers again.
      this.holding = false;
      this.metrics.syncLeader.set(0);
      this.logger.warn("sync: the database did not answer; skipping this round");
      return;
    }
    const was = this.holding;
    this.holding = lease !== null;
    this.metrics.syncLeader.set(this.holding ? 1 : 0);
    // Changes of leader are rare and worth a line: which replica does the background work now.
    if (lease && !was) this.logger.info("sync lease taken", { holder: this.holder, generation: lease.generation });
    if (!lease && was) this.logger.warn("sync lease lost to another replica", { holder: this.holder });
    if (!this.holding) {
      this.lastRoundAt = -Infinity; // when it comes back to us, sync at once
      return;
    }
    if (this.running || this.stopped || Date.now() - this.lastRoundAt < this.intervalMs) return;
    this.lastRoundAt = Date.now();
    this.running = this.round().finally(() => (this.running = undefined));
  }

  private async round(): Promise<void> {
    const stillLeader = async () => this.holding && !this.stopped && (await this.storage.renewLease(SYNC_LEASE, this.holder, this.leaseTtlMs).catch(() => null)) !== null;
    try {
      const report = await this.sync.run(stillLeader);
      this.metrics.syncRuns.inc({ result: "success" });
      this.logger.info("sync done", { holder: this.holder, groups: report.groups, ...(report.failedGroups.length ? { failed_groups: report.failedGroups.map((g) => g.runnerGroupId) } : {}), seen: report.seen, status_changes: report.statusChanges, removed: report.removed.length, deleted: report.deleted });
    } catch (e) {
      this.metrics.syncRuns.inc({ result: "failure" });
      this.logger.warn("sync failed; next round will retry", { reason: e instanceof BrokerError ? e.code : (e as Error)?.name ?? "error" });
    }
    for (const task of this.background) {
      if (this.stopped || !(await stillLeader())) break;
      await task.run(stillLeader).catch((e) => this.logger.warn("background work failed; next round will retry", { task: task.name, reason: e instanceof BrokerError ? e.code : (e as Error)?.name ?? "error" }));
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.beating;
    await this.running;
    this.metrics.syncLeader.set(0);
    await this.storage.releaseLease(SYNC_LEASE, this.holder).catch(() => false);
  }
}
