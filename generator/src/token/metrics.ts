// Prometheus metrics of the refresh sidecar (prom-client), served on /metrics. Labels carry
// outcomes and reasons only: no token, JWT or key can reach a metric.
//
// Only the prom-client pieces used are imported: its package index also loads Summary (and its
// t-digest), the Pushgateway (node:http, node:https) and the cluster aggregator, which cost the
// idle sidecar about 1.6 MiB of heap for nothing (docs/sidecar.md, "Figures").
import Counter from "prom-client/lib/counter.js";
import collectDefaultMetrics from "prom-client/lib/defaultMetrics.js";
import Gauge from "prom-client/lib/gauge.js";
import Histogram from "prom-client/lib/histogram.js";
import Registry from "prom-client/lib/registry.js";

/** How often the idle sidecar samples its event-loop delay (prom-client's default: 10 ms). */
export const EVENT_LOOP_PRECISION_MS = 1000;

export type RefreshReason = "ok" | "config" | "credentials" | "not_found" | "unavailable" | "error";

export class Metrics {
  readonly registry = new Registry();
  readonly refreshes = new Counter({
    name: "ghapp_token_refresh_total",
    help: "Token refresh attempts by result (success, failure) and reason (ok, config, credentials, not_found, unavailable, error).",
    labelNames: ["result", "reason"] as const,
    registers: [this.registry],
  });
  readonly expiry = new Gauge({
    name: "ghapp_token_expiry_timestamp_seconds",
    help: "When the token on disk expires (unix seconds).",
    registers: [this.registry],
  });
  readonly lastSuccess = new Gauge({
    name: "ghapp_token_last_refresh_success_timestamp_seconds",
    help: "When a token was last written (unix seconds).",
    registers: [this.registry],
  });
  readonly rateLimitRemaining = new Gauge({
    name: "ghapp_github_rate_limit_remaining",
    help: "GitHub's x-ratelimit-remaining on the last response.",
    registers: [this.registry],
  });
  readonly requestDuration = new Histogram({
    name: "ghapp_github_request_duration_seconds",
    help: "Duration of requests to GitHub by method and status (one observation per attempt).",
    labelNames: ["method", "status"] as const,
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });

  constructor() {
    // prom-client samples event-loop delay every 10 ms by default: an idle sidecar would wake a
    // hundred times a second, in every pod, to measure a loop that has nothing to do. Once a
    // second is plenty for the lag of a process that works once an hour (npm run bench: wakeups).
    collectDefaultMetrics({ register: this.registry, prefix: "ghapp_token_", eventLoopMonitoringPrecision: EVENT_LOOP_PRECISION_MS });
    for (const reason of ["ok"] as const) this.refreshes.inc({ result: "success", reason }, 0);
  }
}
