// The operational endpoints anyone may call: /health (liveness), /ready (the database, GitHub and
// the OIDC issuer work, as last checked by the broker's own timer: a caller never makes the broker
// ask GitHub), /metrics (Prometheus). They say which dependency fails and why, in the broker's
// own words, never a secret or a remote server's text.
import { createRoute, z } from "@hono/zod-openapi";
import type { BrokerMetrics } from "../metrics.ts";
import type { ReadinessSnapshot } from "../readiness.ts";
import type { FailingGroup } from "../sync.ts";
import type { RunnerGroupExposure } from "../storage/storage.ts";
import { explainExposure } from "../service/group-isolation.ts";
import { problemFor } from "./problem.ts";
import { router } from "./router.ts";

export interface ReadinessChecks {
  /** the dependencies as last checked (readiness.ts) */
  snapshot: () => ReadinessSnapshot;
  /** runner groups the sync cannot read: they do not make the broker unready (the other groups work) */
  failingGroups: () => FailingGroup[];
  /** runner groups that reach more repositories or workflows than their policies name (issue 20): degraded, not unready */
  exposedGroups?: () => RunnerGroupExposure[];
  /** several organisations served: runner groups are named "org/id" in /ready (ids repeat across organisations) */
  severalOrgs?: boolean;
}

const Checks = z.record(z.string(), z.string()).openapi({ example: { database: "ok", github: "ok", issuer: "ok" } });
const Reasons = z.record(z.string(), z.string()).openapi({ description: "why each failing dependency fails, and the fix" });
const Exposures = z
  .record(z.string(), z.object({ reasons: z.array(z.string()), detail: z.string(), since: z.string() }))
  .openapi({ description: "runner groups (by id, or org/id with several organisations) that reach more repositories or workflows than their policies name, and why; present only when one does" });
const RunnerGroups = z.record(z.string(), z.string()).openapi({ description: "runner groups (by id) the sync cannot read, and why; present only when one fails" });

const health = createRoute({
  method: "get",
  path: "/health",
  tags: ["operations"],
  summary: "Liveness",
  responses: { 200: { description: "alive", content: { "application/json": { schema: z.object({ status: z.literal("ok") }) } } } },
});
const ready = createRoute({
  method: "get",
  path: "/ready",
  tags: ["operations"],
  summary: "Readiness: the database, GitHub (the App's credentials) and the OIDC issuer work",
  responses: {
    200: { description: "ready (degraded: a runner group cannot be synced)", content: { "application/json": { schema: z.object({ status: z.enum(["ready", "degraded"]), checks: Checks, runner_groups: RunnerGroups.optional(), runner_group_exposures: Exposures.optional() }) } } },
    503: { description: "not ready", content: { "application/problem+json": { schema: z.object({ status: z.number(), detail: z.string(), checks: Checks, reasons: Reasons, runner_groups: RunnerGroups.optional(), runner_group_exposures: Exposures.optional() }) } } },
  },
});
const metricsRoute = createRoute({
  method: "get",
  path: "/metrics",
  tags: ["operations"],
  summary: "Prometheus metrics",
  responses: { 200: { description: "metrics in Prometheus text format", content: { "text/plain": { schema: z.string() } } } },
});

export function operationsRouter(metrics: BrokerMetrics, checks: ReadinessChecks) {
  return router()
    .openapi(health, (c) => c.json({ status: "ok" as const }, 200))
    .openapi(ready, async (c) => {
      const s = checks.snapshot();
      const groups = checks.failingGroups();
      const exposed = checks.exposedGroups?.() ?? [];
      const runnerGroups = {
        ...(groups.length ? { runner_groups: Object.fromEntries(groups.map((g) => [g.org ? `${g.org}/${g.runnerGroupId}` : String(g.runnerGroupId), `${g.code}: ${g.reason}`])) } : {}),
        ...(exposed.length ? { runner_group_exposures: Object.fromEntries(exposed.map((e) => [checks.severalOrgs ? `${e.org}/${e.runnerGroupId}` : String(e.runnerGroupId), { reasons: e.reasons, detail: explainExposure(e.reasons), since: e.since.toISOString() }])) } : {}),
      };
      c.header("cache-control", "no-store");
      if (s.ready) return c.json({ status: groups.length || exposed.length ? ("degraded" as const) : ("ready" as const), checks: s.checks, ...runnerGroups }, 200);
      const detail = `not ready: ${Object.entries(s.reasons).map(([name, why]) => `${name}: ${why}`).join("; ")}`;
      const p = problemFor("not_ready", detail, { extensions: { checks: s.checks, reasons: s.reasons, ...runnerGroups } });
      return new Response(JSON.stringify(p.body), { status: 503, headers: p.headers }) as never;
    })
    .openapi(metricsRoute, async (c) => {
      c.header("content-type", metrics.registry.contentType);
      return c.body(await metrics.registry.metrics(), 200) as never;
    });
}
