// DATABASE_URL, parsed: which database, where, and how to name it in messages without the
// password. `sqlite://` is followed by the file's path, so `sqlite:///var/lib/runner-broker/broker.db`
// is absolute and `sqlite://data/broker.db` is relative to the working folder; `postgres://` and
// `postgresql://` are libpq-style URLs (user, password, host, port, database, ?sslmode=...).
import { isAbsolute, resolve } from "node:path";
import { configError } from "../../core/errors.ts";

export type DatabaseTarget =
  | { kind: "sqlite"; path: string; /** for messages */ display: string }
  | { kind: "postgres"; url: string; /** the URL with the password masked, for messages and logs */ display: string };

const EXAMPLES = "write sqlite:///var/lib/runner-broker/broker.db (a SQLite file) or postgres://USER:PASSWORD@HOST:5432/DATABASE";
const MAX_LENGTH = 4096;

/** Parses DATABASE_URL; a bad value is a configuration error (exit 2) that names the variable and the fix, never the password. */
export function parseDatabaseUrl(value: string, cwd: string = process.cwd()): DatabaseTarget {
  const text = value.trim();
  if (text === "") throw configError(`DATABASE_URL is empty: ${EXAMPLES}`);
  if (text.length > MAX_LENGTH) throw configError(`DATABASE_URL is longer than ${MAX_LENGTH} characters: ${EXAMPLES}`);
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]{0,19}):/.exec(text)?.[1]?.toLowerCase();
  if (scheme === "sqlite") return sqliteTarget(text, cwd);
  if (scheme === "postgres" || scheme === "postgresql") return postgresTarget(text);
  const named = scheme === undefined ? "has no scheme" : `has the scheme "${scheme}:", which the broker does not support`;
  throw configError(`DATABASE_URL ${named}: ${EXAMPLES}`);
}

function sqliteTarget(text: string, cwd: string): DatabaseTarget {
  if (!text.toLowerCase().startsWith("sqlite://")) throw configError(`DATABASE_URL must start with sqlite:// followed by the file's path: ${EXAMPLES}`);
  const rest = text.slice("sqlite://".length);
  if (rest === ":memory:") return { kind: "sqlite", path: ":memory:", display: "sqlite://:memory:" };
  if (rest === "" || rest === "/") throw configError("DATABASE_URL sqlite:// names no file: write sqlite:///var/lib/runner-broker/broker.db (absolute) or sqlite://broker.db (relative)");
  if (/[?#]/.test(rest) || rest.includes("\0")) throw configError("DATABASE_URL's SQLite path holds ? or #: the broker takes no options in a sqlite:// URL; write the plain path");
  let path: string;
  try {
    path = decodeURIComponent(rest);
  } catch {
    throw configError("DATABASE_URL's SQLite path has a bad %-escape: write the path as it is");
  }
  path = isAbsolute(path) ? path : resolve(cwd, path);
  if (path.endsWith("/")) throw configError("DATABASE_URL's SQLite path names a folder: add the file's name, e.g. sqlite:///var/lib/runner-broker/broker.db");
  return { kind: "sqlite", path, display: `sqlite://${path}` };
}

function postgresTarget(text: string): DatabaseTarget {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw configError("DATABASE_URL is not a valid postgres:// URL (a password with @, :, / or # must be %-encoded): write postgres://USER:PASSWORD@HOST:5432/DATABASE");
  }
  if (url.hostname === "" && !url.searchParams.has("host")) throw configError("DATABASE_URL names no host: write postgres://USER:PASSWORD@HOST:5432/DATABASE");
  if (url.port !== "" && (Number(url.port) < 1 || Number(url.port) > 65535)) throw configError("DATABASE_URL's port must be 1 to 65535");
  return { kind: "postgres", url: text, display: maskPassword(url) };
}

/** postgres://user:***@host:port/db?…, for messages and logs; also drops a password given as ?password=. */
export function maskPassword(url: URL): string {
  const copy = new URL(url.href);
  if (copy.password !== "") copy.password = "***";
  if (copy.searchParams.has("password")) copy.searchParams.set("password", "***");
  return copy.href;
}
