// HTTP for the kubelet and Prometheus: GET /healthz answers 200 while a valid token is on disk
// and 503 before the first token or once it expired without renewal; GET /metrics serves the
// Prometheus text format. Bodies carry status and expiry only, never the token.
import { existsSync } from "node:fs";
import type { Metrics } from "./metrics.ts";

export interface HealthState {
  expiresAt?: number; // ms
  outputPath: string;
}

export function startHealthServer(listen: { hostname: string; port: number }, state: () => HealthState, metrics: Metrics, now: () => number = Date.now) {
  return Bun.serve({
    hostname: listen.hostname,
    port: listen.port,
    async fetch(req) {
      const path = new URL(req.url).pathname;
      if (req.method !== "GET") return new Response("method not allowed\n", { status: 405 });
      if (path === "/healthz" || path === "/readyz") {
        const s = state();
        const expiresAt = s.expiresAt === undefined ? null : new Date(s.expiresAt).toISOString();
        if (s.expiresAt === undefined) return Response.json({ status: "starting", expires_at: null }, { status: 503 });
        if (s.expiresAt <= now() || !existsSync(s.outputPath)) return Response.json({ status: "expired", expires_at: expiresAt }, { status: 503 });
        return Response.json({ status: "ok", expires_at: expiresAt });
      }
      if (path === "/metrics") {
        return new Response(await metrics.registry.metrics(), { headers: { "content-type": metrics.registry.contentType } });
      }
      return new Response("not found: try /healthz or /metrics\n", { status: 404 });
    },
  });
}
