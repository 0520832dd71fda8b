// StorageOps written once over a small SQL executor, so SQLite and PostgreSQL run the same
// statements (the schema keeps the same columns in both, see migrations/0001-initial.ts). The SQL
// uses `?` placeholders; the PostgreSQL executor numbers them. Each dialect supplies only how
// to run a statement and how to lock an identity for the rest of the transaction.
import { redact } from "../../core/redact.ts";
import {
  COALESCED_ACTIONS,
  AUDIT_RESULTS,
  DEFAULT_LIST_LIMIT,
  MAX_LIST_LIMIT,
  RUNNER_MODES,
  RUNNER_STATUSES,
  SECURITY_SEVERITIES,
  type AuditEntry,
  type AuditFilter,
  type AuditRecord,
  type LabelPolicy,
  type LabelPolicyRecord,
  type Lease,
  type PreexistingRunner,
  type ReserveResult,
  type RunnerFilter,
  type RunnerPatch,
  type RunnerRecord,
  type RunnerReservation,
  type RunnerStatus,
  type SecurityEventEntry,
  type SecurityEventFilter,
  type SecurityEventRecord,
  type StorageOps,
  type SyncGroupFailure,
  type RunnerGroupExposure,
  type TrustPolicy,
  type TrustPolicyRecord,
  type UnauthenticatedFailureBucket,
  type UnauthenticatedFailureCount,
  type RedeliveryRequest,
  type WebhookDeliveryEntry,
  type WebhookDeliveryRecord,
} from "./storage.ts";

export type SqlValue = string | number | boolean | null;
export type Row = Record<string, unknown>;

/** How one dialect runs statements inside the current transaction (or on its own, outside one). */
export interface SqlExecutor {
  /** Runs one statement with `?` placeholders; returns its rows (statements that change rows say RETURNING). */
  all(sql: string, params?: SqlValue[]): Promise<Row[]>;
  /**
   * Serialises, until the transaction ends, everyone who locks the same key. PostgreSQL: an
   * advisory transaction lock; SQLite: nothing, BEGIN IMMEDIATE already serialises every writer.
   */
  lock(key: string): Promise<void>;
}

/** The write methods: run in a write transaction when called outside one. */
export const WRITE_METHODS = [
  "reserveRunner",
  "updateRunner",
  "putLabelPolicy",
  "deleteLabelPolicy",
  "putTrustPolicy",
  "deleteTrustPolicy",
  "appendAudit",
  "recordSecurityEvent",
  "addUnauthenticatedFailures",
  "recordBaseline",
  "assignOrg",
  "setSyncGroupFailures",
  "setRunnerGroupExposures",
  "acquireLease",
  "renewLease",
  "releaseLease",
  "recordWebhookDelivery",
  "claimWebhookDelivery",
  "pruneWebhookDeliveries",
  "recordRedeliveryRequest",
] as const satisfies readonly (keyof StorageOps)[];

export const READ_METHODS = [
  "getRunnerById",
  "getRunnerByName",
  "getRunnerByGithubId",
  "listRunners",
  "countLiveRunners",
  "getLabelPolicy",
  "listLabelPolicies",
  "getTrustPolicy",
  "listTrustPolicies",
  "listAudit",
  "listSecurityEvents",
  "listUnauthenticatedFailures",
  "listBaselineGroups",
  "isPreexistingRunner",
  "listPreexistingRunners",
  "listSyncGroupFailures",
  "listRunnerGroupExposures",
  "getLease",
  "getWebhookDelivery",
  "listUnprocessedWebhookDeliveries",
  "isWorkflowJobCompleted",
  "getRedeliveryRequest",
] as const satisfies readonly (keyof StorageOps)[];

const MAX_DETAILS_BYTES = 16 * 1024;
const SHA256_HEX = /^[0-9a-f]{64}$/;
const REASON = /^[a-z0-9_]{1,64}$/;
// A JIT config is base64 of JSON; nothing the broker audits is a long base64 run, so one is refused
// rather than stored (defence in depth beside core/redact.ts's patterns for tokens and JWTs).
const LONG_BASE64 = /[A-Za-z0-9+/]{200,}={0,2}/;

// ---- input checks (a failure is a bug in the caller: TypeError) ---------------------------

function fail(message: string): never {
  throw new TypeError(`storage: ${message}`);
}

function checkLimit(limit: number | undefined): number {
  if (limit === undefined) return DEFAULT_LIST_LIMIT;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIST_LIMIT) fail(`limit must be an integer from 1 to ${MAX_LIST_LIMIT}`);
  return limit;
}

function checkOneOf<T extends string>(value: T, allowed: readonly T[], what: string): T {
  if (!allowed.includes(value)) fail(`${what} must be one of ${allowed.join(", ")}`);
  return value;
}

function checkSha(value: string | null | undefined): string | null {
  if (value === null || value === undefined) return null;
  if (typeof value !== "string" || !SHA256_HEX.test(value)) fail("secretSha256 must be the SHA-256 of the secret as 64 lowercase hex characters, never the secret");
  return value;
}

function checkInt(value: number, what: string, min = 0): number {
  if (!Number.isSafeInteger(value) || value < min) fail(`${what} must be an integer >= ${min}`);
  return value;
}

function checkStrings(values: string[], what: string): string {
  if (!Array.isArray(values) || values.some((v) => typeof v !== "string")) fail(`${what} must be a list of strings`);
  return JSON.stringify(values);
}

/** Details as JSON text: bounded, and refused when anything in them is shaped like a secret. */
function detailsJson(details: Record<string, unknown> | undefined): string {
  const value = details ?? {};
  const text = JSON.stringify(value);
  if (text === undefined || typeof value !== "object" || Array.isArray(value)) fail("details must be a JSON object");
  if (Buffer.byteLength(text) > MAX_DETAILS_BYTES) fail(`details must be at most ${MAX_DETAILS_BYTES} bytes of JSON`);
  if (JSON.stringify(redact(value)) !== text || LONG_BASE64.test(text)) fail("details carry something shaped like a secret (a token, JWT, key or JIT config); store its SHA-256 instead");
  return text;
}

// ---- row mapping ------------------------------------------------------------------------

const num = (v: unknown): number => Number(v);
const numOrNull = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));
const date = (v: unknown): Date => new Date(Number(v));
const dateOrNull = (v: unknown): Date | null => (v === null || v === undefined ? null : new Date(Number(v)));
const bool = (v: unknown): boolean => v === true || v === 1 || v === "1" || v === "t" || v === "true";
const strOrNull = (v: unknown): string | null => (v === null || v === undefined ? null : String(v));
const json = <T>(v: unknown): T => JSON.parse(String(v)) as T;

function toRunner(r: Row): RunnerRecord {
  return {
    id: num(r.id),
    name: String(r.name),
    githubRunnerId: numOrNull(r.github_runner_id),
    labels: json<string[]>(r.labels),
    ephemeral: bool(r.ephemeral),
    mode: r.mode as RunnerRecord["mode"],
    status: r.status as RunnerStatus,
    provisionedBy: String(r.provisioned_by),
    runnerGroupId: num(r.runner_group_id),
    org: r.org === null || r.org === undefined ? "" : String(r.org),
    secretSha256: strOrNull(r.secret_sha256),
    createdAt: date(r.created_at),
    updatedAt: date(r.updated_at),
    lastSeenAt: dateOrNull(r.last_seen_at),
    deletedAt: dateOrNull(r.deleted_at),
  };
}

function toPolicy(r: Row): LabelPolicyRecord {
  return {
    userIdentity: String(r.user_identity),
    allowedLabels: json<string[]>(r.allowed_labels),
    labelPatterns: json<string[]>(r.label_patterns),
    requiredLabels: json<string[]>(r.required_labels),
    maxRunners: num(r.max_runners),
    allowRegistrationToken: bool(r.allow_registration_token),
    runnerGroupId: num(r.runner_group_id),
    ...(r.org !== null && r.org !== undefined && r.org !== "" ? { org: String(r.org) } : {}),
    repositories: json<string[]>(r.repositories ?? "[]"),
    workflows: json<string[]>(r.workflows ?? "[]"),
    createdAt: date(r.created_at),
    updatedAt: date(r.updated_at),
  };
}

function toTrustPolicy(r: Row): TrustPolicyRecord {
  const d = json<Omit<TrustPolicy, "name" | "issuer">>(r.definition);
  return { ...d, name: String(r.name), issuer: String(r.issuer), createdAt: date(r.created_at), updatedAt: date(r.updated_at) };
}

function toAudit(r: Row): AuditRecord {
  return {
    id: num(r.id),
    at: date(r.at),
    actor: String(r.actor),
    action: String(r.action),
    result: r.result as AuditRecord["result"],
    runnerName: strOrNull(r.runner_name),
    githubRunnerId: numOrNull(r.github_runner_id),
    details: json<Record<string, unknown>>(r.details),
  };
}

function toSecurityEvent(r: Row): SecurityEventRecord {
  return {
    id: num(r.id),
    at: date(r.at),
    eventType: String(r.event_type),
    severity: r.severity as SecurityEventRecord["severity"],
    userIdentity: strOrNull(r.user_identity),
    runnerName: strOrNull(r.runner_name),
    githubRunnerId: numOrNull(r.github_runner_id),
    actionTaken: String(r.action_taken),
    details: json<Record<string, unknown>>(r.details),
    count: num(r.count),
    lastAt: date(r.last_at ?? r.at),
  };
}

function toDelivery(r: Row): WebhookDeliveryRecord {
  return {
    guid: String(r.guid),
    event: String(r.event),
    action: strOrNull(r.action),
    workflowJobId: numOrNull(r.workflow_job_id),
    runnerId: numOrNull(r.runner_id),
    runnerName: strOrNull(r.runner_name),
    runnerGroupId: numOrNull(r.runner_group_id),
    receivedAt: date(r.received_at),
    processedAt: dateOrNull(r.processed_at),
    outcome: strOrNull(r.outcome),
  };
}

const GUID = /^[A-Za-z0-9-]{1,64}$/;
const WORD = /^[a-z0-9_]{1,64}$/;

function checkGuid(guid: string): string {
  if (typeof guid !== "string" || !GUID.test(guid)) fail("guid must be 1 to 64 of letters, digits and '-'");
  return guid;
}

function toLease(r: Row): Lease {
  return { name: String(r.name), holder: String(r.holder), acquiredAt: date(r.acquired_at), expiresAt: date(r.expires_at), generation: num(r.generation) };
}

/** WHERE clauses joined with AND, and their parameters. */
class Where {
  readonly clauses: string[] = [];
  readonly params: SqlValue[] = [];
  add(clause: string, ...params: SqlValue[]): this {
    this.clauses.push(clause);
    this.params.push(...params);
    return this;
  }
  toString(): string {
    return this.clauses.length ? ` WHERE ${this.clauses.join(" AND ")}` : "";
  }
}

const orderOf = (order: "asc" | "desc" | undefined): string => (order === "asc" ? "ASC" : order === undefined || order === "desc" ? "DESC" : fail("order must be asc or desc"));

export class SqlOps implements StorageOps {
  constructor(
    private readonly db: SqlExecutor,
    private readonly now: () => Date,
  ) {}

  private ms(): number {
    return this.now().getTime();
  }

  private async one(sql: string, params: SqlValue[]): Promise<Row | null> {
    return (await this.db.all(sql, params))[0] ?? null;
  }

  // ---- runners ----------------------------------------------------------------------

  async reserveRunner(r: RunnerReservation): Promise<ReserveResult> {
    checkOneOf(r.mode, RUNNER_MODES, "mode");
    checkInt(r.maxRunners, "maxRunners");
    checkInt(r.runnerGroupId, "runnerGroupId", 1);
    const labels = checkStrings(r.labels, "labels");
    if (typeof r.name !== "string" || r.name.length < 1 || r.name.length > 64) fail("name must be 1 to 64 characters");
    // Everyone reserving for this identity waits here until the transaction ends, so the count
    // below cannot be overtaken by a concurrent reservation (READ COMMITTED sees every commit).
    await this.db.lock(`quota:${r.provisionedBy}`);
    const held = await this.countLiveRunners(r.provisionedBy);
    if (held >= r.maxRunners) return { ok: false, reason: "quota_exceeded", held };
    const now = this.ms();
    // The partial unique index on the live name decides a race for the same name between
    // identities (they hold different locks): the loser inserts nothing.
    const row = await this.one(
      `INSERT INTO runners (name, github_runner_id, labels, ephemeral, mode, status, provisioned_by, runner_group_id, org, secret_sha256, created_at, updated_at)
       VALUES (?, NULL, ?, ?, ?, 'pending', ?, ?, ?, NULL, ?, ?)
       ON CONFLICT (name) WHERE status <> 'deleted' DO NOTHING RETURNING *`,
      [r.name, labels, r.ephemeral, r.mode, r.provisionedBy, r.runnerGroupId, r.org ?? null, now, now],
    );
    if (!row) return { ok: false, reason: "name_taken", held };
    return { ok: true, runner: toRunner(row) };
  }

  async getRunnerById(id: number): Promise<RunnerRecord | null> {
    const row = await this.one("SELECT * FROM runners WHERE id = ?", [checkInt(id, "id")]);
    return row && toRunner(row);
  }

  async getRunnerByName(name: string, options: { includeDeleted?: boolean } = {}): Promise<RunnerRecord | null> {
    const sql = options.includeDeleted
      ? "SELECT * FROM runners WHERE name = ? ORDER BY (status = 'deleted') ASC, id DESC LIMIT 1"
      : "SELECT * FROM runners WHERE name = ? AND status <> 'deleted'";
    const row = await this.one(sql, [name]);
    return row && toRunner(row);
  }

  async getRunnerByGithubId(githubRunnerId: number): Promise<RunnerRecord | null> {
    const row = await this.one("SELECT * FROM runners WHERE github_runner_id = ? ORDER BY (status = 'deleted') ASC, id DESC LIMIT 1", [checkInt(githubRunnerId, "githubRunnerId")]);
    return row && toRunner(row);
  }

  async listRunners(filter: RunnerFilter = {}): Promise<RunnerRecord[]> {
    const where = new Where();
    if (filter.provisionedBy !== undefined) where.add("provisioned_by = ?", filter.provisionedBy);
    if (filter.status !== undefined) {
      const statuses = Array.isArray(filter.status) ? filter.status : [filter.status];
      if (statuses.length === 0) fail("status must name at least one status");
      for (const s of statuses) checkOneOf(s, RUNNER_STATUSES, "status");
      where.add(`status IN (${statuses.map(() => "?").join(", ")})`, ...statuses);
    } else if (!filter.includeDeleted) {
      where.add("status <> 'deleted'");
    }
    if (filter.runnerGroupId !== undefined) where.add("runner_group_id = ?", checkInt(filter.runnerGroupId, "runnerGroupId"));
    if (filter.org !== undefined) where.add("org = ?", String(filter.org));
    if (filter.since !== undefined) where.add("created_at >= ?", filter.since.getTime());
    if (filter.afterId !== undefined) where.add("id > ?", checkInt(filter.afterId, "afterId"));
    if (filter.beforeId !== undefined) where.add("id < ?", checkInt(filter.beforeId, "beforeId"));
    const rows = await this.db.all(`SELECT * FROM runners${where} ORDER BY id ${orderOf(filter.order)} LIMIT ?`, [...where.params, checkLimit(filter.limit)]);
    return rows.map(toRunner);
  }

  async countLiveRunners(identity: string): Promise<number> {
    const row = await this.one("SELECT COUNT(*) AS n FROM runners WHERE provisioned_by = ? AND status <> 'deleted'", [identity]);
    return num(row?.n ?? 0);
  }

  async updateRunner(id: number, patch: RunnerPatch): Promise<RunnerRecord | null> {
    const sets: string[] = [];
    const params: SqlValue[] = [];
    const set = (assignment: string, ...values: SqlValue[]) => {
      sets.push(assignment);
      params.push(...values);
    };
    checkInt(id, "id");
    if (patch.githubRunnerId !== undefined) set("github_runner_id = ?", patch.githubRunnerId === null ? null : checkInt(patch.githubRunnerId, "githubRunnerId"));
    if (patch.labels !== undefined) set("labels = ?", checkStrings(patch.labels, "labels"));
    if (patch.secretSha256 !== undefined) set("secret_sha256 = ?", checkSha(patch.secretSha256));
    if (patch.lastSeenAt !== undefined) set("last_seen_at = ?", patch.lastSeenAt === null ? null : patch.lastSeenAt.getTime());
    const now = this.ms();
    if (patch.status !== undefined) {
      // Decided in the statement, against the row as it is when the update runs (PostgreSQL
      // re-reads it after waiting for a concurrent writer): a deleted runner stays deleted even
      // when a sync read it as alive a moment earlier, and keeps its first deleted_at.
      set("status = CASE WHEN status = 'deleted' THEN status ELSE ? END", checkOneOf(patch.status, RUNNER_STATUSES, "status"));
      if (patch.status === "deleted") set("deleted_at = CASE WHEN status = 'deleted' THEN deleted_at ELSE ? END", now);
    }
    set("updated_at = ?", now);
    const row = await this.one(`UPDATE runners SET ${sets.join(", ")} WHERE id = ? RETURNING *`, [...params, id]);
    return row && toRunner(row);
  }

  // ---- label policies ---------------------------------------------------------------

  async putLabelPolicy(p: LabelPolicy): Promise<{ created: boolean; policy: LabelPolicyRecord }> {
    if (typeof p.userIdentity !== "string" || p.userIdentity.length === 0) fail("userIdentity must be a non-empty string");
    const now = this.ms();
    const values: SqlValue[] = [
      p.userIdentity,
      checkStrings(p.allowedLabels, "allowedLabels"),
      checkStrings(p.labelPatterns, "labelPatterns"),
      checkStrings(p.requiredLabels, "requiredLabels"),
      checkInt(p.maxRunners, "maxRunners"),
      Boolean(p.allowRegistrationToken),
      checkInt(p.runnerGroupId, "runnerGroupId", 1),
      checkStrings(p.repositories ?? [], "repositories"),
      checkStrings(p.workflows ?? [], "workflows"),
      p.org ?? null,
    ];
    const existed = (await this.one("SELECT user_identity FROM label_policies WHERE user_identity = ?", [p.userIdentity])) !== null;
    const row = await this.one(
      `INSERT INTO label_policies (user_identity, allowed_labels, label_patterns, required_labels, max_runners, allow_registration_token, runner_group_id, repositories, workflows, org, created_at, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (user_identity) DO UPDATE SET allowed_labels = excluded.allowed_labels, label_patterns = excluded.label_patterns,
         required_labels = excluded.required_labels, max_runners = excluded.max_runners,
         allow_registration_token = excluded.allow_registration_token, runner_group_id = excluded.runner_group_id,
         repositories = excluded.repositories, workflows = excluded.workflows, org = excluded.org, updated_at = excluded.updated_at
       RETURNING *`,
      [...values, now, now],
    );
    return { created: !existed, policy: toPolicy(row!) };
  }

  async putTrustPolicy(p: TrustPolicy): Promise<{ created: boolean; policy: TrustPolicyRecord }> {
    if (typeof p.name !== "string" || p.name.length === 0 || p.name.length > 100) fail("a trust policy's name must be 1..100 characters");
    if (typeof p.issuer !== "string" || p.issuer.length === 0) fail("a trust policy's issuer must be a non-empty string");
    const { name, issuer, ...rest } = p;
    // Only the policy's own fields, in a fixed order (a record's createdAt must not ride along).
    const definition = JSON.stringify({
      audience: rest.audience,
      ...(rest.subject !== undefined ? { subject: rest.subject } : {}),
      ...(rest.subjectPattern !== undefined ? { subjectPattern: rest.subjectPattern } : {}),
      claims: rest.claims,
      claimPatterns: rest.claimPatterns,
      owner: rest.owner,
      repositories: rest.repositories,
      permissions: rest.permissions,
      mode: rest.mode,
    });
    const now = this.ms();
    const existed = (await this.one("SELECT name FROM trust_policies WHERE name = ?", [name])) !== null;
    const row = await this.one(
      `INSERT INTO trust_policies (name, issuer, definition, created_at, updated_at) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (name) DO UPDATE SET issuer = excluded.issuer, definition = excluded.definition, updated_at = excluded.updated_at
       RETURNING *`,
      [name, issuer, definition, now, now],
    );
    return { created: !existed, policy: toTrustPolicy(row!) };
  }

  async getTrustPolicy(name: string): Promise<TrustPolicyRecord | null> {
    const row = await this.one("SELECT * FROM trust_policies WHERE name = ?", [name]);
    return row && toTrustPolicy(row);
  }

  async listTrustPolicies(): Promise<TrustPolicyRecord[]> {
    return (await this.db.all("SELECT * FROM trust_policies ORDER BY name ASC")).map(toTrustPolicy);
  }

  async deleteTrustPolicy(name: string): Promise<boolean> {
    return (await this.db.all("DELETE FROM trust_policies WHERE name = ? RETURNING name", [name])).length > 0;
  }

  async getLabelPolicy(userIdentity: string): Promise<LabelPolicyRecord | null> {
    const row = await this.one("SELECT * FROM label_policies WHERE user_identity = ?", [userIdentity]);
    return row && toPolicy(row);
  }

  async listLabelPolicies(): Promise<LabelPolicyRecord[]> {
    return (await this.db.all("SELECT * FROM label_policies ORDER BY user_identity ASC")).map(toPolicy);
  }

  async deleteLabelPolicy(userIdentity: string): Promise<boolean> {
    return (await this.db.all("DELETE FROM label_policies WHERE user_identity = ? RETURNING user_identity", [userIdentity])).length > 0;
  }

  // ---- audit log and security events -------------------------------------------------

  async appendAudit(e: AuditEntry): Promise<AuditRecord> {
    checkOneOf(e.result, AUDIT_RESULTS, "result");
    const row = await this.one(
      "INSERT INTO audit_log (at, actor, action, result, runner_name, github_runner_id, details) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING *",
      [this.ms(), e.actor, e.action, e.result, e.runnerName ?? null, e.githubRunnerId ?? null, detailsJson(e.details)],
    );
    return toAudit(row!);
  }

  async listAudit(filter: AuditFilter = {}): Promise<AuditRecord[]> {
    const where = new Where();
    if (filter.user !== undefined) where.add("actor = ?", filter.user);
    if (filter.action !== undefined) where.add("action = ?", filter.action);
    if (filter.runnerName !== undefined) where.add("runner_name = ?", filter.runnerName);
    if (filter.since !== undefined) where.add("at >= ?", filter.since.getTime());
    if (filter.afterId !== undefined) where.add("id > ?", checkInt(filter.afterId, "afterId"));
    if (filter.beforeId !== undefined) where.add("id < ?", checkInt(filter.beforeId, "beforeId"));
    if (filter.result !== undefined) where.add("result = ?", checkOneOf(filter.result, AUDIT_RESULTS, "result"));
    if (filter.until !== undefined) where.add("at <= ?", filter.until.getTime());
    const rows = await this.db.all(`SELECT * FROM audit_log${where} ORDER BY id ${orderOf(filter.order)} LIMIT ?`, [...where.params, checkLimit(filter.limit)]);
    return rows.map(toAudit);
  }

  async recordSecurityEvent(e: SecurityEventEntry): Promise<SecurityEventRecord> {
    checkOneOf(e.severity, SECURITY_SEVERITIES, "severity");
    const at = this.ms();
    const coalesced = e.userIdentity != null && COALESCED_ACTIONS.includes(e.actionTaken);
    // The partial unique index security_events_coalesced (migration 2) makes concurrent writers
    // meet on one row; events that are not coalesced have coalesce_minute NULL and never conflict.
    const row = await this.one(
      `INSERT INTO security_events (at, event_type, severity, user_identity, runner_name, github_runner_id, action_taken, details, count, last_at, coalesce_minute)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1, NULL, ?)
       ON CONFLICT (user_identity, event_type, coalesce_minute) WHERE coalesce_minute IS NOT NULL
       DO UPDATE SET count = security_events.count + 1, last_at = ? RETURNING *`,
      [at, e.eventType, e.severity, e.userIdentity ?? null, e.runnerName ?? null, e.githubRunnerId ?? null, e.actionTaken, detailsJson(e.details), coalesced ? Math.floor(at / 60_000) * 60_000 : null, at],
    );
    return toSecurityEvent(row!);
  }

  async listSecurityEvents(filter: SecurityEventFilter = {}): Promise<SecurityEventRecord[]> {
    const where = new Where();
    if (filter.user !== undefined) where.add("user_identity = ?", filter.user);
    if (filter.eventType !== undefined) where.add("event_type = ?", filter.eventType);
    if (filter.since !== undefined) where.add("at >= ?", filter.since.getTime());
    if (filter.afterId !== undefined) where.add("id > ?", checkInt(filter.afterId, "afterId"));
    if (filter.beforeId !== undefined) where.add("id < ?", checkInt(filter.beforeId, "beforeId"));
    if (filter.until !== undefined) where.add("at <= ?", filter.until.getTime());
    const rows = await this.db.all(`SELECT * FROM security_events${where} ORDER BY id ${orderOf(filter.order)} LIMIT ?`, [...where.params, checkLimit(filter.limit)]);
    return rows.map(toSecurityEvent);
  }

  async addUnauthenticatedFailures(counts: UnauthenticatedFailureCount[]): Promise<void> {
    const bucket = Math.floor(this.ms() / 60_000) * 60_000;
    for (const { reason, count } of counts) {
      if (!REASON.test(reason)) fail("reason must be a code of [a-z0-9_]{1,64}");
      if (checkInt(count, "count") === 0) continue;
      await this.db.all(
        `INSERT INTO unauthenticated_failures (bucket_start, reason, count) VALUES (?, ?, ?)
         ON CONFLICT (bucket_start, reason) DO UPDATE SET count = unauthenticated_failures.count + excluded.count RETURNING count`,
        [bucket, reason, count],
      );
    }
  }

  async listUnauthenticatedFailures(options: { since?: Date } = {}): Promise<UnauthenticatedFailureBucket[]> {
    const since = options.since?.getTime() ?? this.ms() - 24 * 3_600_000;
    const rows = await this.db.all("SELECT * FROM unauthenticated_failures WHERE bucket_start >= ? ORDER BY bucket_start ASC, reason ASC", [since]);
    return rows.map((r) => ({ bucketStart: date(r.bucket_start), reason: String(r.reason), count: num(r.count) }));
  }

  // ---- runners that were there before the broker ---------------------------------------

  async recordBaseline(runnerGroupId: number, runners: { githubRunnerId: number; name: string }[], org = ""): Promise<boolean> {
    checkInt(runnerGroupId, "runnerGroupId", 1);
    const now = this.ms();
    // A concurrent replica inserting the same group waits on the primary key until this commits,
    // then inserts nothing: only one baseline per group is ever recorded.
    const first = await this.db.all("INSERT INTO baseline_groups_by_org (org, runner_group_id, recorded_at) VALUES (?, ?, ?) ON CONFLICT (org, runner_group_id) DO NOTHING RETURNING runner_group_id", [org, runnerGroupId, now]);
    if (first.length === 0) return false;
    for (const r of runners) {
      await this.db.all("INSERT INTO preexisting_runners (github_runner_id, name, runner_group_id, recorded_at, org) VALUES (?, ?, ?, ?, ?) ON CONFLICT (github_runner_id) DO NOTHING RETURNING github_runner_id", [
        checkInt(r.githubRunnerId, "githubRunnerId"),
        String(r.name),
        runnerGroupId,
        now,
        org,
      ]);
    }
    return true;
  }

  async listBaselineGroups(org = ""): Promise<number[]> {
    return (await this.db.all("SELECT runner_group_id FROM baseline_groups_by_org WHERE org = ? ORDER BY runner_group_id ASC", [org])).map((r) => num(r.runner_group_id));
  }

  async assignOrg(org: string): Promise<void> {
    await this.db.all("UPDATE runners SET org = ? WHERE org IS NULL OR org = '' RETURNING id", [org]);
    await this.db.all("UPDATE label_policies SET org = ? WHERE org IS NULL OR org = '' RETURNING user_identity", [org]);
    await this.db.all("UPDATE preexisting_runners SET org = ? WHERE org IS NULL OR org = '' RETURNING github_runner_id", [org]);
    // A group recorded under both '' and org (a race at first start) keeps org's row.
    await this.db.all("DELETE FROM baseline_groups_by_org WHERE org = '' AND runner_group_id IN (SELECT runner_group_id FROM baseline_groups_by_org WHERE org = ?) RETURNING runner_group_id", [org]);
    await this.db.all("UPDATE baseline_groups_by_org SET org = ? WHERE org = '' RETURNING runner_group_id", [org]);
    const key = org.toLowerCase();
    await this.db.all("DELETE FROM runner_group_exposures_by_org WHERE org = '' AND runner_group_id IN (SELECT runner_group_id FROM runner_group_exposures_by_org WHERE org = ?) RETURNING runner_group_id", [key]);
    await this.db.all("UPDATE runner_group_exposures_by_org SET org = ? WHERE org = '' RETURNING runner_group_id", [key]);
  }

  async isPreexistingRunner(githubRunnerId: number): Promise<boolean> {
    return (await this.one("SELECT 1 AS found FROM preexisting_runners WHERE github_runner_id = ?", [checkInt(githubRunnerId, "githubRunnerId")])) !== null;
  }

  async listPreexistingRunners(): Promise<PreexistingRunner[]> {
    const rows = await this.db.all("SELECT * FROM preexisting_runners ORDER BY runner_group_id ASC, github_runner_id ASC");
    return rows.map((r) => ({ githubRunnerId: num(r.github_runner_id), name: String(r.name), runnerGroupId: num(r.runner_group_id), recordedAt: date(r.recorded_at) }));
  }

  // ---- runner groups the sync cannot read ------------------------------------------------

  async setSyncGroupFailures(failures: SyncGroupFailure[]): Promise<void> {
    await this.db.all("DELETE FROM sync_group_failures_by_org RETURNING runner_group_id");
    for (const f of failures) {
      if (!/^[a-z_]{1,64}$/.test(f.code)) fail("code must be an error code of [a-z_]{1,64}");
      await this.db.all("INSERT INTO sync_group_failures_by_org (org, runner_group_id, code, reason, since) VALUES (?, ?, ?, ?, ?) RETURNING runner_group_id", [
        f.org ?? "",
        checkInt(f.runnerGroupId, "runnerGroupId", 1),
        f.code,
        String(f.reason).slice(0, 1000),
        f.since.getTime(),
      ]);
    }
  }

  async listSyncGroupFailures(): Promise<SyncGroupFailure[]> {
    const rows = await this.db.all("SELECT * FROM sync_group_failures_by_org ORDER BY org ASC, runner_group_id ASC");
    return rows.map((r) => ({ ...(r.org ? { org: String(r.org) } : {}), runnerGroupId: num(r.runner_group_id), code: String(r.code), reason: String(r.reason), since: date(r.since) }));
  }

  // ---- runner groups exposed beyond the policies ---------------------------------------------

  async setRunnerGroupExposures(org: string, exposures: Omit<RunnerGroupExposure, "org">[]): Promise<void> {
    if (typeof org !== "string" || org.length > 100) fail("org must be an organisation login of at most 100 characters");
    const key = org.toLowerCase();
    await this.db.all("DELETE FROM runner_group_exposures_by_org WHERE org = ? RETURNING runner_group_id", [key]);
    for (const e of exposures) {
      if (!e.reasons.every((r) => /^[a-z_]{1,64}$/.test(r))) fail("reasons must be codes of [a-z_]{1,64}");
      await this.db.all("INSERT INTO runner_group_exposures_by_org (org, runner_group_id, reasons, since) VALUES (?, ?, ?, ?) RETURNING runner_group_id", [
        key,
        checkInt(e.runnerGroupId, "runnerGroupId", 1),
        JSON.stringify(e.reasons),
        e.since.getTime(),
      ]);
    }
  }

  async listRunnerGroupExposures(): Promise<RunnerGroupExposure[]> {
    const rows = await this.db.all("SELECT * FROM runner_group_exposures_by_org ORDER BY org ASC, runner_group_id ASC");
    return rows.map((r) => ({ org: String(r.org), runnerGroupId: num(r.runner_group_id), reasons: json<string[]>(r.reasons), since: date(r.since) }));
  }

  // ---- lease ------------------------------------------------------------------------------

  async acquireLease(name: string, holder: string, ttlMs: number): Promise<Lease | null> {
    checkInt(ttlMs, "ttlMs", 1);
    const now = this.ms();
    // One statement: insert, or take over an expired lease, or renew our own. The row lock the
    // upsert takes makes a concurrent acquirer re-check the WHERE against the winner's row.
    const row = await this.one(
      `INSERT INTO leases (name, holder, acquired_at, expires_at, generation) VALUES (?, ?, ?, ?, 1)
       ON CONFLICT (name) DO UPDATE SET
         generation = CASE WHEN leases.holder = excluded.holder AND leases.expires_at > ? THEN leases.generation ELSE leases.generation + 1 END,
         acquired_at = CASE WHEN leases.holder = excluded.holder AND leases.expires_at > ? THEN leases.acquired_at ELSE excluded.acquired_at END,
         holder = excluded.holder,
         expires_at = excluded.expires_at
       WHERE leases.holder = excluded.holder OR leases.expires_at <= ?
       RETURNING *`,
      [name, holder, now, now + ttlMs, now, now, now],
    );
    return row && toLease(row);
  }

  async renewLease(name: string, holder: string, ttlMs: number): Promise<Lease | null> {
    checkInt(ttlMs, "ttlMs", 1);
    const now = this.ms();
    const row = await this.one("UPDATE leases SET expires_at = ? WHERE name = ? AND holder = ? AND expires_at > ? RETURNING *", [now + ttlMs, name, holder, now]);
    return row && toLease(row);
  }

  async releaseLease(name: string, holder: string): Promise<boolean> {
    // Expire it now rather than delete it, so the generation keeps counting up.
    const now = this.ms();
    const rows = await this.db.all("UPDATE leases SET expires_at = ? WHERE name = ? AND holder = ? AND expires_at > ? RETURNING name", [now, name, holder, now]);
    return rows.length > 0;
  }

  async getLease(name: string): Promise<Lease | null> {
    const row = await this.one("SELECT * FROM leases WHERE name = ?", [name]);
    return row && toLease(row);
  }

  // ---- GitHub webhook deliveries -----------------------------------------------------------

  async recordWebhookDelivery(d: WebhookDeliveryEntry): Promise<boolean> {
    checkGuid(d.guid);
    if (!WORD.test(d.event)) fail("event must be [a-z0-9_]{1,64}");
    if (d.action != null && !WORD.test(d.action)) fail("action must be [a-z0-9_]{1,64}");
    const optInt = (v: number | null | undefined, what: string) => (v === null || v === undefined ? null : checkInt(v, what));
    const rows = await this.db.all(
      `INSERT INTO webhook_deliveries (guid, event, action, workflow_job_id, runner_id, runner_name, runner_group_id, received_at, processed_at, outcome)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL) ON CONFLICT (guid) DO NOTHING RETURNING guid`,
      [d.guid, d.event, d.action ?? null, optInt(d.workflowJobId, "workflowJobId"), optInt(d.runnerId, "runnerId"), d.runnerName == null ? null : String(d.runnerName).slice(0, 256), optInt(d.runnerGroupId, "runnerGroupId"), this.ms()],
    );
    return rows.length > 0;
  }

  async getWebhookDelivery(guid: string): Promise<WebhookDeliveryRecord | null> {
    const row = await this.one("SELECT * FROM webhook_deliveries WHERE guid = ?", [guid]);
    return row && toDelivery(row);
  }

  async listUnprocessedWebhookDeliveries(options: { receivedBefore: Date; limit?: number }): Promise<WebhookDeliveryRecord[]> {
    const rows = await this.db.all("SELECT * FROM webhook_deliveries WHERE processed_at IS NULL AND received_at < ? ORDER BY received_at ASC, guid ASC LIMIT ?", [options.receivedBefore.getTime(), checkLimit(options.limit)]);
    return rows.map(toDelivery);
  }

  async claimWebhookDelivery(guid: string, outcome: string): Promise<boolean> {
    if (!WORD.test(outcome)) fail("outcome must be [a-z0-9_]{1,64}");
    const rows = await this.db.all("UPDATE webhook_deliveries SET processed_at = ?, outcome = ? WHERE guid = ? AND processed_at IS NULL RETURNING guid", [this.ms(), outcome, checkGuid(guid)]);
    return rows.length > 0;
  }

  async isWorkflowJobCompleted(workflowJobId: number): Promise<boolean> {
    return (await this.one("SELECT 1 AS found FROM webhook_deliveries WHERE workflow_job_id = ? AND action = 'completed' LIMIT 1", [checkInt(workflowJobId, "workflowJobId")])) !== null;
  }

  async pruneWebhookDeliveries(before: Date): Promise<number> {
    const rows = await this.db.all("DELETE FROM webhook_deliveries WHERE received_at < ? AND processed_at IS NOT NULL RETURNING guid", [before.getTime()]);
    await this.db.all("DELETE FROM webhook_redeliveries WHERE requested_at < ? RETURNING guid", [before.getTime()]);
    return rows.length;
  }

  async recordRedeliveryRequest(r: Omit<RedeliveryRequest, "requestedAt">): Promise<boolean> {
    if (!WORD.test(r.result)) fail("result must be [a-z0-9_]{1,64}");
    const rows = await this.db.all("INSERT INTO webhook_redeliveries (guid, github_delivery_id, requested_at, result) VALUES (?, ?, ?, ?) ON CONFLICT (guid) DO NOTHING RETURNING guid", [checkGuid(r.guid), checkInt(r.githubDeliveryId, "githubDeliveryId"), this.ms(), r.result]);
    return rows.length > 0;
  }

  async getRedeliveryRequest(guid: string): Promise<RedeliveryRequest | null> {
    const row = await this.one("SELECT * FROM webhook_redeliveries WHERE guid = ?", [guid]);
    return row && { guid: String(row.guid), githubDeliveryId: num(row.github_delivery_id), result: String(row.result), requestedAt: date(row.requested_at) };
  }
}
