// SQLite through bun:sqlite: the embedded default, one file beside the broker.
//
// - WAL: readers never wait for the writer, and a crash loses no committed transaction
//   (synchronous=FULL: the audit log and quota must survive a power cut).
// - Writers are serialised by BEGIN IMMEDIATE, which takes the database's one write lock at the
//   start, so a reservation's count and insert cannot be overtaken by another process.
// - bun:sqlite is synchronous: SQLite's own busy wait would freeze the event loop (and deadlock
//   two handles in one process, the second waiting on a lock the first can only release after
//   the event loop runs). So the write lock is tried without waiting and retried asynchronously,
//   with jittered back-off, for up to lockTimeoutMs (10 s); busy_timeout stays set to it for the engine's
//   other rare waits (WAL recovery, checkpoints).
// - Transactions of one handle are queued in process, never interleaved on the connection.
import { Database, type SQLQueryBindings, type Statement } from "bun:sqlite";
import { chmodSync, existsSync, statSync } from "node:fs";
import { dirname } from "node:path";
import { configError, unavailableError } from "../../core/errors.ts";
import type { Row } from "./sql-ops.ts";
import { databaseError, DEFAULT_LOCK_TIMEOUT_MS, SqlStorage, type ScriptExecutor } from "./sql-storage.ts";
import type { StorageOptions } from "./storage.ts";

// Extended result codes whose primary code means "try again" or "cannot work here".
const BUSY = new Set([5 /* BUSY */, 6 /* LOCKED */]);
const UNAVAILABLE = new Set([5, 6, 7 /* NOMEM */, 8 /* READONLY */, 10 /* IOERR */, 11 /* CORRUPT */, 13 /* FULL */, 14 /* CANTOPEN */, 26 /* NOTADB */]);

const primaryCode = (error: unknown): number => (typeof (error as { errno?: unknown })?.errno === "number" ? (error as { errno: number }).errno & 0xff : -1);

export class SqliteStorage extends SqlStorage {
  readonly kind = "sqlite" as const;
  private readonly statements = new Map<string, Statement>();
  private queue: Promise<unknown> = Promise.resolve();
  private readonly busyTimeoutMs: number;
  private readonly executor: ScriptExecutor;
  private closed = false;

  private constructor(
    private readonly db: Database,
    private readonly display: string,
    options: StorageOptions,
  ) {
    super(options);
    this.busyTimeoutMs = options.lockTimeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS;
    this.executor = {
      all: async (sql, params = []) => this.guard(() => this.statement(sql).all(...(params as SQLQueryBindings[])) as Row[]),
      lock: async () => {},
      script: async (sql) => this.guard(() => void this.db.run(sql)),
    };
  }

  /** Opens (creating when missing) the SQLite file at `path`, or ":memory:". */
  static open(path: string, options: StorageOptions = {}): SqliteStorage {
    const display = `sqlite://${path}`;
    if (path !== ":memory:") {
      const folder = dirname(path);
      if (!existsSync(folder) || !statSync(folder).isDirectory()) {
        throw configError(`DATABASE_URL's SQLite folder ${folder} does not exist: create it (writable by the broker) or point DATABASE_URL at another path`);
      }
    }
    const created = path !== ":memory:" && !existsSync(path);
    let db: Database;
    try {
      db = new Database(path, { create: true, readwrite: true });
      db.run(`PRAGMA busy_timeout = ${options.lockTimeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS}`);
      db.run("PRAGMA journal_mode = WAL");
      db.run("PRAGMA synchronous = FULL");
      db.run("PRAGMA foreign_keys = ON");
    } catch (error) {
      const code = primaryCode(error);
      if (code === 14 || code === 8 || code === 26) {
        throw configError(`DATABASE_URL's SQLite file ${path} cannot be opened for writing (${code === 26 ? "it is not a SQLite database" : "permission denied or read-only"}): fix its permissions or point DATABASE_URL at another path`);
      }
      throw databaseError(display, error, "unavailable");
    }
    // The audit log names identities and runners: readable by the broker's user only. SQLite gives
    // the -wal and -shm files the main file's mode.
    if (created) chmodSync(path, 0o600);
    return new SqliteStorage(db, display, options);
  }

  private statement(sql: string): Statement {
    let statement = this.statements.get(sql);
    if (!statement) {
      statement = this.db.prepare(sql);
      this.statements.set(sql, statement);
    }
    return statement;
  }

  private guard<T>(fn: () => T): T {
    try {
      return fn();
    } catch (error) {
      throw databaseError(this.display, error, UNAVAILABLE.has(primaryCode(error)) ? "unavailable" : "bug");
    }
  }

  /** Runs `fn` after every earlier transaction of this handle has ended. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => {});
    return run;
  }

  private async beginImmediate(): Promise<void> {
    const deadline = Date.now() + this.busyTimeoutMs;
    for (let attempt = 0; ; attempt++) {
      this.db.run("PRAGMA busy_timeout = 0");
      try {
        this.db.run("BEGIN IMMEDIATE");
        return;
      } catch (error) {
        if (!BUSY.has(primaryCode(error))) throw databaseError(this.display, error, "unavailable");
        if (Date.now() >= deadline) throw unavailableError(`database ${this.display} is locked by another writer for more than ${this.busyTimeoutMs} ms`, { database: this.display });
      } finally {
        this.db.run(`PRAGMA busy_timeout = ${this.busyTimeoutMs}`);
      }
      await Bun.sleep(1 + Math.random() * Math.min(50, 2 ** attempt));
    }
  }

  protected withTransaction<T>(mode: "read" | "write", fn: (db: ScriptExecutor) => Promise<T>): Promise<T> {
    return this.serial(async () => {
      if (this.closed) throw unavailableError(`database ${this.display} is closed`);
      if (mode === "write") await this.beginImmediate();
      else this.guard(() => this.db.run("BEGIN DEFERRED"));
      try {
        const result = await fn(this.executor);
        this.guard(() => this.db.run("COMMIT"));
        return result;
      } catch (error) {
        if (this.db.inTransaction) this.db.run("ROLLBACK");
        throw error;
      }
    });
  }

  async close(): Promise<void> {
    await this.serial(async () => {
      if (this.closed) return;
      this.closed = true;
      for (const statement of this.statements.values()) statement.finalize();
      this.statements.clear();
      this.db.close();
    });
  }
}
