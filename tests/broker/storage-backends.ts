// The two databases the storage suite runs against, behind one shape: a fresh, empty database
// per test, more handles on it (separate connections/pools, as replicas or other processes have),
// raw SQL beside the Storage (to plant what the interface refuses to write), and the database's
// whole content as text (to search it for secrets).
import { Database } from "bun:sqlite";
import { SQL } from "bun";
import { mkdtempSync, readFileSync, existsSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openStorage } from "../../generator/src/broker/storage/open.ts";
import type { Storage, StorageOptions } from "../../generator/src/broker/storage/storage.ts";
import { startPostgres, type PostgresServer } from "../helpers/postgres.ts";

export interface TestDatabase {
  url: string;
  /** Another handle on the same database (own connection or pool), migrated by nobody. */
  open(options?: StorageOptions): Storage;
  /** One statement of raw SQL (placeholders: ? for SQLite, $1 for PostgreSQL). */
  raw(sql: string, params?: (string | number | boolean | null)[]): Promise<Record<string, unknown>[]>;
  /** Everything the database holds, as text: the SQLite file with its WAL, or a pg_dump. */
  contents(): Promise<string>;
  /**
   * Another process's transaction holding what a reservation for `identity` needs (SQLite: the
   * write lock; PostgreSQL: the identity's advisory lock) until the returned function is called.
   */
  holdQuotaLock(identity: string): Promise<() => Promise<void>>;
}

export interface Backend {
  name: "sqlite" | "postgres";
  setUp(): Promise<void>;
  tearDown(): Promise<void>;
  fresh(): Promise<TestDatabase>;
}

export function sqliteBackend(): Backend {
  let dir = "";
  let n = 0;
  const handles: Database[] = [];
  return {
    name: "sqlite",
    async setUp() {
      dir = mkdtempSync(join(tmpdir(), "broker-storage-"));
    },
    async tearDown() {
      for (const h of handles) h.close();
      rmSync(dir, { recursive: true, force: true });
    },
    async fresh() {
      const path = join(dir, `db${++n}.sqlite`);
      const url = `sqlite://${path}`;
      return {
        url,
        open: (options) => openStorage(url, options),
        async raw(sql, params = []) {
          const db = new Database(path);
          handles.push(db);
          return db.query(sql).all(...params) as Record<string, unknown>[];
        },
        async contents() {
          return [path, `${path}-wal`].filter(existsSync).map((p) => readFileSync(p).toString("latin1")).join("\n");
        },
        async holdQuotaLock() {
          const holder = new Database(path);
          holder.run("BEGIN IMMEDIATE");
          return async () => {
            holder.run("ROLLBACK");
            holder.close();
          };
        },
      };
    },
  };
}

export function postgresBackend(): Backend {
  let server: PostgresServer | undefined;
  const clients: SQL[] = [];
  return {
    name: "postgres",
    async setUp() {
      server = await startPostgres({ fsync: false });
    },
    async tearDown() {
      await Promise.all(clients.map((c) => c.close()));
      await server?.stop();
    },
    async fresh() {
      const url = await server!.createDatabase();
      const client = new SQL(url, { max: 2 });
      clients.push(client);
      return {
        url,
        open: (options) => openStorage(url, options),
        raw: async (sql, params = []) => (await client.unsafe(sql, params)) as Record<string, unknown>[],
        contents: () => server!.dump(url),
        async holdQuotaLock(identity) {
          const connection = await client.reserve();
          await connection.unsafe("BEGIN");
          await connection.unsafe("SELECT pg_advisory_xact_lock(7313, hashtext($1))", [`quota:${identity}`]);
          return async () => {
            await connection.unsafe("ROLLBACK");
            connection.release();
          };
        },
      };
    },
  };
}

export const BACKENDS = [sqliteBackend(), postgresBackend()];
