// PostgreSQL: for production and several broker replicas sharing one database.
//
// - Transactions run at READ COMMITTED on one pooled connection. reserveRunner takes a
//   transaction-scoped advisory lock per identity (pg_advisory_xact_lock) before counting, so two
//   replicas reserving for one identity queue there and max_runners holds; a same-name race
//   between identities is settled by the partial unique index (ON CONFLICT DO NOTHING).
// - Reads outside a transaction are single statements on the pool (no BEGIN/COMMIT round trips).
// - The driver is Bun's built-in client (Bun.SQL), chosen over postgres.js by measurement
//   (docs/runner-broker-storage.md; tests/bench/storage-bench.ts); PgDriver keeps the choice in
//   one place, and the benchmark plugs postgres.js in through it.
// - Nothing here logs or reports the DATABASE_URL's password: messages name the masked URL and
//   the password is scrubbed from any text a driver error carries.
import { SQL } from "bun";
import type { Row, SqlValue } from "./sql-ops.ts";
import { databaseError, DEFAULT_LOCK_TIMEOUT_MS, SqlStorage, type ScriptExecutor } from "./sql-storage.ts";
import type { StorageOptions } from "./storage.ts";

/** One connection's statements, as a driver runs them ($1-numbered placeholders). */
export interface PgConnection {
  query(text: string, params: SqlValue[]): Promise<Row[]>;
  /** Several statements, no parameters (simple protocol). */
  script(text: string): Promise<void>;
}

export interface PgDriver {
  readonly name: string;
  /** Runs `fn` inside BEGIN … COMMIT on one connection (ROLLBACK when it throws). */
  begin<T>(fn: (connection: PgConnection) => Promise<T>): Promise<T>;
  /** Single statements on any pooled connection, outside a transaction. */
  readonly pool: PgConnection;
  close(): Promise<void>;
}

export interface PostgresOptions extends StorageOptions {
  /** Connections in this process's pool (default 10). */
  maxConnections?: number;
  /** Another driver (the benchmark's postgres.js); default Bun.SQL. */
  driver?: (url: string, maxConnections: number, settings: Record<string, string>) => PgDriver;
}

/**
 * Session settings every connection starts with: a wait for a lock, a statement, and a transaction
 * left open by a stalled replica are all bounded, so one stuck process cannot hold the quota lock
 * (and every provision of that identity) for ever.
 */
export function sessionSettings(lockTimeoutMs: number): Record<string, string> {
  return {
    application_name: "ghapp-runner-broker",
    lock_timeout: `${lockTimeoutMs}ms`,
    statement_timeout: `${Math.max(30_000, 3 * lockTimeoutMs)}ms`,
    idle_in_transaction_session_timeout: "60s",
  };
}

/**
 * Bun's built-in PostgreSQL client, with unnamed statements only (`prepare: false`). A named
 * prepared statement fixes its result's columns: once a migration adds a column to a table that
 * statements read with `*`, PostgreSQL refuses every later run of them on that connection ("cached
 * plan must not change result type", 0A000), so the replicas of the previous release would fail
 * requests throughout a rolling upgrade (tests/broker/rolling-upgrade.test.ts caught it). An
 * unnamed statement is planned at each run, in the same round trip; it also lets a pooler in
 * transaction mode sit in front.
 */
export function bunSqlDriver(url: string, maxConnections: number, settings: Record<string, string>): PgDriver {
  const sql = new SQL(url, { max: maxConnections, idleTimeout: 60, connectionTimeout: 10, bigint: false, prepare: false, connection: settings });
  const connection = (handle: SQL): PgConnection => ({
    query: async (text, params) => (await handle.unsafe(text, params)) as Row[],
    script: async (text) => void (await handle.unsafe(text).simple()),
  });
  return {
    name: "Bun.SQL",
    begin: (fn) => sql.begin((tx) => fn(connection(tx))) as Promise<never>,
    pool: connection(sql),
    close: () => sql.close({ timeout: 5 }),
  };
}

// `?` placeholders (sql-ops.ts) numbered for PostgreSQL, once per statement text.
const numbered = new Map<string, string>();
function numberPlaceholders(sql: string): string {
  let text = numbered.get(sql);
  if (text === undefined) {
    let n = 0;
    text = sql.replace(/\?/g, () => `$${++n}`);
    numbered.set(sql, text);
  }
  return text;
}

/** SQLSTATE of a driver error (Bun.SQL: errno; postgres.js: code), or undefined for connection-level failures. */
function sqlState(error: unknown): string | undefined {
  const e = error as { errno?: unknown; code?: unknown };
  for (const v of [e?.errno, e?.code]) if (typeof v === "string" && /^[0-9A-Z]{5}$/.test(v)) return v;
  return undefined;
}

function classify(state: string | undefined): "unavailable" | "config" | "bug" {
  if (state === undefined) return "unavailable"; // refused, reset, timed out, TLS: not the statement's fault
  if (state.startsWith("28") || state === "3D000") return "config"; // bad password / role, no such database
  // connection, resources, operator intervention, system, serialization/deadlock, lock timeout, read-only standby
  if (/^(08|53|57|58)/.test(state) || ["40001", "40P01", "55P03", "25006"].includes(state)) return "unavailable";
  return "bug";
}

const LOCK_NAMESPACE = 7_313; // the first key of every advisory lock the broker takes

export class PostgresStorage extends SqlStorage {
  readonly kind = "postgres" as const;
  private readonly driver: PgDriver;
  private readonly password: string;

  private constructor(
    url: string,
    private readonly display: string,
    options: PostgresOptions,
  ) {
    super(options);
    let password = "";
    try {
      password = decodeURIComponent(new URL(url).password);
    } catch {}
    this.password = password;
    this.driver = (options.driver ?? bunSqlDriver)(url, options.maxConnections ?? 10, sessionSettings(options.lockTimeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS));
  }

  /** `display` is the URL with its password masked (database-url.ts). Connects on first use. */
  static open(url: string, display: string, options: PostgresOptions = {}): PostgresStorage {
    return new PostgresStorage(url, display, options);
  }

  private fail(error: unknown): Error {
    const mapped = databaseError(this.display, error, classify(sqlState(error)));
    if (this.password.length >= 1 && mapped.message.includes(this.password)) mapped.message = mapped.message.split(this.password).join("***");
    return mapped;
  }

  private executor(connection: PgConnection): ScriptExecutor {
    return {
      all: async (sql, params = []) => {
        try {
          return await connection.query(numberPlaceholders(sql), params);
        } catch (error) {
          throw this.fail(error);
        }
      },
      lock: async (key) => {
        try {
          await connection.query("SELECT pg_advisory_xact_lock($1, hashtext($2))", [LOCK_NAMESPACE, key]);
        } catch (error) {
          throw this.fail(error);
        }
      },
      script: async (sql) => {
        try {
          await connection.script(sql);
        } catch (error) {
          throw this.fail(error);
        }
      },
    };
  }

  protected async withTransaction<T>(mode: "read" | "write", fn: (db: ScriptExecutor) => Promise<T>): Promise<T> {
    if (mode === "read") return fn(this.executor(this.driver.pool));
    // fn's own errors (and the already mapped ones of its statements) pass unchanged; anything
    // else came from BEGIN, COMMIT or taking a connection.
    let thrownByFn = false;
    try {
      return await this.driver.begin(async (connection) => {
        try {
          return await fn(this.executor(connection));
        } catch (error) {
          thrownByFn = true;
          throw error;
        }
      });
    } catch (error) {
      throw thrownByFn ? error : this.fail(error);
    }
  }

  async close(): Promise<void> {
    await this.driver.close();
  }
}
