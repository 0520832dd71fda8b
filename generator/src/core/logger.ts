// Logs: winston, one line per entry on stderr (stdout stays free for command output such as
// `ghapp-token installations`). JSON by default, one object per line, as log collectors in a pod
// expect; a readable text line for people (LOG_FORMAT=text, or auto at a terminal). Every line
// carries a correlation id, so the lines of one pod can be found among many; a redaction format
// masks anything secret-shaped as defence in depth, before either format sees the entry.
//
// Only the parts of winston and logform this logger uses are loaded. winston's package index
// also creates a default logger, a logger container and getters for every transport, which cost
// a mint several milliseconds it never uses (tests/bench/import-probes.ts measures both ways);
// the text format is loaded only when chosen. The pieces are winston's own: createLogger, the
// Stream transport, logform's format(), combine, timestamp and json.
//
// Loading and building them is most of a mint's logging cost (about 4 ms; npm run bench), and a
// mint logs its first line only once the token is written. So createLogger returns at once and
// builds the winston logger at the first turn of the event loop, which in a mint is while the
// token request is in flight (GitHub's answer takes tens of milliseconds; the simulator's, a
// few); the work overlaps the wait instead of adding to it. An entry logged before that builds
// it on the spot, so nothing is lost or reordered; an entry below the level is dropped without
// it, as winston would drop it.
import { randomUUID } from "node:crypto";
import type { Logger as WinstonLogger } from "winston";
import type { format as logformFormat } from "logform";
import { redact, redactString } from "./redact.ts";

export type LogLevel = "debug" | "info" | "warn" | "error";
/** `auto`: text when stderr is a terminal (a person is reading), JSON otherwise (a pod, a pipe). */
export type LogFormat = "json" | "text" | "auto";

/** winston's npm levels, which winston's createLogger uses by default: lower is more severe. */
const SEVERITY: Record<LogLevel, number> = { error: 0, warn: 1, info: 2, debug: 5 };

/** The logger every part of both executables gets: a message and structured fields per entry. */
export class Logger {
  #winston: WinstonLogger | undefined;
  readonly #build: () => WinstonLogger;

  constructor(
    readonly level: LogLevel,
    build: () => WinstonLogger,
  ) {
    this.#build = build;
    setImmediate(() => this.#get()).unref();
  }

  error(message: string, fields?: Record<string, unknown>): void {
    this.#log("error", message, fields);
  }
  warn(message: string, fields?: Record<string, unknown>): void {
    this.#log("warn", message, fields);
  }
  info(message: string, fields?: Record<string, unknown>): void {
    this.#log("info", message, fields);
  }
  debug(message: string, fields?: Record<string, unknown>): void {
    this.#log("debug", message, fields);
  }

  /** Waits until everything logged so far is written, so nothing is lost at process exit. */
  async flush(): Promise<void> {
    const winston = this.#winston;
    if (!winston) return; // nothing was logged yet: nothing to wait for
    await new Promise<void>((resolve) => {
      winston.on("finish", () => resolve());
      winston.end();
      setTimeout(resolve, 500).unref?.();
    });
  }

  #log(level: LogLevel, message: string, fields: Record<string, unknown> | undefined): void {
    if (SEVERITY[level] > SEVERITY[this.level]) return;
    if (fields) this.#get().log(level, message, fields);
    else this.#get().log(level, message);
  }

  #get(): WinstonLogger {
    return (this.#winston ??= this.#build());
  }
}

// winston and logform, required when the first logger is built (see above).
const winston = {
  createLogger: () => require("winston/lib/winston/create-logger.js") as typeof import("winston/lib/winston/create-logger.js").default,
  Stream: () => require("winston/lib/winston/transports/stream.js") as typeof import("winston/lib/winston/transports/stream.js").default,
  format: () => require("logform/format.js") as typeof logformFormat,
  combine: () => require("logform/combine.js") as typeof import("logform/combine.js").default,
  json: () => require("logform/json.js") as typeof import("logform/json.js").default,
  timestamp: () => require("logform/timestamp.js") as typeof import("logform/timestamp.js").default,
  printf: () => require("logform/printf.js") as typeof import("logform/printf.js").default,
};

const redactFormat = () =>
  winston.format()((info) => {
    const out = info as Record<string | symbol, unknown>;
    for (const key of Object.keys(out)) out[key] = key === "message" ? redactString(String(out[key])) : redact(out[key]);
    return info;
  })();

/**
 * The pod name identifies one run in Kubernetes (Argo names pods after the workflow node);
 * Argo also sets ARGO_NODE_ID in its containers. Outside a cluster a random id is used.
 */
export function correlationId(env: Record<string, string | undefined>): string {
  return env.ARGO_NODE_ID || env.POD_NAME || env.HOSTNAME || randomUUID();
}

export interface LoggerOutput {
  /** where lines go; stderr by default */
  stream?: NodeJS.WritableStream & { isTTY?: boolean };
  format?: LogFormat;
}

/** What `auto` means for a stream: text only at a terminal. */
export function resolveLogFormat(chosen: LogFormat, stream: { isTTY?: boolean }): "json" | "text" {
  if (chosen !== "auto") return chosen;
  return stream.isTTY === true ? "text" : "json";
}

export function createLogger(level: LogLevel, defaults: Record<string, unknown>, output: LoggerOutput = {}): Logger {
  return new Logger(level, () => {
    const stream = output.stream ?? process.stderr;
    const line = resolveLogFormat(output.format ?? "auto", stream) === "text" ? textLine() : winston.json()();
    return winston.createLogger()({
      level,
      defaultMeta: defaults,
      format: winston.combine()(winston.timestamp()(), redactFormat(), line),
      transports: [new (winston.Stream())({ stream })],
    });
  });
}

/**
 * The text format: `12:04:05.123Z INFO  token written  path=/var/run/github/token expires_at=…`.
 * Fields that identify a run to a log collector (correlation_id, version) are left out at a
 * terminal; values that are not plain words are JSON-quoted, so a line stays one line.
 */
function textLine() {
  // logform's printf, loaded only for people: a mint in a pod never pays for it.
  const printf = winston.printf();
  const hidden = new Set(["level", "message", "timestamp", "correlation_id", "version"]);
  const value = (v: unknown) => (typeof v === "string" && /^[\w./:@+-]+$/.test(v) ? v : JSON.stringify(v));
  return printf((info) => {
    const fields = Object.entries(info)
      .filter(([k]) => !hidden.has(k))
      .map(([k, v]) => `${k}=${value(v)}`);
    const time = String(info.timestamp ?? "").slice(11, 24);
    return `${time} ${String(info.level).toUpperCase().padEnd(5)} ${String(info.message)}${fields.length ? `  ${fields.join(" ")}` : ""}`;
  });
}
