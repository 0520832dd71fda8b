// `serve`: the API and the background sync until SIGTERM/SIGINT, then a graceful stop (requests
// in flight finish, the sync lease is released so another replica takes over at once).
import { configError } from "../../core/errors.ts";
import type { Logger } from "../../core/logger.ts";
import { connectGitHub, createService, openDatabase } from "../broker.ts";
import type { BrokerConfig } from "../config.ts";
import { readPolicyDocument } from "../policy-file.ts";
import { MAX_JWKS_BYTES } from "../oidc.ts";
import { jwksFileProblem } from "../oidc/jwks-file.ts";
import { readWebhookSecretFile } from "../webhook-secret-file.ts";
import { readDashboardSecrets } from "../dashboard/secret-files.ts";
import { runStartChecks } from "../start-checks.ts";

export interface ServeIo {
  onSignal: (handler: (signal: string) => void) => void;
}

export async function runServe(config: BrokerConfig, logger: Logger, io: ServeIo): Promise<number> {
  // Read everything that can be wrong before opening anything: a bad file fails with exit 2.
  const document = config.policyFile ? readPolicyDocument(config.policyFile, "POLICY_FILE", config.defaultRunnerGroupId) : { labelPolicies: [], trustPolicies: [] };
  const policies = document.labelPolicies;
  const webhookSecret = config.webhookSecretFile ? readWebhookSecretFile(config.webhookSecretFile) : undefined;
  const dashboardSecrets = config.dashboard ? readDashboardSecrets(config.dashboard) : {};
  for (const [issuer, path] of config.issuerJwksFiles) {
    const problem = jwksFileProblem(path, MAX_JWKS_BYTES);
    if (problem) throw configError(`ISSUER_JWKS_FILES: the file for ${issuer.slice(0, 200)} (${path.slice(0, 200)}) ${problem}`);
  }
  const parts = await openDatabase(config);
  try {
    const gh = connectGitHub(config, parts, logger);
    const svc = createService(config, parts, gh, logger, webhookSecret, dashboardSecrets);
    svc.readiness.record("database", { ok: true });
    await svc.readiness.refreshGroups();
    // Misconfigurations stop here with exit 2; a dependency that is down leaves /ready at 503.
    await runStartChecks({ config, verifier: svc.verifier, tokens: gh.tokens, github: gh.github, readiness: svc.readiness, logger, policies, orgs: gh.perOrg });
    for (const p of policies) await parts.policies.put("policy-file", p);
    if (policies.length) logger.info("policies applied from POLICY_FILE", { count: policies.length });
    for (const p of document.trustPolicies) await parts.trustPolicies.put("policy-file", p);
    if (document.trustPolicies.length) logger.info("trust policies applied from POLICY_FILE", { count: document.trustPolicies.length });

    let server: ReturnType<typeof Bun.serve>;
    try {
      server = Bun.serve({ hostname: config.listen.hostname, port: config.listen.port, fetch: svc.app.fetch, maxRequestBodySize: 1024 * 1024 });
    } catch {
      throw configError(`LISTEN_ADDR ${config.listen.hostname}:${config.listen.port} cannot be listened on (in use, or not an address of this host): choose another port or address`);
    }
    logger.info("listening", { address: `${server.hostname}:${server.port}`, port: server.port, database: parts.storage.kind, org: config.org, ...(config.orgs.length > 1 ? { orgs: config.orgs } : {}), issuer: config.oidc.issuer, ready: svc.readiness.snapshot().ready });
    if (svc.webhooks) logger.info("GitHub webhooks enabled", { route: "/api/v1/webhooks/github" });
    if (config.dashboard) logger.info("dashboard enabled", { url: `${config.dashboard.url}/ui/`, ...(dashboardSecrets.sessionKey ? {} : { sessions: "this replica only (no DASHBOARD_SESSION_KEY_FILE)" }) });
    svc.readiness.start();
    svc.loop.start();
    const flush = setInterval(() => parts.journal.flush().catch(() => undefined), Math.min(60_000, config.syncIntervalMs));

    const signal = await new Promise<string>((resolve) => io.onSignal(resolve));
    logger.info("stopping", { signal });
    clearInterval(flush);
    await server.stop();
    await svc.readiness.stop();
    await svc.loop.stop();
    await svc.webhooks?.drain();
    await parts.journal.flush().catch(() => undefined);
    return 0;
  } finally {
    await parts.storage.close();
  }
}
