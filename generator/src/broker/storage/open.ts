// openStorage(DATABASE_URL): the one way the broker (service and CLI) gets its Storage.
import { parseDatabaseUrl } from "./database-url.ts";
import { PostgresStorage } from "./postgres.ts";
import { SqliteStorage } from "./sqlite.ts";
import type { Storage, StorageOptions } from "./storage.ts";

/**
 * Opens the database DATABASE_URL names: `sqlite://PATH` (created when missing; its folder must
 * exist) or `postgres://…` (connections open lazily, on first use). A bad URL throws a
 * configuration error (exit 2) naming DATABASE_URL and the fix. Call `migrate()` before use.
 */
export function openStorage(databaseUrl: string, options: StorageOptions = {}): Storage {
  const target = parseDatabaseUrl(databaseUrl);
  if (target.kind === "sqlite") return SqliteStorage.open(target.path, options);
  return PostgresStorage.open(target.url, target.display, options);
}
