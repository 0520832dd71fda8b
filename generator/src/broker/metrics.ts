// The broker's Prometheus metrics (prom-client), served on /metrics. Label values come from fixed
// sets (routes, result codes, reasons): no identity, token, runner name or label reaches a metric.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

export class BrokerMetrics {
  readonly registry = new Registry();
  readonly httpRequests = new Histogram({
    name: "ghapp_broker_http_request_duration_seconds",
    help: "API requests by route template, method and status.",
    labelNames: ["route", "method", "status"] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });
  readonly provisions = new Counter({
    name: "ghapp_broker_provisions_total",
    help: "Provision requests by mode, result (success, or the refusal or failure code) and organisation (once the policy named one).",
    labelNames: ["mode", "result", "org"] as const,
    registers: [this.registry],
  });
  readonly authFailures = new Counter({
    name: "ghapp_broker_auth_failures_total",
    help: "Requests refused in authentication, by reason (missing_token, expired, ..., owner_not_allowed for a verified token from another repository owner).",
    labelNames: ["reason"] as const,
    registers: [this.registry],
  });
  readonly oidcVerifySeconds = new Histogram({
    name: "ghapp_broker_oidc_verify_duration_seconds",
    help: "Time to verify a caller's OIDC token (including any key fetch).",
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25, 1, 5],
    registers: [this.registry],
  });
  readonly githubRequests = new Histogram({
    name: "ghapp_broker_github_request_duration_seconds",
    help: "Requests to GitHub by method and status (one observation per attempt).",
    labelNames: ["method", "status"] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  readonly githubRateLimitRemaining = new Gauge({
    name: "ghapp_broker_github_rate_limit_remaining",
    help: "GitHub's x-ratelimit-remaining on the last response.",
    registers: [this.registry],
  });
  readonly githubRateLimited = new Counter({
    name: "ghapp_broker_github_rate_limited_total",
    help: "GitHub answers that were rate limits (403/429 with a wait).",
    registers: [this.registry],
  });
  readonly installationTokenExpiry = new Gauge({
    name: "ghapp_broker_installation_token_expiry_timestamp_seconds",
    help: "When the cached installation token of each organisation expires (unix seconds).",
    labelNames: ["org"] as const,
    registers: [this.registry],
  });
  readonly syncRuns = new Counter({
    name: "ghapp_broker_sync_runs_total",
    help: "Background syncs this replica ran, by result.",
    labelNames: ["result"] as const,
    registers: [this.registry],
  });
  readonly syncLeader = new Gauge({
    name: "ghapp_broker_sync_leader",
    help: "1 while this replica holds the sync lease.",
    registers: [this.registry],
  });
  readonly syncActions = new Counter({
    name: "ghapp_broker_sync_actions_total",
    help: "What the sync did: status changes, runners removed (unprovisioned, label drift, pending or offline TTL).",
    labelNames: ["action", "org"] as const,
    registers: [this.registry],
  });
  readonly rateLimitedCallers = new Counter({
    name: "ghapp_broker_caller_rate_limited_total",
    help: "Requests refused with 429 because one identity exceeded CALLER_RATE_LIMIT.",
    registers: [this.registry],
  });

  readonly webhookDeliveries = new Counter({
    name: "ghapp_broker_webhook_deliveries_total",
    help: "GitHub webhook deliveries received, by event (workflow_job, ping, other) and result (accepted, ignored, unsigned, bad_signature, replayed, too_large, malformed).",
    labelNames: ["event", "result"] as const,
    registers: [this.registry],
  });
  readonly webhookProcessed = new Counter({
    name: "ghapp_broker_webhook_processed_total",
    help: "Accepted deliveries processed after the answer, by outcome (status_change, no_change, unknown_runner, stale, failed).",
    labelNames: ["outcome"] as const,
    registers: [this.registry],
  });
  readonly webhookRedeliveries = new Counter({
    name: "ghapp_broker_webhook_redeliveries_total",
    help: "Failed deliveries the broker asked GitHub to redeliver, by result (requested, failed, expired).",
    labelNames: ["result"] as const,
    registers: [this.registry],
  });
  readonly dependencyUp = new Gauge({
    name: "ghapp_broker_dependency_up",
    help: "1 while a dependency /ready checks works (database, github, issuer), 0 while it fails; checked every READY_CHECK_INTERVAL.",
    labelNames: ["dependency"] as const,
    registers: [this.registry],
  });
  readonly syncGroupFailing = new Gauge({
    name: "ghapp_broker_sync_group_failing",
    help: "1 while the sync cannot read a runner group the policies name (deleted at GitHub, no permission, GitHub down), 0 once it can; by organisation and runner_group_id.",
    labelNames: ["org", "runner_group_id"] as const,
    registers: [this.registry],
  });
  readonly runnerGroupExposed = new Gauge({
    name: "ghapp_broker_runner_group_exposed",
    help: "1 while a runner group the broker uses reaches more than its policies name (reason: visibility_all, visibility_private, public_repositories, other_repositories, unrestricted_workflows, other_workflows), 0 once fixed; by organisation, runner_group_id and reason.",
    labelNames: ["org", "runner_group_id", "reason"] as const,
    registers: [this.registry],
  });
  readonly tokenExchanges = new Counter({
    name: "ghapp_broker_token_exchanges_total",
    help: "POST /api/v1/tokens by result (success, or the refusal or failure code) and cache (hit: no GitHub call, miss: one GitHub call, none: refused before).",
    labelNames: ["result", "cache"] as const,
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: "ghapp_broker_" });
    this.provisions.inc({ mode: "jit", result: "success" }, 0);
    this.authFailures.inc({ reason: "invalid_token" }, 0);
    for (const result of ["accepted", "unsigned", "bad_signature", "replayed", "too_large"]) this.webhookDeliveries.inc({ event: "workflow_job", result }, 0);
  }
}
