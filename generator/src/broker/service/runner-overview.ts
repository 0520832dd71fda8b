// Every caller's runners, for administrators (the dashboard's "All runners"): newest first, a page
// at a time, filtered by owner and status. Authorization is the caller's (an administrator's
// route); this only reads. Knows nothing of HTTP.
import type { RunnerRecord, RunnerStatus, Storage } from "../storage/storage.ts";

export interface RunnerPage {
  runners: RunnerRecord[];
  /** the next page's beforeId; absent on the last page */
  nextBeforeId?: number;
}

export class RunnerOverview {
  constructor(private readonly storage: Storage) {}

  async page(f: { owner?: string; status?: RunnerStatus; beforeId?: number; limit: number }): Promise<RunnerPage> {
    const rows = await this.storage.listRunners({ ...(f.owner ? { provisionedBy: f.owner } : {}), ...(f.status ? { status: f.status } : {}), ...(f.status === "deleted" ? { includeDeleted: true } : {}), ...(f.beforeId !== undefined ? { beforeId: f.beforeId } : {}), limit: f.limit + 1 });
    return rows.length > f.limit ? { runners: rows.slice(0, f.limit), nextBeforeId: rows[f.limit - 1]!.id } : { runners: rows };
  }
}
