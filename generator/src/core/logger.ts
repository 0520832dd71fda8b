// Logs: winston, JSON, one object per line on stderr (stdout stays free for command output such
// as `ghapp-token installations`). Every line carries a correlation id, so the lines of one pod
// can be found among many; a redaction format masks anything secret-shaped as defence in depth.
import { randomUUID } from "node:crypto";
import winston from "winston";
import { redact, redactString } from "./redact.ts";

export type Logger = winston.Logger;
export type LogLevel = "debug" | "info" | "warn" | "error";

const redactFormat = winston.format((info) => {
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

export function createLogger(level: LogLevel, defaults: Record<string, unknown>, stream?: NodeJS.WritableStream): Logger {
  const transport = stream
    ? new winston.transports.Stream({ stream })
    : new winston.transports.Console({ stderrLevels: ["error", "warn", "info", "debug"] });
  return winston.createLogger({
    level,
    defaultMeta: defaults,
    format: winston.format.combine(winston.format.timestamp(), redactFormat(), winston.format.json()),
    transports: [transport],
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
