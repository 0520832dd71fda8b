// What SQLite and PostgreSQL storage share beyond the statements (sql-ops.ts): transactions
// around every top-level call, the migration runner, and how a database's failure is reported.
// Each dialect supplies withTransaction (how to begin, commit, roll back and lock) and its name.
import { AsyncLocalStorage } from "node:async_hooks";
import { configError, GhappError, unavailableError } from "../../core/errors.ts";
import { redactString } from "../../core/redact.ts";
import { MIGRATIONS } from "./migrations/index.ts";
import { READ_METHODS, SqlOps, WRITE_METHODS, type SqlExecutor } from "./sql-ops.ts";
import type { MigrationResult, Storage, StorageOps, StorageOptions } from "./storage.ts";

/** A dialect's executor, plus running a script of several statements (migrations only). */
export interface ScriptExecutor extends SqlExecutor {
  script(sql: string): Promise<void>;
}

export const DEFAULT_LOCK_TIMEOUT_MS = 10_000;

// Declaration merging: the StorageOps methods are installed in the constructor, each wrapped in
// its own transaction (writes) or snapshot (reads).
export interface SqlStorage extends StorageOps {}

export abstract class SqlStorage implements Storage {
  abstract readonly kind: "sqlite" | "postgres";
  protected readonly now: () => Date;
  private readonly inTransaction = new AsyncLocalStorage<true>();

  constructor(options: StorageOptions = {}) {
    this.now = options.now ?? (() => new Date());
    const self = this as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>;
    for (const method of WRITE_METHODS) {
      self[method] = (...args) => this.run("write", (db) => (new SqlOps(db, this.now)[method] as (...a: unknown[]) => Promise<unknown>)(...args));
    }
    for (const method of READ_METHODS) {
      self[method] = (...args) => this.run("read", (db) => (new SqlOps(db, this.now)[method] as (...a: unknown[]) => Promise<unknown>)(...args));
    }
  }

  /**
   * Every call goes through here. A call on this Storage from inside one of its own transactions
   * would wait for that transaction forever (SQLite: the handle's queue; PostgreSQL: a lock the
   * transaction holds) or escape it silently: refused at once instead.
   */
  private run<T>(mode: "read" | "write", fn: (db: ScriptExecutor) => Promise<T>): Promise<T> {
    if (this.inTransaction.getStore()) {
      return Promise.reject(new TypeError("storage: called on the Storage inside its own transaction(); use the transaction's tx argument"));
    }
    return this.inTransaction.run(true, () => this.withTransaction(mode, fn));
  }

  /**
   * Runs `fn` in one database transaction on one connection: commit when it resolves, roll back
   * and re-throw when it throws. "write" transactions may change rows and take locks.
   */
  protected abstract withTransaction<T>(mode: "read" | "write", fn: (db: ScriptExecutor) => Promise<T>): Promise<T>;

  async ping(): Promise<void> {
    await this.run("read", (db) => db.all("SELECT 1 AS ok"));
  }

  abstract close(): Promise<void>;

  transaction<T>(fn: (tx: StorageOps) => Promise<T>): Promise<T> {
    return this.run("write", (db) => fn(new SqlOps(db, this.now)));
  }

  async migrate(): Promise<MigrationResult> {
    const applied: number[] = [];
    const known = Math.max(...MIGRATIONS.map((m) => m.version));
    // One migration per transaction; each re-reads what is applied under the lock, so processes
    // starting together apply every migration exactly once between them.
    for (;;) {
      const step = await this.run("write", async (db): Promise<{ applied: number | null; version: number }> => {
        await db.lock("schema_migrations");
        await db.script("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)");
        const done = new Set((await db.all("SELECT version FROM schema_migrations")).map((r) => Number(r.version)));
        const newest = Math.max(0, ...done);
        if (newest > known) {
          throw configError(`the database's schema is version ${newest}, newer than this broker knows (${known}): run a broker at least as new as the one that migrated it`);
        }
        const next = MIGRATIONS.find((m) => !done.has(m.version));
        if (!next) return { applied: null, version: newest };
        await db.script(next[this.kind]);
        await db.all("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?) RETURNING version", [next.version, next.name, this.now().getTime()]);
        return { applied: next.version, version: next.version };
      });
      if (step.applied === null) return { applied, version: step.version };
      applied.push(step.applied);
    }
  }
}

/**
 * A database's own failure as the project's error: `unavailable` when it cannot be reached or is
 * busy or out of space (try again later), `config` when it refuses the credentials, else a plain
 * Error (a statement the database refused is a bug here). The message names the database as
 * `where` (never with its password) and carries the database's own message, redacted.
 */
export function databaseError(where: string, error: unknown, kind: "unavailable" | "config" | "bug"): Error {
  if (error instanceof GhappError || error instanceof TypeError) return error;
  const text = redactString(error instanceof Error ? error.message : String(error)).slice(0, 300);
  if (kind === "config") return configError(`${where} refused the connection (${text}): check the user, password and database in DATABASE_URL`, { database: where });
  if (kind === "unavailable") return unavailableError(`database ${where} is unavailable: ${text}`, { database: where });
  return new Error(`storage: ${where} refused a statement: ${text}`);
}
