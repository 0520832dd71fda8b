// RFC 9457 problem details, built in one place from the broker's typed errors: every error
// answer is application/problem+json with type, title, status and detail. An unexpected
// exception becomes a 500 whose detail says nothing of its text (that goes to the log only).
import { HTTPException } from "hono/http-exception";
import { z } from "@hono/zod-openapi";
import { BROKER_ERRORS, BrokerError, type BrokerErrorCode } from "../errors.ts";
import { ExitCode, GhappError } from "../../core/errors.ts";

/** Problem types are URNs (RFC 9457 allows any URI); docs/runner-broker.md lists each code. */
export const PROBLEM_TYPE_BASE = "urn:ghapp-runner-broker:problem";

export const ProblemSchema = z
  .object({
    type: z.string().openapi({ example: `${PROBLEM_TYPE_BASE}:policy_denied` }),
    title: z.string().openapi({ example: "Refused by policy" }),
    status: z.number().int().openapi({ example: 403 }),
    detail: z.string().openapi({ example: "labels not allowed by this identity's policy: gpu" }),
  })
  .catchall(z.unknown())
  .openapi("Problem");

export const problemContent = { "application/problem+json": { schema: ProblemSchema } };
export const problemResponse = (description: string) => ({ description, content: problemContent });

export interface ProblemAnswer {
  status: number;
  headers: Record<string, string>;
  body: Record<string, unknown>;
}

export function problemFor(code: BrokerErrorCode, detail: string, extra: { retryAfterSeconds?: number; extensions?: Record<string, unknown> } = {}): ProblemAnswer {
  const { status, title } = BROKER_ERRORS[code];
  const headers: Record<string, string> = { "content-type": "application/problem+json", "cache-control": "no-store" };
  if (code === "unauthenticated") headers["www-authenticate"] = 'Bearer error="invalid_token"';
  const retry = extra.retryAfterSeconds ?? (status === 503 ? 30 : status === 502 || status === 429 ? 60 : undefined);
  if (retry !== undefined) headers["retry-after"] = String(Math.max(1, Math.ceil(retry)));
  return { status, headers, body: { type: `${PROBLEM_TYPE_BASE}:${code}`, title, status, detail, ...(extra.extensions ?? {}) } };
}

/** Any thrown value as a problem answer; `onUnexpected` logs what is not a known error. */
export function toProblem(e: unknown, onUnexpected: (e: unknown) => void): ProblemAnswer {
  if (e instanceof BrokerError) return problemFor(e.code, e.message, e.facts);
  // The storage reports an unreachable or locked database as the core's "unavailable" error.
  if (e instanceof GhappError && e.exitCode === ExitCode.unavailable) return problemFor("database_unavailable", "the database does not answer: retry later");
  if (e instanceof HTTPException) {
    if (e.status === 413) return problemFor("payload_too_large", "the request body is too large (64 KiB at most)");
    if (e.status === 400) return problemFor("invalid_request", "the request body is not valid JSON");
    // @hono/zod-openapi's media-type gate: a body that is not application/json (or none declared).
    if (e.status === 415) return problemFor("unsupported_media_type", "the request body must be JSON: send it with Content-Type: application/json");
    if (e.status === 404) return problemFor("not_found", "no such resource");
  }
  onUnexpected(e);
  return problemFor("internal", "the broker failed unexpectedly; the error is in its log");
}

export function problemResponseOf(p: ProblemAnswer): Response {
  return new Response(JSON.stringify(p.body), { status: p.status, headers: p.headers });
}
