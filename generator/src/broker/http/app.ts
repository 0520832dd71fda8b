// The broker's HTTP application: one router per resource mounted here, authentication and the
// per-identity rate as middleware on /api/v1, admin routes behind requireAdmin, every error an RFC
// 9457 problem built by problem.ts, request metrics by route template, and the OpenAPI 3.1
// document (from the routes' own schemas) on /openapi.json with a readable page on /docs.
import { bodyLimit } from "hono/body-limit";
import { ExitCode, GhappError } from "../../core/errors.ts";
import type { Logger } from "../../core/logger.ts";
import { VERSION } from "../../core/version.ts";
import { BrokerError } from "../errors.ts";
import type { BrokerMetrics } from "../metrics.ts";
import type { OidcVerifier } from "../oidc.ts";
import type { OwnerBinding } from "../owner-binding.ts";
import type { Journal } from "../service/journal.ts";
import type { PolicyService } from "../service/policies.ts";
import type { RunnerService } from "../service/runners.ts";
import type { WebhookService } from "../service/webhooks.ts";
import type { IssuerRegistry } from "../oidc/issuers.ts";
import type { TokenService } from "../service/tokens.ts";
import type { TrustPolicyService } from "../service/trust-policies.ts";
import { auditLogRouter } from "./audit-log.ts";
import { dashboardRouter, type DashboardDeps } from "../dashboard/router.ts";
import { authenticate, authenticateExchange, exchangeRateKey, rateLimit, requireAdmin } from "./auth.ts";
import { renderDocsPage } from "./docs-page.ts";
import { labelPoliciesRouter } from "./label-policies.ts";
import { operationsRouter, type ReadinessChecks } from "./operations.ts";
import { problemFor, problemResponseOf, toProblem } from "./problem.ts";
import { router } from "./router.ts";
import { runnersRouter } from "./runners.ts";
import { securityEventsRouter } from "./security-events.ts";
import { webhooksRouter } from "./webhooks.ts";
import { tokensRouter } from "./tokens.ts";
import { trustPoliciesRouter } from "./trust-policies.ts";

export interface AppDeps {
  runners: RunnerService;
  policies: PolicyService;
  journal: Journal;
  verifier: OidcVerifier;
  /** whose repositories' tokens are accepted at all, checked right after verification */
  owners: OwnerBinding;
  issuer: string;
  metrics: BrokerMetrics;
  logger: Logger;
  admins: string[];
  callerRatePerMinute: number;
  readiness: ReadinessChecks;
  /** GitHub webhooks; absent when no GITHUB_WEBHOOK_SECRET_FILE is set (the route answers 404) */
  webhooks?: WebhookService;
  /** the token exchange (docs/keyless.md): its service, trust policies, the callers' issuers and rate */
  /** the web dashboard's own settings and secrets; absent when DASHBOARD_CLIENT_ID is unset (/ui answers 404) */
  dashboard?: Pick<DashboardDeps, "config" | "clientSecret" | "sessionKey" | "org" | "timeoutMs" | "overview">;
  exchange: { tokens: TokenService; trustPolicies: TrustPolicyService; issuers: IssuerRegistry; ratePerMinute: number };
}

const OPENAPI_INFO = {
  title: "ghapp-runner-broker",
  version: VERSION,
  description:
    "Provisions GitHub Actions self-hosted runners for callers authenticated by their own OIDC identity. Callers get a single-use JIT runner config (or, where their policy allows, a one-hour registration token) for the labels their policy permits, and see only their own runners.",
};

export function createApp(d: AppDeps) {
  const app = router();
  const admins = new Set(d.admins);

  app.use("*", async (c, next) => {
    const started = performance.now();
    await next();
    c.header("x-content-type-options", "nosniff");
    const route = c.req.routePath && c.req.routePath !== "/*" && c.req.routePath !== "*" ? c.req.routePath : "unmatched";
    const seconds = (performance.now() - started) / 1000;
    d.metrics.httpRequests.observe({ route, method: c.req.method, status: String(c.res.status) }, seconds);
    // An access line per API call: who did what and how it ended. Never a header or a body.
    if (c.req.path.startsWith("/api/")) {
      const identity = c.get("identity");
      d.logger.info("request", { method: c.req.method, route, status: c.res.status, duration_ms: Math.round(seconds * 10_000) / 10, ...(identity ? { identity } : {}) });
    }
  });
  // GitHub signs its deliveries instead of presenting an OIDC token, and they have their own size
  // bound: mounted before the API's body limit and authentication, and answering itself.
  app.route("/api/v1/webhooks", webhooksRouter(d.webhooks));
  app.use("/api/*", bodyLimit({ maxSize: 64 * 1024, onError: () => { throw new BrokerError("payload_too_large", "the request body is too large (64 KiB at most)"); } }));
  // The token exchange authenticates its callers against their own issuers (any a trust policy
  // names), not the runner API's OIDC_ISSUER: its router is registered before the runner API's
  // authentication, and its handler answers, so that middleware never runs for it.
  app.use("/api/v1/tokens", authenticateExchange(d.exchange.issuers, d.journal, d.metrics));
  app.use("/api/v1/tokens", rateLimit(d.exchange.ratePerMinute, d.journal, d.metrics, Date.now, exchangeRateKey));
  app.route("/api/v1/tokens", tokensRouter(d.exchange.tokens));
  app.use("/api/v1/*", authenticate(d.verifier, admins, d.journal, d.metrics, d.owners, d.issuer));
  app.use("/api/v1/*", rateLimit(d.callerRatePerMinute, d.journal, d.metrics));
  app.use("/api/v1/admin/*", requireAdmin(d.journal));

  app.route("/", operationsRouter(d.metrics, d.readiness));
  if (d.dashboard) {
    app.route("/ui", dashboardRouter({ ...d.dashboard, issuer: d.issuer, verifier: d.verifier, owners: d.owners, admins, runners: d.runners, policies: d.policies, trustPolicies: d.exchange.trustPolicies, journal: d.journal, logger: d.logger, ratePerMinute: d.callerRatePerMinute }));
    app.get("/ui/", (c) => c.redirect("/ui", 308));
  }
  app.route("/api/v1/runners", runnersRouter(d.runners));
  app.route("/api/v1/admin/label-policies", labelPoliciesRouter(d.policies));
  app.route("/api/v1/admin/trust-policies", trustPoliciesRouter(d.exchange.trustPolicies));
  app.route("/api/v1/admin/security-events", securityEventsRouter(d.journal));
  app.route("/api/v1/admin/audit-log", auditLogRouter(d.journal));

  app.openAPIRegistry.registerComponent("securitySchemes", "bearer", { type: "http", scheme: "bearer", bearerFormat: "JWT", description: "an OIDC token from OIDC_ISSUER with OIDC_AUDIENCE in aud" });
  app.doc31("/openapi.json", { openapi: "3.1.0", info: OPENAPI_INFO });
  const docsHtml = () => renderDocsPage(app.getOpenAPI31Document({ openapi: "3.1.0", info: OPENAPI_INFO }) as Parameters<typeof renderDocsPage>[0]);
  let cachedDocs: string | undefined;
  app.get("/docs", (c) => {
    cachedDocs ??= docsHtml();
    c.header("content-security-policy", "default-src 'none'; style-src 'unsafe-inline'");
    return c.html(cachedDocs);
  });

  app.notFound(() => problemResponseOf(problemFor("not_found", "no such resource")));
  app.onError(async (e, c) => {
    const problem = toProblem(e, (err) => d.logger.error("unexpected error handling a request; please report it", { error: err instanceof Error ? { name: err.name, message: err.message } : String(err) }));
    // The answer says only "retry later"; the log says why (a lock timeout, too many connections, a
    // read-only standby), in the database's words, redacted and without the URL's password.
    if (e instanceof GhappError && e.exitCode === ExitCode.unavailable) d.logger.warn("database unavailable; answered 503", { error: e.message });
    // Refusals the services do not see themselves (the body or query failed validation) are
    // audited too when the caller is known; the services audit their refusals by policy or quota.
    const identity = c.get("identity");
    if (identity && e instanceof BrokerError && e.code === "invalid_request") {
      await d.journal.refused(identity, c.req.routePath || c.req.path.slice(0, 200), e.code).catch(() => undefined);
    }
    return problemResponseOf(problem);
  });
  return app;
}
