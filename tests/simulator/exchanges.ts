// The simulator's exchange log: every answer it gives on GitHub's API, and every webhook delivery it
// sends, written as JSON lines when GHAPP_SIM_EXCHANGES_DIR names a folder. conformance.ts checks them
// against GitHub's OpenAPI descriptions. The simulator runs in the test process and as its own process
// (cli.ts, spawned by tests with the test's environment), so each simulator writes a file of its own
// and writes each line synchronously: a simulator killed by SIGTERM loses nothing.
//
// What is kept: method, API prefix ("" or /api/v3), path without prefix, query, request body, status,
// response body, and the fault the test injected, if any. Never request headers (they carry the App's
// JWT or a token); the secrets the simulator hands out (`token`, `encoded_jit_config`) are replaced by
// a string of the same type, so the schemas still see a string and the folder holds no credential.
import { appendFileSync, mkdirSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { randomBytes } from "node:crypto";

/** The environment variable that turns recording on: a folder, created when missing. */
export const EXCHANGES_DIR_ENV = "GHAPP_SIM_EXCHANGES_DIR";

/** One request to the simulated API and the simulator's answer. */
export interface ApiExchange {
  kind: "api";
  method: string;
  /** "" for api.github.com, "/api/v3" for GitHub Enterprise Server */
  prefix: string;
  path: string;
  query: Record<string, string[]>;
  requestBody: unknown;
  status: number;
  /** the parsed JSON answer; undefined when the answer was empty, a string when it was not JSON */
  responseBody: unknown;
  contentType: string | null;
  /** set when the test injected this answer (a 5xx, a rate limit, a dropped connection) */
  fault?: string;
}

/** A webhook delivery the simulator sends: X-GitHub-Event and the JSON payload. */
export interface DeliveryExchange {
  kind: "delivery";
  event: string;
  payload: unknown;
}

export type Exchange = ApiExchange | DeliveryExchange;

const SECRET_FIELDS = new Set(["token", "encoded_jit_config"]);

/** The value with every secret the simulator hands out replaced by a placeholder string. */
export function redactSecrets(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(redactSecrets);
  if (value && typeof value === "object") {
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [k, SECRET_FIELDS.has(k) && typeof v === "string" ? `[redacted ${k}]` : redactSecrets(v)]),
    );
  }
  return value;
}

export interface ExchangeRecorder {
  record(exchange: Exchange): void;
}

/** A recorder writing into env[GHAPP_SIM_EXCHANGES_DIR], or undefined when recording is off. */
export function exchangeRecorder(env: Record<string, string | undefined> = process.env): ExchangeRecorder | undefined {
  const dir = env[EXCHANGES_DIR_ENV];
  if (!dir) return undefined;
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${process.pid}-${Date.now()}-${randomBytes(4).toString("hex")}.jsonl`);
  return {
    record(exchange) {
      const safe = exchange.kind === "api" ? { ...exchange, responseBody: redactSecrets(exchange.responseBody), requestBody: redactSecrets(exchange.requestBody) } : exchange;
      appendFileSync(file, JSON.stringify(safe) + "\n");
    },
  };
}

/** Every exchange recorded in a folder, file by file in name order. */
export function readExchanges(dir: string): Exchange[] {
  let files: string[];
  try {
    files = readdirSync(dir).filter((f) => f.endsWith(".jsonl")).sort();
  } catch {
    return [];
  }
  const out: Exchange[] = [];
  for (const f of files) {
    // Each line was written by one synchronous append, so a line that does not parse means the log was
    // damaged: say so rather than check less than was recorded.
    readFileSync(join(dir, f), "utf8")
      .split("\n")
      .forEach((line, i) => {
        if (!line) return;
        try {
          out.push(JSON.parse(line) as Exchange);
        } catch {
          throw new Error(`${join(dir, f)}:${i + 1} is not a JSON exchange; the exchange log is damaged`);
        }
      });
  }
  return out;
}
