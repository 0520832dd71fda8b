// What /ready answers, and when the broker looks: each dependency (the database, GitHub, the OIDC
// issuer) is checked by one timer every READY_CHECK_INTERVAL, never by a caller, so a thousand
// anonymous /ready requests cost GitHub nothing more than one (before, each one asked GitHub for an
// installation token while the App's key was wrong). A dependency that goes from working to failing,
// or back, is one log line and a metric; while it stays failing, nothing more is written.
import type { Logger } from "../core/logger.ts";
import type { BrokerMetrics } from "./metrics.ts";
import type { RunnerGroupExposure, SyncGroupFailure } from "./storage/storage.ts";

export interface Dependency {
  name: "database" | "github" | "issuer";
  /** resolves when the dependency works; rejects with an error whose message says why not and what to do */
  check: () => Promise<void>;
  /** checked this often as well, when shorter than the interval (the database: a restart shows within seconds) */
  everyMs?: number;
}

export interface DependencyState {
  ok: boolean;
  /** why it fails (a message of the broker's own, never text from GitHub or the issuer) */
  reason?: string;
  since: Date;
}

export interface ReadinessSnapshot {
  ready: boolean;
  /** "ok" or "failing" by dependency */
  checks: Record<string, "ok" | "failing">;
  /** why each failing dependency fails */
  reasons: Record<string, string>;
}

export class Readiness {
  private readonly states = new Map<string, DependencyState>();
  private timer: ReturnType<typeof setInterval> | undefined;
  private readonly ownTimers: ReturnType<typeof setInterval>[] = [];
  private readonly checking = new Map<string, Promise<void>>();
  private refreshing: Promise<void> | undefined;
  private groups: SyncGroupFailure[] = [];
  private exposures: RunnerGroupExposure[] = [];

  constructor(
    private readonly deps: readonly Dependency[],
    private readonly intervalMs: number,
    private readonly logger: Logger,
    private readonly metrics: BrokerMetrics,
    /** the runner groups the last sync round could not read (recorded in the database by the syncing replica) */
    private readonly groupFailures: () => Promise<SyncGroupFailure[]> = async () => [],
    private readonly now: () => number = Date.now,
    /** the runner groups the last sync round found exposed (issue 20), recorded in the database likewise */
    private readonly groupExposures: () => Promise<RunnerGroupExposure[]> = async () => [],
  ) {}

  /** Re-reads the failing runner groups; on a database error, the last known ones stay. */
  async refreshGroups(): Promise<void> {
    this.groups = await this.groupFailures().catch(() => this.groups);
    this.exposures = await this.groupExposures().catch(() => this.exposures);
  }

  /** The runner groups that reach more than their policies name, as last read. */
  exposedGroups(): RunnerGroupExposure[] {
    return this.exposures;
  }

  /** The runner groups the sync cannot read, as last read. */
  failingGroups(): SyncGroupFailure[] {
    return this.groups;
  }

  /** Runs every check once (one run at a time: callers during a run wait for it). */
  refresh(): Promise<void> {
    this.refreshing ??= Promise.all([...this.deps.map((d) => this.checkOne(d)), this.refreshGroups()]).then(
      () => {
        this.refreshing = undefined;
      },
      () => {
        this.refreshing = undefined;
      },
    );
    return this.refreshing;
  }

  /** Records one dependency's outcome (the start-up checks report theirs here too). */
  record(name: Dependency["name"], outcome: { ok: true } | { ok: false; reason: string }): void {
    const before = this.states.get(name);
    const reason = outcome.ok ? undefined : outcome.reason;
    this.metrics.dependencyUp.set({ dependency: name }, outcome.ok ? 1 : 0);
    if (before && before.ok === outcome.ok && before.reason === reason) return;
    this.states.set(name, { ok: outcome.ok, ...(reason ? { reason } : {}), since: new Date(this.now()) });
    // One line per change of state: failing (or failing differently), or working again.
    if (!outcome.ok) this.logger.warn(`${name} unavailable: the broker is not ready until it works`, { dependency: name, reason });
    else if (before && !before.ok) this.logger.info(`${name} works again`, { dependency: name, failing_since: before.since.toISOString() });
  }

  /** One check of `d`; a check still running (a database that does not answer) is joined, not doubled. */
  private checkOne(d: Dependency): Promise<void> {
    let running = this.checking.get(d.name);
    if (!running) {
      running = d.check().then(
        () => this.record(d.name, { ok: true }),
        (e) => this.record(d.name, { ok: false, reason: e instanceof Error ? e.message.slice(0, 500) : "failed" }),
      );
      running = running.finally(() => this.checking.delete(d.name));
      this.checking.set(d.name, running);
    }
    return running;
  }

  start(): void {
    this.timer ??= setInterval(() => void this.refresh(), this.intervalMs);
    if (this.ownTimers.length) return;
    for (const d of this.deps) if (d.everyMs !== undefined && d.everyMs < this.intervalMs) this.ownTimers.push(setInterval(() => void this.checkOne(d), d.everyMs));
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    for (const t of this.ownTimers.splice(0)) clearInterval(t);
    await this.refreshing;
    await Promise.all(this.checking.values());
  }

  snapshot(): ReadinessSnapshot {
    const checks: Record<string, "ok" | "failing"> = {};
    const reasons: Record<string, string> = {};
    for (const d of this.deps) {
      const s = this.states.get(d.name);
      // Not checked yet counts as failing: /ready says ready only after a check said so.
      checks[d.name] = s?.ok ? "ok" : "failing";
      if (!s?.ok) reasons[d.name] = s?.reason ?? "not checked yet";
    }
    return { ready: Object.values(checks).every((v) => v === "ok"), checks, reasons };
  }
}
