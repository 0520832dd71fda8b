// The broker's one storage interface. Two implementations sit behind it (SQLite through
// bun:sqlite, the embedded default; PostgreSQL for production and several replicas), chosen by
// openStorage(DATABASE_URL), and one test suite (tests/broker/storage.test.ts) runs against both.
//
// Rules every implementation keeps, and the service may rely on:
// - No secret is ever stored. A JIT config or registration token enters only as its SHA-256
//   (`secretSha256`, 64 lowercase hex); anything else there is refused.
// - Every write the service makes together with its audit record or security event goes through
//   `transaction()`: both are committed, or neither.
// - `reserveRunner` is atomic across processes sharing one database (PostgreSQL: an advisory
//   transaction lock per identity plus a partial unique index on the live name; SQLite: BEGIN
//   IMMEDIATE), so `max_runners` holds under concurrency and across replicas.
// - Timestamps come from the clock given to openStorage (injectable, as everywhere in the
//   project), never from the database server, so tests can move time and replicas agree on
//   one representation (UTC, millisecond precision).
// - Lists are newest first unless `order: "asc"` is asked for, and bounded: `limit` defaults to
//   100 and may be at most 1000 (MAX_LIST_LIMIT); a larger value is refused, not truncated silently.
// - Errors: a database that cannot be reached or answers with an error is a GhappError of class
//   `unavailable` (core/errors.ts; the service answers 503, the CLI exits 5), a bad DATABASE_URL or
//   a schema newer than this build is class `config` (exit 2). Invalid input (a secretSha256 that
//   is not a hash, a limit out of range, a status not in the list) is a bug in the caller and throws
//   a plain TypeError. Messages never carry the DATABASE_URL's password.

import type { TrustPolicy, TrustPolicyRecord } from "../trust-policy.ts";

export type { TrustPolicy, TrustPolicyRecord };

export const RUNNER_MODES = ["jit", "registration_token"] as const;
export type RunnerMode = (typeof RUNNER_MODES)[number];

/**
 * pending: reserved or provisioned, not yet seen online at GitHub; active: online and idle;
 * busy: running a job; offline: registered but not connected; deleted: removed at GitHub (or
 * never created there) — kept for the audit trail, and no longer counted against max_runners.
 */
export const RUNNER_STATUSES = ["pending", "active", "offline", "busy", "deleted"] as const;
export type RunnerStatus = (typeof RUNNER_STATUSES)[number];

export const SECURITY_SEVERITIES = ["low", "medium", "high", "critical"] as const;
export type SecuritySeverity = (typeof SECURITY_SEVERITIES)[number];

export const AUDIT_RESULTS = ["success", "denied", "failure"] as const;
/** success: done; denied: refused by authorization, policy or quota; failure: an error (GitHub down, ...). */
export type AuditResult = (typeof AUDIT_RESULTS)[number];

export const DEFAULT_LIST_LIMIT = 100;
export const MAX_LIST_LIMIT = 1000;

/** A runner the broker provisioned (or reserved a name for). Identified by `id`; `name` is unique among runners not deleted. */
export interface RunnerRecord {
  /** The broker's own id (a runner name may be reused after the earlier runner is deleted). */
  id: number;
  /** The runner's name at GitHub, 1–64 of [A-Za-z0-9._-]. Unique among runners whose status is not "deleted". */
  name: string;
  /** GitHub's runner id; null while only reserved (before GitHub answered) or for a registration-token runner not yet registered. */
  githubRunnerId: number | null;
  /** The labels as registered at GitHub (or as requested, until GitHub answered). */
  labels: string[];
  ephemeral: boolean;
  mode: RunnerMode;
  status: RunnerStatus;
  /** The caller's identity (the OIDC_IDENTITY_CLAIM value) that provisioned it. */
  provisionedBy: string;
  runnerGroupId: number;
  /** The organisation (login, as configured) the runner is in; "" only for a row written before migration 7 and not yet assigned. */
  org: string;
  /** SHA-256 (hex) of the JIT config or registration token handed out; null until handed out. Never the secret itself. */
  secretSha256: string | null;
  createdAt: Date;
  /** Last change of any field by the broker. */
  updatedAt: Date;
  /** Last time the sync (or a refresh) saw this runner at GitHub; null when never seen. */
  lastSeenAt: Date | null;
  /** When the status became "deleted"; null otherwise. */
  deletedAt: Date | null;
}

/** What reserveRunner needs. The runner starts as status "pending" with no GitHub id and no secret hash. */
export interface RunnerReservation {
  name: string;
  provisionedBy: string;
  labels: string[];
  ephemeral: boolean;
  mode: RunnerMode;
  runnerGroupId: number;
  /** The organisation the runner goes to (its policy's). */
  org?: string;
  /** The identity's policy limit: the reservation is refused when it already holds this many runners not deleted. */
  maxRunners: number;
}

export type ReserveResult =
  | { ok: true; runner: RunnerRecord }
  /** `name_taken`: a runner not deleted already has this name (anyone's). `quota_exceeded`: `held` >= maxRunners. */
  | { ok: false; reason: "name_taken" | "quota_exceeded"; held: number };

/** Fields updateRunner may change; absent fields stay as they are. `status: "deleted"` also sets deletedAt. */
export interface RunnerPatch {
  githubRunnerId?: number | null;
  labels?: string[];
  status?: RunnerStatus;
  secretSha256?: string | null;
  lastSeenAt?: Date | null;
}

export interface RunnerFilter {
  provisionedBy?: string;
  /** One status or several. Without it, every status but "deleted" (pass "deleted" or includeDeleted to see those). */
  status?: RunnerStatus | RunnerStatus[];
  includeDeleted?: boolean;
  runnerGroupId?: number;
  /** Runners of this organisation only. */
  org?: string;
  /** Created at or after. */
  since?: Date;
  /** Runners with id greater than this: page through every runner with `order: "asc"` (the sync does, past MAX_LIST_LIMIT). */
  afterId?: number;
  /** Runners with id less than this: page newest first (the dashboard does). */
  beforeId?: number;
  limit?: number;
  order?: "asc" | "desc";
}

/** A label policy, in the API's shape. `userIdentity: "*"` is the default policy. */
export interface LabelPolicy {
  userIdentity: string;
  /** Labels allowed as written (compared case-insensitively by the policy code, stored as given). */
  allowedLabels: string[];
  /** Anchored regular expressions (source text); compiled and checked by the policy code, stored as given. */
  labelPatterns: string[];
  /** Labels every runner of this identity must carry. */
  requiredLabels: string[];
  /** Runners not deleted this identity may hold at once (>= 0). */
  maxRunners: number;
  allowRegistrationToken: boolean;
  runnerGroupId: number;
  /** The organisation whose runner group this is; optional while the broker serves one organisation. */
  org?: string;
  /** Repositories ("owner/name") the runners serve: with MANAGE_RUNNER_GROUPS, the group's selected repositories. */
  repositories?: string[];
  /** Workflows ("owner/repo/.github/workflows/ci.yml@ref") the group must be restricted to. */
  workflows?: string[];
}

export interface LabelPolicyRecord extends LabelPolicy {
  createdAt: Date;
  updatedAt: Date;
}

/** An audit record: every operation, with who, what, the result and details. */
export interface AuditEntry {
  /** The caller's identity, or "system" for the sync and clean-up, or "cli" for operator commands. */
  actor: string;
  /** Dotted verb, e.g. "runner.provision", "runner.deprovision", "runner.refresh", "sync.status_change", "cleanup.pending_expired", "policy.put", "policy.delete", "request.denied". */
  action: string;
  result: AuditResult;
  runnerName?: string | null;
  githubRunnerId?: number | null;
  /** Free-form JSON details (bounded to 16 KiB serialised). Must never carry a secret: a secret's SHA-256 goes here, as `secret_sha256`. */
  details?: Record<string, unknown>;
}

export interface AuditRecord extends Required<Omit<AuditEntry, "details">> {
  id: number;
  at: Date;
  details: Record<string, unknown>;
}

export interface AuditFilter {
  /** Records whose actor is this identity. */
  user?: string;
  action?: string;
  runnerName?: string;
  since?: Date;
  /** Records with id greater than this (for paging through an export in ascending order). */
  afterId?: number;
  /** Records with id less than this (paging newest first, as the dashboard does). */
  beforeId?: number;
  result?: AuditResult;
  /** At or before. */
  until?: Date;
  limit?: number;
  order?: "asc" | "desc";
}

/** A security event: something that may be an attack or a misuse, and what the broker did about it. */
export interface SecurityEventEntry {
  /** snake_case type, e.g. "label_not_allowed", "quota_exceeded", "admin_forbidden", "unprovisioned_runner", "label_drift". */
  eventType: string;
  severity: SecuritySeverity;
  /** The identity involved, when known. */
  userIdentity?: string | null;
  runnerName?: string | null;
  githubRunnerId?: number | null;
  /** The action taken, e.g. "request_refused", "runner_removed", "none". */
  actionTaken: string;
  details?: Record<string, unknown>;
}

export interface SecurityEventRecord extends Required<Omit<SecurityEventEntry, "details">> {
  id: number;
  /** when it (first) happened */
  at: Date;
  details: Record<string, unknown>;
  /** how many times: more than 1 for a coalesced refusal (recordSecurityEvent) */
  count: number;
  /** when it last happened (= at while count is 1) */
  lastAt: Date;
}

/** A runner group the sync could not read: the broker's error code, why (its own words), since when. */
export interface SyncGroupFailure {
  /** the organisation of the group ("" for a single-organisation caller that does not say) */
  org?: string;
  runnerGroupId: number;
  /** the broker's error code: not_found, github_unavailable, github_misconfigured, ... ([a-z_]{1,64}) */
  code: string;
  /** the broker's own message (never text from GitHub), at most 1000 characters */
  reason: string;
  since: Date;
}

/** A runner group the broker uses that more than the policies' repositories or workflows can reach. */
export interface RunnerGroupExposure {
  /** the organisation of the group, lower case */
  org: string;
  runnerGroupId: number;
  /** why, sorted: visibility_all, public_repositories, unrestricted_workflows, other_workflows */
  reasons: string[];
  since: Date;
}

/** Security events that are coalesced: refusals of an identity's requests (not what the sync did to a runner). */
export const COALESCED_ACTIONS: readonly string[] = ["request_refused", "answered_not_found"];

export interface SecurityEventFilter {
  user?: string;
  eventType?: string;
  since?: Date;
  afterId?: number;
  /** Events with id less than this (paging newest first). */
  beforeId?: number;
  /** At or before. */
  until?: Date;
  limit?: number;
  order?: "asc" | "desc";
}

/**
 * Unauthenticated failures are not audited one by one (a flood must not fill the database): the
 * service counts them in memory and metrics, and adds the counts here, one row per minute and
 * reason. `reason` is a short code from the service's own fixed set ("missing_token",
 * "invalid_token", "expired", ...), never text from the request: [a-z0-9_]{1,64}.
 */
export interface UnauthenticatedFailureCount {
  reason: string;
  count: number;
}

export interface UnauthenticatedFailureBucket {
  /** Start of the minute (UTC) the failures fell in. */
  bucketStart: Date;
  reason: string;
  count: number;
}

/**
 * A runner that was already in a runner group when the broker first looked at that group. The
 * broker never touches (removes, adopts or reports) such a runner.
 */
export interface PreexistingRunner {
  githubRunnerId: number;
  name: string;
  runnerGroupId: number;
  recordedAt: Date;
}

/** A lease: at most one holder at a time; another may take it once `expiresAt` has passed. */
export interface Lease {
  name: string;
  holder: string;
  acquiredAt: Date;
  expiresAt: Date;
  /** Increases by one each time the lease changes holder (a fencing token: compare before acting). */
  generation: number;
}

/**
 * A GitHub webhook delivery the broker accepted (verified signature, GUID not seen before): only
 * what processing needs, never the payload, a signature or the secret.
 */
export interface WebhookDeliveryEntry {
  /** X-GitHub-Delivery: a GUID, shared by a delivery and its redeliveries. */
  guid: string;
  /** X-GitHub-Event, e.g. "workflow_job" or "ping". */
  event: string;
  action?: string | null;
  workflowJobId?: number | null;
  runnerId?: number | null;
  runnerName?: string | null;
  runnerGroupId?: number | null;
}

export interface WebhookDeliveryRecord extends Required<WebhookDeliveryEntry> {
  receivedAt: Date;
  /** When processing finished (in the transaction of the change it made); null while queued. */
  processedAt: Date | null;
  /** What processing did, e.g. "status_change", "no_change", "unknown_runner"; null while queued. */
  outcome: string | null;
}

/** The broker's request that GitHub redeliver a failed delivery: at most one per GUID. */
export interface RedeliveryRequest {
  guid: string;
  /** GitHub's id of the failed delivery the broker asked about. */
  githubDeliveryId: number;
  /** "requested" (GitHub answered 202) or "failed" (GitHub refused; not asked again). */
  result: string;
  requestedAt: Date;
}

/** Everything that works both inside a transaction and on its own (then each call is its own transaction). */
export interface StorageOps {
  // ---- runners ----------------------------------------------------------------------

  /**
   * Atomically reserves `name` for `provisionedBy`: inserts a "pending" runner unless the
   * identity already holds >= maxRunners runners not deleted (`quota_exceeded`), or a runner not
   * deleted already has this name (`name_taken`, whoever holds it). Holds under concurrency across
   * processes on one database. Inside a transaction the identity's lock is held until it ends.
   */
  reserveRunner(reservation: RunnerReservation): Promise<ReserveResult>;

  /** The runner with this broker id, or null. */
  getRunnerById(id: number): Promise<RunnerRecord | null>;

  /**
   * The runner not deleted with this name; with `includeDeleted`, else the most recently created
   * deleted one. Null when there is none. Callers check `provisionedBy` themselves (isolation).
   */
  getRunnerByName(name: string, options?: { includeDeleted?: boolean }): Promise<RunnerRecord | null>;

  /** The runner (not deleted first, else the newest) with this GitHub runner id, or null. */
  getRunnerByGithubId(githubRunnerId: number): Promise<RunnerRecord | null>;

  /** Runners matching the filter (see RunnerFilter for the defaults). */
  listRunners(filter?: RunnerFilter): Promise<RunnerRecord[]>;

  /** Runners not deleted that `identity` holds (what max_runners counts). */
  countLiveRunners(identity: string): Promise<number>;

  /**
   * Changes the given fields of runner `id` and sets updatedAt; returns the new record, or null
   * when there is no such runner. A deleted runner stays deleted: a status in the patch is
   * ignored for it (the other fields still change), also when it was deleted concurrently after
   * the caller read it; check the returned status. Its name may have been reused meanwhile.
   */
  updateRunner(id: number, patch: RunnerPatch): Promise<RunnerRecord | null>;

  // ---- label policies ---------------------------------------------------------------

  /** Creates or replaces the policy of `policy.userIdentity`; `created` says which. */
  putLabelPolicy(policy: LabelPolicy): Promise<{ created: boolean; policy: LabelPolicyRecord }>;

  /** The identity's own policy (exactly this identity, no "*" fallback: the policy code decides that), or null. */
  getLabelPolicy(userIdentity: string): Promise<LabelPolicyRecord | null>;

  /** Every policy, ordered by userIdentity. */
  listLabelPolicies(): Promise<LabelPolicyRecord[]>;

  /** Removes the identity's policy; false when there was none. Its runners stay as they are. */
  deleteLabelPolicy(userIdentity: string): Promise<boolean>;

  // ---- trust policies (the token exchange's rules) ------------------------------------

  /** Creates or replaces the trust policy named `policy.name`; `created` says which. The definition is stored as given (the policy code validates it). */
  putTrustPolicy(policy: TrustPolicy): Promise<{ created: boolean; policy: TrustPolicyRecord }>;

  /** The trust policy of this name, or null. */
  getTrustPolicy(name: string): Promise<TrustPolicyRecord | null>;

  /** Every trust policy, ordered by name. */
  listTrustPolicies(): Promise<TrustPolicyRecord[]>;

  /** Removes the trust policy; false when there was none. */
  deleteTrustPolicy(name: string): Promise<boolean>;

  // ---- audit log and security events -------------------------------------------------

  /** Appends an audit record (at = now). Details must not carry secrets; 16 KiB at most. */
  appendAudit(entry: AuditEntry): Promise<AuditRecord>;

  /** Audit records matching the filter. */
  listAudit(filter?: AuditFilter): Promise<AuditRecord[]>;

  /**
   * Records a security event (at = now). A refusal of a known identity (actionTaken in
   * COALESCED_ACTIONS) adds 1 to the count of that identity's event of the same type in the same
   * minute, if there is one (also across processes on one database), so repeated refusals are one
   * row per identity, type and minute; its details stay the first one's.
   */
  recordSecurityEvent(event: SecurityEventEntry): Promise<SecurityEventRecord>;

  /** Security events matching the filter. */
  listSecurityEvents(filter?: SecurityEventFilter): Promise<SecurityEventRecord[]>;

  /** Adds counts of unauthenticated failures into the current minute's buckets. */
  addUnauthenticatedFailures(counts: UnauthenticatedFailureCount[]): Promise<void>;

  /** Buckets since `since` (default: the last 24 hours), oldest first. */
  listUnauthenticatedFailures(options?: { since?: Date }): Promise<UnauthenticatedFailureBucket[]>;

  // ---- runners that were there before the broker ---------------------------------------

  /**
   * Records the runners present in `runnerGroupId` when the broker first looked at it, once:
   * returns true when this call recorded the group's baseline, false (and records nothing) when
   * a baseline for the group exists already (another replica, or an earlier start, was first).
   */
  recordBaseline(runnerGroupId: number, runners: { githubRunnerId: number; name: string }[], org?: string): Promise<boolean>;

  /** The runner groups whose baseline has been recorded. */
  listBaselineGroups(org?: string): Promise<number[]>;

  /**
   * Gives every runner, label policy and baseline group written before migration 7 (no
   * organisation) the organisation `org`: the one the broker served then. Idempotent.
   */
  assignOrg(org: string): Promise<void>;

  /** True when this GitHub runner id was present before the broker first looked at its group. */
  isPreexistingRunner(githubRunnerId: number): Promise<boolean>;

  /** Every pre-existing runner recorded, by runner group then id. */
  listPreexistingRunners(): Promise<PreexistingRunner[]>;

  // ---- runner groups the sync cannot read ------------------------------------------------

  /** Replaces the recorded failures with these: the syncing replica's view after a round. */
  setSyncGroupFailures(failures: SyncGroupFailure[]): Promise<void>;

  /** The runner groups the last sync round could not read, by id (every replica's /ready shows them). */
  listSyncGroupFailures(): Promise<SyncGroupFailure[]>;

  // ---- runner groups exposed beyond the policies (issue 20) --------------------------------

  /** Replaces `org`'s recorded exposures with these (the other organisations' stay): the syncing replica's view after a round. */
  setRunnerGroupExposures(org: string, exposures: Omit<RunnerGroupExposure, "org">[]): Promise<void>;

  /** The runner groups the last sync rounds found exposed, by organisation and id. */
  listRunnerGroupExposures(): Promise<RunnerGroupExposure[]>;

  // ---- lease (one sync leader among replicas) -------------------------------------------

  /**
   * Takes lease `name` for `holder` for `ttlMs` when it is free, expired, or already held by
   * `holder` (then it is renewed). Returns the lease when `holder` holds it afterwards, else null.
   */
  acquireLease(name: string, holder: string, ttlMs: number): Promise<Lease | null>;

  /** Extends the lease only when `holder` still holds it and it has not expired; null otherwise (leadership lost). */
  renewLease(name: string, holder: string, ttlMs: number): Promise<Lease | null>;

  /** Gives the lease up when `holder` holds it (so another replica need not wait for expiry); false otherwise. */
  releaseLease(name: string, holder: string): Promise<boolean>;

  /** The lease as stored (possibly expired), or null when never taken. */
  getLease(name: string): Promise<Lease | null>;

  // ---- GitHub webhook deliveries -----------------------------------------------------------

  /**
   * Records an accepted delivery (receivedAt = now, not processed); false (and nothing written)
   * when its GUID was recorded before: a replay.
   */
  recordWebhookDelivery(delivery: WebhookDeliveryEntry): Promise<boolean>;

  /** The delivery with this GUID, or null. */
  getWebhookDelivery(guid: string): Promise<WebhookDeliveryRecord | null>;

  /** Deliveries not processed yet that were received before `receivedBefore`, oldest first. */
  listUnprocessedWebhookDeliveries(options: { receivedBefore: Date; limit?: number }): Promise<WebhookDeliveryRecord[]>;

  /**
   * Marks the delivery processed with `outcome`, unless it was already: true when this call did
   * (so of two processors in one transaction each, exactly one goes on).
   */
  claimWebhookDelivery(guid: string, outcome: string): Promise<boolean>;

  /** True when a `completed` delivery of this workflow job was received (a late in_progress must not make its runner busy again). */
  isWorkflowJobCompleted(workflowJobId: number): Promise<boolean>;

  /** Forgets processed deliveries received before `before`; returns how many. */
  pruneWebhookDeliveries(before: Date): Promise<number>;

  /** Records that the broker asked GitHub to redeliver `guid` (requestedAt = now); false when it had asked before. */
  recordRedeliveryRequest(request: Omit<RedeliveryRequest, "requestedAt">): Promise<boolean>;

  /** The broker's redelivery request for this GUID, or null. */
  getRedeliveryRequest(guid: string): Promise<RedeliveryRequest | null>;
}

export interface MigrationResult {
  /** Versions applied by this call, in order; empty when the schema was up to date. */
  applied: number[];
  /** The schema version afterwards. */
  version: number;
}

/** A database the broker works on. Open with openStorage(DATABASE_URL) from ./open.ts. */
export interface Storage extends StorageOps {
  readonly kind: "sqlite" | "postgres";

  /**
   * Applies the numbered migrations not yet applied (recorded in schema_migrations), each in
   * its own transaction; safe to call from several processes at once and on every start.
   * Refuses (config error) a database whose schema is newer than this build knows.
   */
  migrate(): Promise<MigrationResult>;

  /**
   * Runs `fn` in one transaction: everything it wrote is committed when it resolves and rolled
   * back when it throws (the error is re-thrown). PostgreSQL: READ COMMITTED on one connection
   * (reserveRunner adds its own lock); SQLite: BEGIN IMMEDIATE, and transactions of one Storage are
   * queued, never interleaved. Do not call GitHub inside: the transaction holds locks meanwhile.
   * Inside `fn`, use `tx` only: a call on this Storage itself is refused with a TypeError (it would
   * wait for the transaction it runs in, or escape it).
   */
  transaction<T>(fn: (tx: StorageOps) => Promise<T>): Promise<T>;

  /** A cheap round trip for /ready; throws an unavailable GhappError when the database does not answer. */
  ping(): Promise<void>;

  /** Closes the connections; the Storage is unusable afterwards. */
  close(): Promise<void>;
}

export interface StorageOptions {
  /** The clock every timestamp comes from (default: () => new Date()). */
  now?: () => Date;
  /**
   * How long a write waits for a lock another holds (SQLite: the write lock; PostgreSQL: a row
   * or advisory lock, lock_timeout) before failing as unavailable. Default 10 s.
   */
  lockTimeoutMs?: number;
}
