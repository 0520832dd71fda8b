// The operator commands that act at GitHub: sync-github (one sync, under the sync lease so it
// never races a running replica) and cleanup-stale-runners [--dry-run].
import { unavailableError } from "../../core/errors.ts";
import type { Logger } from "../../core/logger.ts";
import { connectGitHub, openDatabase, replicaId } from "../broker.ts";
import type { BrokerConfig } from "../config.ts";
import { SYNC_LEASE } from "../sync.ts";
import type { Flags } from "./database.ts";

type Out = (text: string) => void;

export async function runSyncGithub(config: BrokerConfig, logger: Logger, out: Out): Promise<number> {
  const parts = await openDatabase(config);
  const holder = `cli-${replicaId()}`;
  try {
    const lease = await parts.storage.acquireLease(SYNC_LEASE, holder, 5 * 60_000);
    if (!lease) {
      const held = await parts.storage.getLease(SYNC_LEASE);
      throw unavailableError(`a running broker (${held?.holder ?? "another process"}) holds the sync lease and syncs every SYNC_INTERVAL: retry after ${held?.expiresAt.toISOString() ?? "a while"}, or stop it first`);
    }
    const { sync } = connectGitHub(config, parts, logger);
    const r = await sync.run();
    out(`synced runner groups [${r.groups.filter((g) => !r.failedGroups.some((f) => f.runnerGroupId === g)).join(", ")}]: ${r.seen} runners seen, ${r.statusChanges} status changes, ${r.deleted} marked deleted, ${r.removed.length} removed${r.removed.map((x) => `\n  removed ${x.name} (${x.reason})`).join("")}\n`);
    // A group that cannot be read fails alone; the others were synced.
    for (const f of r.failedGroups) out(`runner group ${f.org ? `${f.org}/` : ""}${f.runnerGroupId} failed: ${f.reason}\n`);
    await parts.storage.releaseLease(SYNC_LEASE, holder);
  } finally {
    await parts.storage.close();
  }
  return 0;
}

export async function runCleanup(config: BrokerConfig, flags: Flags, logger: Logger, out: Out): Promise<number> {
  const parts = await openDatabase(config);
  try {
    const { sync } = connectGitHub(config, parts, logger);
    const stale = await sync.cleanupStale(flags["dry-run"] === true);
    for (const s of stale) out(`${flags["dry-run"] ? "would remove" : "removed"} ${s.name} (${s.reason.replace("cleanup.", "")}, provisioned by ${s.provisionedBy})\n`);
    if (!stale.length) out("no stale runners\n");
  } finally {
    await parts.storage.close();
  }
  return 0;
}
