// Wires one broker from its configuration: storage, GitHub client and installation tokens, OIDC
// verifier, services, the HTTP app and the sync. `serve` and the operator commands share it, so
// a CLI command does exactly what the service would.
import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import { GitHubClient } from "../core/github-client.ts";
import { MAX_ATTEMPTS } from "../core/retry.ts";
import { findInstallation } from "../core/installation.ts";
import { InstallationTokenCache } from "../core/installation-token-cache.ts";
import type { Logger } from "../core/logger.ts";
import { loadPrivateKeyFile } from "../core/private-key.ts";
import type { BrokerConfig } from "./config.ts";
import { GitHubHookDeliveries } from "./github-hook-deliveries.ts";
import { GitHubRunners } from "./github-runners.ts";
import { createApp } from "./http/app.ts";
import { BrokerMetrics } from "./metrics.ts";
import { OidcVerifier } from "./oidc.ts";
import { IssuerRegistry } from "./oidc/issuers.ts";
import { GitHubTokens } from "./github-tokens.ts";
import { TokenService } from "./service/tokens.ts";
import { TrustPolicyService } from "./service/trust-policies.ts";
import { OwnerBinding } from "./owner-binding.ts";
import { Readiness } from "./readiness.ts";
import { Baseline } from "./service/baseline.ts";
import { Journal } from "./service/journal.ts";
import { PolicyService } from "./service/policies.ts";
import { RunnerService } from "./service/runners.ts";
import { RunnerOverview } from "./service/runner-overview.ts";
import { openStorage } from "./storage/open.ts";
import type { Storage } from "./storage/storage.ts";
import { Sync, SyncLoop } from "./sync.ts";
import { Redelivery } from "./redelivery.ts";
import { WebhookService } from "./service/webhooks.ts";

export interface BrokerParts {
  storage: Storage;
  metrics: BrokerMetrics;
  policies: PolicyService;
  journal: Journal;
  trustPolicies: TrustPolicyService;
}

/** The database side only (operator commands that need no GitHub). */
export async function openDatabase(config: BrokerConfig): Promise<BrokerParts> {
  const storage = openStorage(config.databaseUrl);
  await storage.migrate();
  return { storage, metrics: new BrokerMetrics(), policies: new PolicyService(storage, config.defaultRunnerGroupId !== undefined ? { defaultRunnerGroupId: config.defaultRunnerGroupId } : {}), journal: new Journal(storage), trustPolicies: new TrustPolicyService(storage) };
}

export interface GitHubParts {
  github: GitHubRunners;
  tokens: InstallationTokenCache;
  /** whose repositories' tokens are accepted; learns the organisation's id from GitHub */
  owners: OwnerBinding;
  baseline: Baseline;
  sync: Sync;
  /** the App's webhook delivery log (App JWT), for redelivery */
  hooks: GitHubHookDeliveries;
  /** installation tokens narrowed per trust policy (the token exchange) */
  minter: GitHubTokens;
}

/** GitHub's side: the App's key, the installation, runner calls, the sync. */
export function connectGitHub(config: BrokerConfig, parts: BrokerParts, logger: Logger): GitHubParts {
  const { key } = loadPrivateKeyFile(config.privateKeyFile, "GITHUB_APP_PRIVATE_KEY_FILE");
  const { metrics } = parts;
  const client = new GitHubClient({
    apiUrl: config.apiUrl,
    timeoutMs: config.requestTimeoutMs,
    maxRetryWaitMs: config.maxRetryWaitMs,
    logger,
    onResponse: (r) => {
      metrics.githubRequests.observe({ method: r.method, status: String(r.status) }, r.durationMs / 1000);
      if (r.rateLimitRemaining !== undefined) metrics.githubRateLimitRemaining.set(r.rateLimitRemaining);
      if (r.status === 429 || (r.status === 403 && r.rateLimitRemaining === 0)) metrics.githubRateLimited.inc();
    },
  });
  const appAuth = { app: { appId: config.appId, key } };
  const owners = new OwnerBinding({ orgs: [config.org], allowedOwners: config.allowedRepositoryOwners });
  // The organisation's id, for repository_owner_id: from the installation's account, once, beside
  // the installation lookup. Until GitHub has answered, tokens are checked by login alone.
  let orgIdKnown = false;
  const learnOrgId = async (id: number) => {
    if (orgIdKnown) return;
    const res = await client.request<{ account?: { login?: unknown; id?: unknown } | null }>("GET", `/app/installations/${id}`, appAuth).catch(() => undefined);
    const account = res?.data?.account;
    if (account && typeof account.login === "string" && typeof account.id === "number" && Number.isSafeInteger(account.id)) {
      owners.learnOrgId(account.login, account.id);
      orgIdKnown = true;
    }
  };
  let installationId: Promise<number> | undefined;
  const tokens = new InstallationTokenCache({
    client,
    appAuth,
    installationId: () => {
      installationId ??= findInstallation(client, appAuth, { ...(config.installationId ? { installationId: config.installationId } : {}), owner: config.org, repositories: [] })
        .then(async (id) => {
          await learnOrgId(id);
          return id;
        })
        .catch((e) => {
          installationId = undefined;
          throw e;
        });
      return installationId;
    },
    onMint: (at) => metrics.installationTokenExpiry.set(Math.floor(at / 1000)),
  });
  const github = new GitHubRunners(client, tokens, config.org);
  const baseline = new Baseline(parts.storage, github);
  const sync = new Sync({
    storage: parts.storage,
    github,
    policies: parts.policies,
    baseline,
    metrics,
    logger,
    pendingTtlMs: config.pendingRunnerTtlMs,
    ...(config.offlineRunnerTtlMs !== undefined ? { offlineTtlMs: config.offlineRunnerTtlMs } : {}),
    // A provision takes at most MAX_ATTEMPTS GitHub attempts and their back-off (under 10 s in
    // all); after that a reservation without a handed-out secret is one whose broker died.
    abandonAfterMs: MAX_ATTEMPTS * config.requestTimeoutMs + 10_000,
  });
  const minter = new GitHubTokens(client, appAuth, config.installationId ? { owner: config.org, installationId: config.installationId } : undefined);
  return { github, tokens, owners, baseline, sync, hooks: new GitHubHookDeliveries(client, appAuth, config.apiUrl), minter };
}

/** How often /ready re-checks the database (when READY_CHECK_INTERVAL is longer). */
export const DATABASE_CHECK_MS = 2_000;

export function replicaId(): string {
  return `${hostname()}-${process.pid}-${randomBytes(3).toString("hex")}`;
}

/** `webhookSecret`: read from GITHUB_WEBHOOK_SECRET_FILE by the caller; without it the webhook route answers 404. `dashboardSecrets`: DASHBOARD_CLIENT_SECRET_FILE's and DASHBOARD_SESSION_KEY_FILE's contents. */
export function createService(config: BrokerConfig, parts: BrokerParts, gh: GitHubParts, logger: Logger, webhookSecret?: string, dashboardSecrets: { clientSecret?: string; sessionKey?: string } = {}) {
  const verifier = new OidcVerifier({ ...config.oidc, timeoutMs: config.requestTimeoutMs });
  const runners = new RunnerService({ storage: parts.storage, github: gh.github, policies: parts.policies, baseline: gh.baseline, metrics: parts.metrics, logger, githubUrl: config.githubUrl, org: config.org });
  const webhooks = webhookSecret ? new WebhookService({ storage: parts.storage, github: gh.github, journal: parts.journal, metrics: parts.metrics, logger, secret: webhookSecret, org: config.org }) : undefined;
  // The API's policy writes also check the runner group exists at GitHub.
  const policies = new PolicyService(parts.storage, { ...(config.defaultRunnerGroupId !== undefined ? { defaultRunnerGroupId: config.defaultRunnerGroupId } : {}), groups: gh.github });
  const readiness = new Readiness(
    [
      // A SELECT 1 on the pool costs nothing: every 2 s, so /ready follows a database restart
      // within seconds (the other checks cost GitHub and the issuer requests: READY_CHECK_INTERVAL).
      { name: "database", check: () => parts.storage.ping(), everyMs: DATABASE_CHECK_MS },
      { name: "github", check: () => gh.github.check() },
      { name: "issuer", check: () => verifier.discover() },
    ],
    config.readyCheckIntervalMs,
    logger,
    parts.metrics,
    () => parts.storage.listSyncGroupFailures(),
  );
  const app = createApp({
    ...(webhooks ? { webhooks } : {}),
    ...(config.dashboard ? { dashboard: { config: config.dashboard, ...dashboardSecrets, org: config.org, timeoutMs: config.requestTimeoutMs, overview: new RunnerOverview(parts.storage) } } : {}),
    runners,
    policies,
    journal: parts.journal,
    verifier,
    owners: gh.owners,
    issuer: config.oidc.issuer,
    metrics: parts.metrics,
    logger,
    admins: config.adminIdentities,
    callerRatePerMinute: config.callerRatePerMinute,
    readiness: { snapshot: () => readiness.snapshot(), failingGroups: () => readiness.failingGroups() },
    exchange: {
      tokens: new TokenService({ storage: parts.storage, policies: parts.trustPolicies, github: gh.minter, metrics: parts.metrics, logger, mintsPerMinute: config.tokenMintRatePerMinute }),
      trustPolicies: parts.trustPolicies,
      issuers: new IssuerRegistry({ audiencesOf: (issuer) => parts.trustPolicies.audiencesOf(issuer), jwksFiles: config.issuerJwksFiles, timeoutMs: config.requestTimeoutMs }),
      ratePerMinute: config.tokenRatePerMinute,
    },
  });
  const background = webhooks ? [new Redelivery({ storage: parts.storage, hooks: gh.hooks, webhooks, metrics: parts.metrics, logger })] : [];
  const loop = new SyncLoop(gh.sync, parts.storage, replicaId(), config.syncIntervalMs, parts.metrics, logger, background);
  return { app, verifier, runners, loop, readiness, webhooks };
}
