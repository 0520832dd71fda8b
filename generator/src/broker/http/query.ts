// Query parameters the admin lists share: since (RFC 3339) and limit (1..1000, default 100).
import { z } from "@hono/zod-openapi";

export const Since = z
  .string()
  .max(64)
  .refine((s) => Number.isFinite(Date.parse(s)), "an RFC 3339 time, e.g. 2026-01-31T12:00:00Z")
  .transform((s) => new Date(Date.parse(s)))
  .optional()
  .openapi({ type: "string", format: "date-time" });

export const Limit = z.coerce.number().int().min(1).max(1000).default(100);
