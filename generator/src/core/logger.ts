// Logs: winston, one line per entry on stderr (stdout stays free for command output such as
// `ghapp-token installations`). JSON by default, one object per line, as log collectors in a pod
// expect; a readable text line for people (LOG_FORMAT=text, or auto at a terminal). Every line
// carries a correlation id, so the lines of one pod can be found among many; a redaction format
// masks anything secret-shaped as defence in depth, before either format sees the entry.
//
// Only the parts of winston and logform this logger uses are imported. winston's package index
// also creates a default logger, a logger container and getters for every transport, which cost
// a mint several milliseconds it never uses (tests/bench/import-probes.ts measures both ways);
// the text format is loaded only when chosen. The pieces are winston's own: createLogger, the
// Stream transport, logform's format(), combine, timestamp and json.
import { randomUUID } from "node:crypto";
import type { Logger as WinstonLogger } from "winston";
import createWinstonLogger from "winston/lib/winston/create-logger.js";
import StreamTransport from "winston/lib/winston/transports/stream.js";
import combine from "logform/combine.js";
import format from "logform/format.js";
import json from "logform/json.js";
import timestamp from "logform/timestamp.js";
import { redact, redactString } from "./redact.ts";

export type Logger = WinstonLogger;
export type LogLevel = "debug" | "info" | "warn" | "error";
/** `auto`: text when stderr is a terminal (a person is reading), JSON otherwise (a pod, a pipe). */
export type LogFormat = "json" | "text" | "auto";

const redactFormat = format((info) => {
  const out = info as Record<string | symbol, unknown>;
  for (const key of Object.keys(out)) out[key] = key === "message" ? redactString(String(out[key])) : redact(out[key]);
  return info;
});

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
  const stream = output.stream ?? process.stderr;
  const line = resolveLogFormat(output.format ?? "auto", stream) === "text" ? textLine() : json();
  return createWinstonLogger({
    level,
    defaultMeta: defaults,
    format: combine(timestamp(), redactFormat(), line),
    transports: [new StreamTransport({ stream })],
  });
}

/** Waits until everything logged so far is written, so nothing is lost at process exit. */
export async function flushLogger(logger: Logger): Promise<void> {
  await new Promise<void>((resolve) => {
    logger.on("finish", () => resolve());
    logger.end();
    setTimeout(resolve, 500).unref?.();
  });
}

/**
 * The text format: `12:04:05.123Z INFO  token written  path=/var/run/github/token expires_at=…`.
 * Fields that identify a run to a log collector (correlation_id, version) are left out at a
 * terminal; values that are not plain words are JSON-quoted, so a line stays one line.
 */
function textLine() {
  // logform's printf, loaded only for people: a mint in a pod never pays for it.
  const printf = require("logform/printf.js") as typeof import("logform/printf.js").default;
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
