// /api/v1/admin/audit-log: filter by user, since, limit.
import { createRoute, z } from "@hono/zod-openapi";
import type { Journal } from "../service/journal.ts";
import type { AuditRecord } from "../storage/storage.ts";
import { problemResponse } from "./problem.ts";
import { router } from "./router.ts";
import { Since, Limit } from "./query.ts";

const AuditSchema = z
  .object({
    id: z.number().int(),
    at: z.string(),
    actor: z.string(),
    action: z.string(),
    result: z.enum(["success", "denied", "failure"]),
    runner_name: z.string().nullable(),
    github_runner_id: z.number().int().nullable(),
    details: z.record(z.string(), z.unknown()),
  })
  .openapi("AuditRecord");

export function auditJson(a: AuditRecord): z.infer<typeof AuditSchema> {
  return { id: a.id, at: a.at.toISOString(), actor: a.actor, action: a.action, result: a.result, runner_name: a.runnerName, github_runner_id: a.githubRunnerId, details: a.details };
}

const list = createRoute({
  method: "get",
  path: "/",
  tags: ["audit-log"],
  summary: "Audit records, newest first",
  security: [{ bearer: [] }],
  request: { query: z.object({ user: z.string().max(256).optional(), since: Since, limit: Limit }) },
  responses: {
    200: { description: "records", content: { "application/json": { schema: z.object({ records: z.array(AuditSchema) }) } } },
    401: problemResponse("no valid OIDC token"),
    403: problemResponse("not an administrator"),
    422: problemResponse("invalid filter"),
  },
});

export function auditLogRouter(journal: Journal) {
  return router().openapi(list, async (c) => {
    const q = c.req.valid("query");
    const records = await journal.listAudit({ ...(q.user ? { user: q.user } : {}), ...(q.since ? { since: q.since } : {}), limit: q.limit });
    return c.json({ records: records.map(auditJson) }, 200);
  });
}
