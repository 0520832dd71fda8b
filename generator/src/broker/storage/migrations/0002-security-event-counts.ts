// Migration 2: refusals of one identity are coalesced into one security event per identity, event
// type and minute, with a count (issue 17: a caller whose identities cost nothing must not flood the
// table). Released with this broker: never edit this file; add 0003-….ts instead.
//
// - count: how many times the event happened (1 for every event recorded before this migration);
// - last_at: when it last happened (NULL while it happened once);
// - coalesce_minute: the minute (ms since the epoch) a coalesced refusal belongs to, NULL for events
//   that are never coalesced (what the sync did to a runner); the partial unique index makes
//   concurrent replicas add to one row (INSERT … ON CONFLICT … DO UPDATE) instead of racing.
import type { Migration } from "./index.ts";

const template = (int: string) => `
ALTER TABLE security_events ADD COLUMN count ${int} NOT NULL DEFAULT 1;
ALTER TABLE security_events ADD COLUMN last_at ${int};
ALTER TABLE security_events ADD COLUMN coalesce_minute ${int};
CREATE UNIQUE INDEX security_events_coalesced ON security_events (user_identity, event_type, coalesce_minute) WHERE coalesce_minute IS NOT NULL;
`;

export const migration0002: Migration = { version: 2, name: "security event counts", sqlite: template("INTEGER"), postgres: template("BIGINT") };
