// Migration 1: the broker's first schema. Released: never edit this file; add 0002-….ts instead.
//
// Both dialects keep the same tables, columns and meanings, so one row mapper serves both:
// times are BIGINT milliseconds since the epoch (UTC; the broker's injectable clock writes them),
// lists and details are JSON text. No column can hold a secret: secret_sha256 accepts only 64
// lowercase hex characters (the SHA-256 of a JIT config or registration token).
import type { Migration } from "./index.ts";

const sqlite = `
CREATE TABLE runners (
  id               INTEGER PRIMARY KEY AUTOINCREMENT,
  name             TEXT    NOT NULL CHECK (length(name) BETWEEN 1 AND 64),
  github_runner_id INTEGER,
  labels           TEXT    NOT NULL,
  ephemeral        INTEGER NOT NULL CHECK (ephemeral IN (0, 1)),
  mode             TEXT    NOT NULL CHECK (mode IN ('jit', 'registration_token')),
  status           TEXT    NOT NULL CHECK (status IN ('pending', 'active', 'offline', 'busy', 'deleted')),
  provisioned_by   TEXT    NOT NULL,
  runner_group_id  INTEGER NOT NULL,
  secret_sha256    TEXT    CHECK (secret_sha256 IS NULL OR (length(secret_sha256) = 64 AND secret_sha256 NOT GLOB '*[^0-9a-f]*')),
  created_at       INTEGER NOT NULL,
  updated_at       INTEGER NOT NULL,
  last_seen_at     INTEGER,
  deleted_at       INTEGER
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
  allow_registration_token INTEGER NOT NULL CHECK (allow_registration_token IN (0, 1)),
  runner_group_id          INTEGER NOT NULL,
  created_at               INTEGER NOT NULL,
  updated_at               INTEGER NOT NULL
);

CREATE TABLE audit_log (
  id               INTEGER PRIMARY KEY AUTOINCREMENT,
  at               INTEGER NOT NULL,
  actor            TEXT    NOT NULL,
  action           TEXT    NOT NULL,
  result           TEXT    NOT NULL CHECK (result IN ('success', 'denied', 'failure')),
  runner_name      TEXT,
  github_runner_id INTEGER,
  details          TEXT    NOT NULL
);
CREATE INDEX audit_log_at ON audit_log (at);
CREATE INDEX audit_log_actor ON audit_log (actor, at);

CREATE TABLE security_events (
  id               INTEGER PRIMARY KEY AUTOINCREMENT,
  at               INTEGER NOT NULL,
  event_type       TEXT    NOT NULL,
  severity         TEXT    NOT NULL CHECK (severity IN ('low', 'medium', 'high', 'critical')),
  user_identity    TEXT,
  runner_name      TEXT,
  github_runner_id INTEGER,
  action_taken     TEXT    NOT NULL,
  details          TEXT    NOT NULL
);
CREATE INDEX security_events_at ON security_events (at);
CREATE INDEX security_events_user ON security_events (user_identity, at);
CREATE INDEX security_events_type ON security_events (event_type, at);

CREATE TABLE unauthenticated_failures (
  bucket_start INTEGER NOT NULL,
  reason       TEXT    NOT NULL,
  count        INTEGER NOT NULL,
  PRIMARY KEY (bucket_start, reason)
);

CREATE TABLE baseline_groups (
  runner_group_id INTEGER PRIMARY KEY,
  recorded_at     INTEGER NOT NULL
);

CREATE TABLE preexisting_runners (
  github_runner_id INTEGER PRIMARY KEY,
  name             TEXT    NOT NULL,
  runner_group_id  INTEGER NOT NULL,
  recorded_at      INTEGER NOT NULL
);

CREATE TABLE leases (
  name        TEXT    PRIMARY KEY,
  holder      TEXT    NOT NULL,
  acquired_at INTEGER NOT NULL,
  expires_at  INTEGER NOT NULL,
  generation  INTEGER NOT NULL
);
`;

const postgres = `
CREATE TABLE runners (
  id               BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  name             TEXT    NOT NULL CHECK (length(name) BETWEEN 1 AND 64),
  github_runner_id BIGINT,
  labels           TEXT    NOT NULL,
  ephemeral        BOOLEAN NOT NULL,
  mode             TEXT    NOT NULL CHECK (mode IN ('jit', 'registration_token')),
  status           TEXT    NOT NULL CHECK (status IN ('pending', 'active', 'offline', 'busy', 'deleted')),
  provisioned_by   TEXT    NOT NULL,
  runner_group_id  BIGINT  NOT NULL,
  secret_sha256    TEXT    CHECK (secret_sha256 ~ '^[0-9a-f]{64}$'),
  created_at       BIGINT  NOT NULL,
  updated_at       BIGINT  NOT NULL,
  last_seen_at     BIGINT,
  deleted_at       BIGINT
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
  allow_registration_token BOOLEAN NOT NULL,
  runner_group_id          BIGINT  NOT NULL,
  created_at               BIGINT  NOT NULL,
  updated_at               BIGINT  NOT NULL
);

CREATE TABLE audit_log (
  id               BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  at               BIGINT NOT NULL,
  actor            TEXT   NOT NULL,
  action           TEXT   NOT NULL,
  result           TEXT   NOT NULL CHECK (result IN ('success', 'denied', 'failure')),
  runner_name      TEXT,
  github_runner_id BIGINT,
  details          TEXT   NOT NULL
);
CREATE INDEX audit_log_at ON audit_log (at);
CREATE INDEX audit_log_actor ON audit_log (actor, at);

CREATE TABLE security_events (
  id               BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  at               BIGINT NOT NULL,
  event_type       TEXT   NOT NULL,
  severity         TEXT   NOT NULL CHECK (severity IN ('low', 'medium', 'high', 'critical')),
  user_identity    TEXT,
  runner_name      TEXT,
  github_runner_id BIGINT,
  action_taken     TEXT   NOT NULL,
  details          TEXT   NOT NULL
);
CREATE INDEX security_events_at ON security_events (at);
CREATE INDEX security_events_user ON security_events (user_identity, at);
CREATE INDEX security_events_type ON security_events (event_type, at);

CREATE TABLE unauthenticated_failures (
  bucket_start BIGINT NOT NULL,
  reason       TEXT   NOT NULL,
  count        BIGINT NOT NULL,
  PRIMARY KEY (bucket_start, reason)
);

CREATE TABLE baseline_groups (
  runner_group_id BIGINT PRIMARY KEY,
  recorded_at     BIGINT NOT NULL
);

CREATE TABLE preexisting_runners (
  github_runner_id BIGINT PRIMARY KEY,
  name             TEXT   NOT NULL,
  runner_group_id  BIGINT NOT NULL,
  recorded_at      BIGINT NOT NULL
);

CREATE TABLE leases (
  name        TEXT   PRIMARY KEY,
  holder      TEXT   NOT NULL,
  acquired_at BIGINT NOT NULL,
  expires_at  BIGINT NOT NULL,
  generation  BIGINT NOT NULL
);
`;

export const migration0001: Migration = { version: 1, name: "initial", sqlite, postgres };
