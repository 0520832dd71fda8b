// What the pages show, computed from the services' answers: filtering, ages, the rows of a table.
// Templates only print these (STYLE.md: no logic lives in templates).
import type { AuditRecord, LabelPolicy, RunnerRecord, RunnerStatus, SecurityEventRecord } from "../storage/storage.ts";
import { RUNNER_STATUSES } from "../storage/storage.ts";

export interface RunnerRow {
  name: string;
  status: RunnerStatus;
  busy: boolean;
  labels: string[];
  group: number;
  organisation: string;
  owner: string;
  age: string;
  lastSeen: string;
}

export interface RunnerFilters {
  status?: RunnerStatus;
  /** part of the name */
  name?: string;
  label?: string;
}

/** The filters from a query string; anything unknown is dropped, not an error (a bookmark outlives a status). */
export function runnerFilters(q: Record<string, string | undefined>): RunnerFilters {
  const status = RUNNER_STATUSES.find((s) => s === q.status);
  const name = q.name?.trim().slice(0, 64);
  const label = q.label?.trim().slice(0, 100);
  return { ...(status ? { status } : {}), ...(name ? { name } : {}), ...(label ? { label } : {}) };
}

export function filterRunners(records: RunnerRecord[], f: RunnerFilters): RunnerRecord[] {
  const name = f.name?.toLowerCase();
  const label = f.label?.toLowerCase();
  return records.filter((r) => (!name || r.name.toLowerCase().includes(name)) && (!label || r.labels.some((l) => l.toLowerCase() === label)));
}

/** "3 min", "2 h", "5 d": how long ago, for people. */
export function ago(from: Date, nowMs: number): string {
  const s = Math.max(0, Math.round((nowMs - from.getTime()) / 1000));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min`;
  if (s < 86_400) return `${Math.floor(s / 3600)} h`;
  return `${Math.floor(s / 86_400)} d`;
}

export function runnerRow(r: RunnerRecord, org: string, nowMs: number): RunnerRow {
  return {
    name: r.name,
    status: r.status,
    busy: r.status === "busy",
    labels: r.labels,
    group: r.runnerGroupId,
    organisation: org,
    owner: r.provisionedBy,
    age: ago(r.createdAt, nowMs),
    lastSeen: r.lastSeenAt ? `${ago(r.lastSeenAt, nowMs)} ago` : "never",
  };
}

export interface AuditRow {
  at: string;
  actor: string;
  action: string;
  result: string;
  runner: string;
  details: string;
}

/** Details as one line of JSON, cut at 300 characters (they never hold a secret: only a secret's SHA-256). */
export function auditRow(a: AuditRecord): AuditRow {
  const details = JSON.stringify(a.details);
  return { at: a.at.toISOString().replace("T", " ").slice(0, 19), actor: a.actor, action: a.action, result: a.result, runner: a.runnerName ?? "", details: details === "{}" ? "" : details.length > 300 ? `${details.slice(0, 300)}…` : details };
}

export interface EventRow {
  at: string;
  type: string;
  severity: string;
  identity: string;
  runner: string;
  actionTaken: string;
  count: number;
}

export function eventRow(e: SecurityEventRecord): EventRow {
  return { at: e.at.toISOString().replace("T", " ").slice(0, 19), type: e.eventType, severity: e.severity, identity: e.userIdentity ?? "", runner: e.runnerName ?? "", actionTaken: e.actionTaken, count: e.count };
}

/** A time from a datetime-local field, read as UTC; undefined when empty; null when not a time. */
export function utcTime(text: string | undefined): Date | undefined | null {
  if (!text) return undefined;
  if (!/^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d)?$/.test(text)) return null;
  const d = new Date(`${text}Z`);
  return Number.isNaN(d.getTime()) ? null : d;
}

/** A positive id for paging (?before=), or undefined. */
export function pageCursor(text: string | undefined): number | undefined {
  return text && /^\d{1,15}$/.test(text) && Number(text) > 0 ? Number(text) : undefined;
}

/** The label-policy form: what was typed (shown again as typed) and an error per field. */
export interface PolicyForm {
  isNew: boolean;
  values: { user_identity: string; allowed_labels: string; label_patterns: string; required_labels: string; max_runners: string; runner_group_id: string; allow_registration_token: boolean };
  errors: Partial<Record<keyof PolicyForm["values"], string>>;
}

export function policyFormOf(p: LabelPolicy | undefined): PolicyForm {
  if (!p) return { isNew: true, values: { user_identity: "", allowed_labels: "", label_patterns: "", required_labels: "", max_runners: "10", runner_group_id: "", allow_registration_token: false }, errors: {} };
  return {
    isNew: false,
    values: { user_identity: p.userIdentity, allowed_labels: p.allowedLabels.join(", "), label_patterns: p.labelPatterns.join("\n"), required_labels: p.requiredLabels.join(", "), max_runners: String(p.maxRunners), runner_group_id: String(p.runnerGroupId), allow_registration_token: p.allowRegistrationToken },
    errors: {},
  };
}

/** The form's values as the API's JSON body (validated by the API's own schema after this). */
export function policyBodyOf(v: PolicyForm["values"]): Record<string, unknown> {
  const list = (s: string) => s.split(/[\s,]+/).filter(Boolean);
  const num = (s: string) => (/^\d{1,9}$/.test(s.trim()) ? Number(s.trim()) : s);
  return {
    user_identity: v.user_identity.trim(),
    allowed_labels: list(v.allowed_labels),
    label_patterns: v.label_patterns.split(/\r?\n/).map((l) => l.trim()).filter(Boolean),
    required_labels: list(v.required_labels),
    max_runners: num(v.max_runners),
    allow_registration_token: v.allow_registration_token,
    ...(v.runner_group_id.trim() ? { runner_group_id: num(v.runner_group_id) } : {}),
  };
}

/** The form field an error names: "label_patterns[1]" and "allowed_labels.0" are their lists'. */
export function formFieldOf(field: string): keyof PolicyForm["values"] | undefined {
  const top = field.split(/[.[]/)[0];
  const names: (keyof PolicyForm["values"])[] = ["user_identity", "allowed_labels", "label_patterns", "required_labels", "max_runners", "runner_group_id", "allow_registration_token"];
  return names.find((n) => n === top);
}

export interface TokenRow {
  at: string;
  policy: string;
  repositories: string;
  permissions: string;
  expires: string;
  /** the first 12 hex digits of the token's SHA-256: enough to match a log line, never the token */
  sha256Prefix: string;
}

/** An installation token handed out by the exchange, from its audit record (which holds only its SHA-256). */
export function tokenRow(a: AuditRecord): TokenRow {
  const d = a.details as { policy?: unknown; scope?: { owner?: unknown; repositories?: unknown; permissions?: unknown }; expires_at?: unknown; token_sha256?: unknown };
  const owner = typeof d.scope?.owner === "string" ? d.scope.owner : "";
  const repos = Array.isArray(d.scope?.repositories) ? d.scope.repositories.filter((r): r is string => typeof r === "string").map((r) => `${owner}/${r}`).join(", ") : `every repository of ${owner}`;
  const perms = d.scope?.permissions && typeof d.scope.permissions === "object" ? Object.entries(d.scope.permissions as Record<string, unknown>).map(([k, v]) => `${k}: ${String(v)}`).join(", ") : "";
  const sha = typeof d.token_sha256 === "string" ? d.token_sha256.slice(0, 12) : "";
  return { at: a.at.toISOString().replace("T", " ").slice(0, 19), policy: typeof d.policy === "string" ? d.policy : "", repositories: repos, permissions: perms, expires: typeof d.expires_at === "string" ? d.expires_at.replace("T", " ").slice(0, 19) : "", sha256Prefix: sha };
}
