// What the pages show, computed from the services' answers: filtering, ages, the rows of a table.
// Templates only print these (STYLE.md: no logic lives in templates).
import type { RunnerRecord, RunnerStatus } from "../storage/storage.ts";
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
