// /api/v1/admin/security-events: filter by user, event_type, since, limit.
import { createRoute, z } from "@hono/zod-openapi";
import type { Journal } from "../service/journal.ts";
import type { SecurityEventRecord } from "../storage/storage.ts";
import { problemResponse } from "./problem.ts";
import { router } from "./router.ts";
import { Since, Limit } from "./query.ts";

const EventSchema = z
  .object({
    id: z.number().int(),
    at: z.string(),
    event_type: z.string(),
    severity: z.enum(["low", "medium", "high", "critical"]),
    user_identity: z.string().nullable(),
    runner_name: z.string().nullable(),
    github_runner_id: z.number().int().nullable(),
    action_taken: z.string(),
    details: z.record(z.string(), z.unknown()),
    count: z.number().int().openapi({ description: "how many times: refusals of one identity are one event per type and minute, counted; details are the first one's" }),
    last_at: z.string().openapi({ description: "when it last happened" }),
  })
  .openapi("SecurityEvent");

export function eventJson(e: SecurityEventRecord): z.infer<typeof EventSchema> {
  return { id: e.id, at: e.at.toISOString(), event_type: e.eventType, severity: e.severity, user_identity: e.userIdentity, runner_name: e.runnerName, github_runner_id: e.githubRunnerId, action_taken: e.actionTaken, details: e.details, count: e.count, last_at: e.lastAt.toISOString() };
}

const list = createRoute({
  method: "get",
  path: "/",
  tags: ["security-events"],
  summary: "Security events, newest first",
  security: [{ bearer: [] }],
  request: { query: z.object({ user: z.string().max(256).optional(), event_type: z.string().regex(/^[a-z0-9_]{1,64}$/).optional(), since: Since, limit: Limit }) },
  responses: {
    200: { description: "events", content: { "application/json": { schema: z.object({ events: z.array(EventSchema) }) } } },
    401: problemResponse("no valid OIDC token"),
    403: problemResponse("not an administrator"),
    422: problemResponse("invalid filter"),
  },
});

export function securityEventsRouter(journal: Journal) {
  return router().openapi(list, async (c) => {
    const q = c.req.valid("query");
    const events = await journal.listSecurityEvents({ ...(q.user ? { user: q.user } : {}), ...(q.event_type ? { eventType: q.event_type } : {}), ...(q.since ? { since: q.since } : {}), limit: q.limit });
    return c.json({ events: events.map(eventJson) }, 200);
  });
}
