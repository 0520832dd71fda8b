// Migration 7: several organisations (issue 20). Runners and label policies name their
// organisation; the baseline and the sync's failing groups are kept per organisation, because
// runner group ids are not unique across organisations (the Default group is 1 in every one).
// Rows written before this migration have no organisation (NULL, or '' in the new tables): the
// broker assigns them the organisation it served then at start (Storage.assignOrg).
//
// Add only, never drop or rename (docs/runner-broker-storage.md): the previous release keeps
// serving on this schema during a rolling upgrade, so baseline_groups and sync_group_failures stay
// (unused by this release; a later one may drop them) and their per-organisation successors are new
// tables. Released with this broker: never edit this file; add 0008-….ts.
import type { Migration } from "./index.ts";

const template = (int: string) => `
ALTER TABLE runners ADD COLUMN org TEXT;
ALTER TABLE label_policies ADD COLUMN org TEXT;
ALTER TABLE preexisting_runners ADD COLUMN org TEXT;
CREATE INDEX runners_org ON runners (org, status);

CREATE TABLE baseline_groups_by_org (
  org             TEXT NOT NULL,
  runner_group_id ${int} NOT NULL,
  recorded_at     ${int} NOT NULL,
  PRIMARY KEY (org, runner_group_id)
);
INSERT INTO baseline_groups_by_org (org, runner_group_id, recorded_at) SELECT '', runner_group_id, recorded_at FROM baseline_groups;

CREATE TABLE sync_group_failures_by_org (
  org             TEXT NOT NULL,
  runner_group_id ${int} NOT NULL,
  code            TEXT NOT NULL,
  reason          TEXT NOT NULL,
  since           ${int} NOT NULL,
  PRIMARY KEY (org, runner_group_id)
);
`;

export const migration0007: Migration = { version: 7, name: "organisations", sqlite: template("INTEGER"), postgres: template("BIGINT") };
