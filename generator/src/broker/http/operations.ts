// The operational endpoints anyone may call: /health (liveness), /ready (database and the App's
// credentials work), /metrics (Prometheus). They never reveal more than ok / not ok.
import { createRoute, z } from "@hono/zod-openapi";
import type { BrokerMetrics } from "../metrics.ts";
import { problemFor } from "./problem.ts";
import { router } from "./router.ts";

export interface ReadinessChecks {
  database: () => Promise<void>;
  github: () => Promise<void>;
}

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
  summary: "Readiness: the database answers and the App's credentials work",
  responses: {
    200: { description: "ready", content: { "application/json": { schema: z.object({ status: z.literal("ready"), checks: z.record(z.string(), z.string()) }) } } },
    503: { description: "not ready", content: { "application/problem+json": { schema: z.object({ status: z.number(), checks: z.record(z.string(), z.string()) }) } } },
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
      const results: Record<string, string> = {};
      await Promise.all(
        Object.entries(checks).map(async ([name, check]) => {
          results[name] = await check().then(
            () => "ok",
            () => "failing",
          );
        }),
      );
      if (Object.values(results).every((v) => v === "ok")) return c.json({ status: "ready" as const, checks: results }, 200);
      const failing = Object.keys(results).filter((k) => results[k] !== "ok");
      const p = problemFor("not_ready", `not ready: ${failing.join(", ")} failing`, { extensions: { checks: results } });
      return new Response(JSON.stringify(p.body), { status: 503, headers: p.headers }) as never;
    })
    .openapi(metricsRoute, async (c) => {
      c.header("content-type", metrics.registry.contentType);
      return c.body(await metrics.registry.metrics(), 200) as never;
    });
}
