// HTTP for the kubelet and Prometheus (CONTRACTS.md, "Sidecar health endpoints"):
// - GET /livez: 200 {"status":"alive"} while the refresh loop works (scheduled, or running within
//   its budget), 503 when it is wedged. Never depends on the token: the liveness probe.
// - GET /healthz and /readyz: 200 while a valid token is on disk (valid by GitHub's clock), else
//   503: the readiness and startup probes.
// - GET /metrics: the Prometheus text format.
// Every other answer is JSON too, errors included (Bun's default error page is HTML). Bodies carry
// status and expiry only, never the token.
import { existsSync } from "node:fs";
import type { Metrics } from "./metrics.ts";

export interface HealthState {
  expiresAt?: number; // ms, GitHub's clock
  outputPath: string;
}

export interface HealthSources {
  state: () => HealthState;
  /** whether the refresh loop is alive (refresh-schedule.ts isLoopAlive) */
  alive: () => boolean;
  metrics: Metrics;
  /** GitHub's clock */
  now: () => number;
}

const json = (body: unknown, status = 200) => Response.json(body, { status, headers: { "cache-control": "no-store" } });

/** An ISO time, or null for a missing or invalid one (new Date(NaN).toISOString() throws). */
const iso = (ms: number | undefined) => (ms !== undefined && Number.isFinite(ms) && Math.abs(ms) < 8.64e15 ? new Date(ms).toISOString() : null);

export function startHealthServer(listen: { hostname: string; port: number }, src: HealthSources) {
  return Bun.serve({
    hostname: listen.hostname,
    port: listen.port,
    development: false,
    error: () => json({ status: "error" }, 500),
    async fetch(req) {
      const path = new URL(req.url).pathname;
      if (req.method !== "GET" && req.method !== "HEAD") return json({ status: "method not allowed" }, 405);
      if (path === "/livez") return src.alive() ? json({ status: "alive" }) : json({ status: "wedged" }, 503);
      if (path === "/healthz" || path === "/readyz") {
        const s = src.state();
        const expiresAt = iso(s.expiresAt);
        if (expiresAt === null) return json({ status: "starting", expires_at: null }, 503);
        if (!(s.expiresAt! > src.now()) || !existsSync(s.outputPath)) return json({ status: "expired", expires_at: expiresAt }, 503);
        return json({ status: "ok", expires_at: expiresAt });
      }
      if (path === "/metrics") {
        return new Response(await src.metrics.registry.metrics(), { headers: { "content-type": src.metrics.registry.contentType } });
      }
      return json({ status: "not found", endpoints: ["/livez", "/healthz", "/readyz", "/metrics"] }, 404);
    },
  });
}
