// Migration 6 (issue 20, runner groups that isolate tenants): a policy may name the repositories
// and workflows its runners serve (JSON arrays, empty when it names none), and the runner groups
// the sync found exposed (visible to every repository or to public ones, or not restricted to the
// policy's workflows) are recorded by the syncing replica, so that every replica's /ready says so
// and a security event is written once per change, not once per round. Never edit after release.
import type { Migration } from "./index.ts";

const template = (int: string) => `
ALTER TABLE label_policies ADD COLUMN repositories TEXT NOT NULL DEFAULT '[]';
ALTER TABLE label_policies ADD COLUMN workflows TEXT NOT NULL DEFAULT '[]';
CREATE TABLE runner_group_exposures (
  runner_group_id ${int} PRIMARY KEY,
  reasons         TEXT NOT NULL,
  since           ${int} NOT NULL
);
`;

export const migration0006: Migration = { version: 6, name: "runner group isolation", sqlite: template("INTEGER"), postgres: template("BIGINT") };
