// Group commit for audit records written on a hot path (every token hand-out, cached or not).
// Each caller waits until its record is committed, so nothing is handed out unaudited; records
// that arrive while one batch is being written go together into the next, one transaction each.
// SQLite with synchronous=FULL pays one fsync per transaction: a thousand hand-outs a second
// become a few dozen transactions, not a thousand.
import type { AuditEntry, SecurityEventEntry, Storage } from "../storage/storage.ts";

export const MAX_BATCH = 500;

interface Item {
  audit: AuditEntry;
  event?: SecurityEventEntry;
  done: (e?: unknown) => void;
}

export class AuditWriter {
  private queue: Item[] = [];
  private writing: Promise<void> | undefined;

  constructor(private readonly storage: Storage) {}

  /** Resolves once the record (and its security event, in the same transaction) is committed. */
  append(audit: AuditEntry, event?: SecurityEventEntry): Promise<void> {
    const { promise, resolve, reject } = Promise.withResolvers<void>();
    this.queue.push({ audit, ...(event ? { event } : {}), done: (e) => (e === undefined ? resolve() : reject(e)) });
    this.writing ??= this.drain();
    return promise;
  }

  private async drain(): Promise<void> {
    for (;;) {
      await this.write().catch(() => undefined);
      // The check and the reset in one synchronous step: an append before it is written by this
      // drain, one after it starts a new one. (A reset in a later microtask would strand a record
      // appended by a caller resumed in between.)
      if (this.queue.length === 0) {
        this.writing = undefined;
        return;
      }
    }
  }

  private async write(): Promise<void> {
    while (this.queue.length) {
      // Let the requests of this turn of the event loop join the batch: a commit blocks the event
      // loop for its fsync (bun:sqlite is synchronous), so fewer, larger batches leave it free longer.
      await new Promise((r) => setImmediate(r));
      const batch = this.queue.splice(0, MAX_BATCH);
      try {
        await this.storage.transaction(async (tx) => {
          for (const item of batch) {
            await tx.appendAudit(item.audit);
            if (item.event) await tx.recordSecurityEvent(item.event);
          }
        });
        for (const item of batch) item.done();
      } catch (e) {
        // One bad record (a bug) must not lose the others: write them one by one.
        if (batch.length === 1) batch[0]!.done(e ?? new Error("audit write failed"));
        else for (const item of batch) await this.one(item);
      }
    }
  }

  private async one(item: Item): Promise<void> {
    try {
      await this.storage.transaction(async (tx) => {
        await tx.appendAudit(item.audit);
        if (item.event) await tx.recordSecurityEvent(item.event);
      });
      item.done();
    } catch (e) {
      item.done(e ?? new Error("audit write failed"));
    }
  }
}
