// Migration 3: the runner groups the sync could not read in its last round, as the syncing replica
// recorded them, so that every replica's /ready can say which group fails and why (issue 17), not
// only the one holding the sync lease. Released with this broker: never edit this file; add 0004-….ts.
import type { Migration } from "./index.ts";

const template = (int: string) => `
CREATE TABLE sync_group_failures (
  runner_group_id ${int} PRIMARY KEY,
  code            TEXT NOT NULL,
  reason          TEXT NOT NULL,
  since           ${int} NOT NULL
);
`;

export const migration0003: Migration = { version: 3, name: "sync group failures", sqlite: template("INTEGER"), postgres: template("BIGINT") };
