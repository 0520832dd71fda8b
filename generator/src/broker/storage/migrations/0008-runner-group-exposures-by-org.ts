// Migration 8: runner group isolation per organisation (issue 20). The exposures the sync found are
// kept per organisation, because runner group ids are not unique across organisations: two
// organisations' group 2 would overwrite each other in runner_group_exposures (keyed by group id).
// Rows recorded before this migration have no organisation (''): the broker assigns them the
// organisation it served then at start (Storage.assignOrg), as migration 7 did.
//
// Add only, never drop or rename (docs/runner-broker-storage.md): the previous release keeps
// serving on this schema during a rolling upgrade and keeps writing runner_group_exposures (unused
// by this release; a later one may drop it). Released with this broker: never edit this file.
import type { Migration } from "./index.ts";

const template = (int: string) => `
CREATE TABLE runner_group_exposures_by_org (
  org             TEXT NOT NULL,
  runner_group_id ${int} NOT NULL,
  reasons         TEXT NOT NULL,
  since           ${int} NOT NULL,
  PRIMARY KEY (org, runner_group_id)
);
INSERT INTO runner_group_exposures_by_org (org, runner_group_id, reasons, since) SELECT '', runner_group_id, reasons, since FROM runner_group_exposures;
`;

export const migration0008: Migration = { version: 8, name: "runner group exposures by organisation", sqlite: template("INTEGER"), postgres: template("BIGINT") };
