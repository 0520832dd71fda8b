// Migration 1: the broker's first schema. Released: never edit this file; add 0002-….ts instead.
//
// One text for both dialects, so they cannot drift apart: the column types that differ are written
// {id}, {int} (64-bit), {bool} and {sha256} and expanded below, per dialect, by rules that belong to
// this migration (a later one brings its own). Both keep the same tables, columns and meanings, so
// one row mapper serves both:
// times are BIGINT milliseconds since the epoch (UTC; the broker's injectable clock writes them),
// lists and details are JSON text. No column can hold a secret: secret_sha256 accepts only 64
// lowercase hex characters (the SHA-256 of a JIT config or registration token).
import type { Migration } from "./index.ts";

const template = `
CREATE TABLE runners (
  id               {id},
  name             TEXT    NOT NULL CHECK (length(name) BETWEEN 1 AND 64),
  github_runner_id {int},
  labels           TEXT    NOT NULL,
  ephemeral        {bool},
  mode             TEXT    NOT NULL CHECK (mode IN ('jit', 'registration_token')),
  status           TEXT    NOT NULL CHECK (status IN ('pending', 'active', 'offline', 'busy', 'deleted')),
  provisioned_by   TEXT    NOT NULL,
  runner_group_id  {int} NOT NULL,
  secret_sha256    {sha256},
  created_at       {int} NOT NULL,
  updated_at       {int} NOT NULL,
  last_seen_at     {int},
  deleted_at       {int}
);
CREATE UNIQUE INDEX runners_live_name ON runners (name) WHERE status <> 'deleted';
CREATE INDEX runners_owner ON runners (provisioned_by, status);
CREATE INDEX runners_github_id ON runners (github_runner_id);

CREATE TABLE label_policies (
  user_identity            TEXT    PRIMARY KEY,
  allowed_labels           TEXT    NOT NULL,
  label_patterns           TEXT    NOT NULL,
  required_labels          TEXT    NOT NULL,
  max_runners              INTEGER NOT NULL CHECK (max_runners >= 0),
  allow_registration_token {bool},
  runner_group_id          {int} NOT NULL,
  created_at               {int} NOT NULL,
  updated_at               {int} NOT NULL
);

CREATE TABLE audit_log (
  id               {id},
  at               {int} NOT NULL,
  actor            TEXT    NOT NULL,
  action           TEXT    NOT NULL,
  result           TEXT    NOT NULL CHECK (result IN ('success', 'denied', 'failure')),
  runner_name      TEXT,
  github_runner_id {int},
  details          TEXT    NOT NULL
);
CREATE INDEX audit_log_at ON audit_log (at);
CREATE INDEX audit_log_actor ON audit_log (actor, at);

CREATE TABLE security_events (
  id               {id},
  at               {int} NOT NULL,
  event_type       TEXT    NOT NULL,
  severity         TEXT    NOT NULL CHECK (severity IN ('low', 'medium', 'high', 'critical')),
  user_identity    TEXT,
  runner_name      TEXT,
  github_runner_id {int},
  action_taken     TEXT    NOT NULL,
  details          TEXT    NOT NULL
);
CREATE INDEX security_events_at ON security_events (at);
CREATE INDEX security_events_user ON security_events (user_identity, at);
CREATE INDEX security_events_type ON security_events (event_type, at);

CREATE TABLE unauthenticated_failures (
  bucket_start {int} NOT NULL,
  reason       TEXT    NOT NULL,
  count        {int} NOT NULL,
  PRIMARY KEY (bucket_start, reason)
);

CREATE TABLE baseline_groups (
  runner_group_id {int} PRIMARY KEY,
  recorded_at     {int} NOT NULL
);

CREATE TABLE preexisting_runners (
  github_runner_id {int} PRIMARY KEY,
  name             TEXT    NOT NULL,
  runner_group_id  {int} NOT NULL,
  recorded_at      {int} NOT NULL
);

CREATE TABLE leases (
  name        TEXT    PRIMARY KEY,
  holder      TEXT    NOT NULL,
  acquired_at {int} NOT NULL,
  expires_at  {int} NOT NULL,
  generation  {int} NOT NULL
);
`;

type Rule = (column: string) => string;

const TYPES: Record<"sqlite" | "postgres", Record<"id" | "int" | "bool" | "sha256", Rule>> = {
  sqlite: {
    id: () => "INTEGER PRIMARY KEY AUTOINCREMENT",
    int: () => "INTEGER",
    bool: (c) => `INTEGER NOT NULL CHECK (${c} IN (0, 1))`,
    sha256: (c) => `TEXT CHECK (${c} IS NULL OR (length(${c}) = 64 AND ${c} NOT GLOB '*[^0-9a-f]*'))`,
  },
  postgres: {
    id: () => "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY",
    int: () => "BIGINT",
    bool: () => "BOOLEAN NOT NULL",
    sha256: (c) => `TEXT CHECK (${c} ~ '^[0-9a-f]{64}$')`,
  },
};

/** `column  {type}` becomes the dialect's spelling; an unknown {type} is a bug, caught when the module loads. */
function render(dialect: "sqlite" | "postgres"): string {
  const out = template.replace(/(\w+)(\s+)\{(\w+)\}/g, (_, column: string, space: string, type: string) => {
    const rule = TYPES[dialect][type as keyof (typeof TYPES)["sqlite"]];
    if (!rule) throw new Error(`migration 1: unknown column type {${type}}`);
    return `${column}${space}${rule(column)}`;
  });
  if (/\{[a-z]+\}/.test(out)) throw new Error("migration 1: a {type} was left unexpanded");
  return out;
}

export const migration0001: Migration = { version: 1, name: "initial", sqlite: render("sqlite"), postgres: render("postgres") };
