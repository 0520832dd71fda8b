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
import { BrokerError } from "./errors.ts";
import { GitHubHookDeliveries } from "./github-hook-deliveries.ts";
import { GitHubRunners } from "./github-runners.ts";
import { GitHubRunnerGroups } from "./github-runner-groups.ts";
import { GroupIsolation } from "./service/group-isolation.ts";
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
import type { LabelPolicy, Storage } from "./storage/storage.ts";
import { OrgsSync, Sync, SyncLoop } from "./sync.ts";
import type { OrgGitHub } from "./service/runners.ts";
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
  // Rows from before several organisations (migration 7) belong to the organisation the broker
  // served then: GITHUB_ORG, or the first of GITHUB_ORGS (docs/runner-broker.md).
  if (config.org) await storage.assignOrg(config.org);
  return { storage, metrics: new BrokerMetrics(), policies: new PolicyService(storage, config.defaultRunnerGroupId !== undefined ? { defaultRunnerGroupId: config.defaultRunnerGroupId } : {}), journal: new Journal(storage), trustPolicies: new TrustPolicyService(storage) };
}

export interface GitHubParts {
  /** the first organisation's runners and token (GITHUB_ORG's; the start checks use them) */
  github: GitHubRunners;
  tokens: InstallationTokenCache;
  /** every organisation's GitHub and baseline, by lower-case login */
  orgs: Map<string, OrgGitHub>;
  /** every organisation's token and runners, in GITHUB_ORGS' order (the start checks) */
  perOrg: { org: string; tokens: InstallationTokenCache; github: GitHubRunners }[];
  /** whose repositories' tokens are accepted; learns the organisation's id from GitHub */
  owners: OwnerBinding;
  baseline: Baseline;
  sync: Sync | OrgsSync;
  /** runner groups that isolate tenants: their settings read and (MANAGE_RUNNER_GROUPS) kept, per organisation (by lower-case login) */
  isolation: Map<string, GroupIsolation>;
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
  const owners = new OwnerBinding({ orgs: config.orgs, allowedOwners: config.allowedRepositoryOwners });
  // Each organisation has its own installation and installation token (GitHub: one installation
  // per account; https://docs.github.com/rest/apps/apps#get-an-organization-installation-for-the-authenticated-app).
  const perOrg = config.orgs.map((org) => {
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
        installationId ??= findInstallation(client, appAuth, { ...(config.installationId ? { installationId: config.installationId } : {}), owner: org, repositories: [] })
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
      onMint: (at) => metrics.installationTokenExpiry.set({ org }, Math.floor(at / 1000)),
    });
    const github = new GitHubRunners(client, tokens, org);
    const baseline = new Baseline(parts.storage, github, org);
    return { org, github, tokens, baseline };
  });
  const first = perOrg[0]!;
  const { github, tokens, baseline } = first;
  // Runner group isolation (reading groups' visibility and restrictions, MANAGE_RUNNER_GROUPS) per
  // organisation: its groups read with its own installation's token, its findings recorded under its
  // login (group ids repeat across organisations).
  const isolation = new Map(perOrg.map((o) => [o.org.toLowerCase(), new GroupIsolation({ storage: parts.storage, groups: new GitHubRunnerGroups(client, o.tokens), metrics, logger, manage: config.manageRunnerGroups })]));
  const orgs = new Map<string, OrgGitHub>(perOrg.map((o) => [o.org.toLowerCase(), { org: o.org, github: o.github, baseline: o.baseline }]));
  const syncFor = (o: (typeof perOrg)[number], several: boolean) =>
    new Sync({
      storage: parts.storage,
      github: o.github,
      policies: parts.policies,
      baseline: o.baseline,
      metrics,
      logger,
      pendingTtlMs: config.pendingRunnerTtlMs,
      ...(config.offlineRunnerTtlMs !== undefined ? { offlineTtlMs: config.offlineRunnerTtlMs } : {}),
      // A provision takes at most MAX_ATTEMPTS GitHub attempts and their back-off (under 10 s in
      // all); after that a reservation without a handed-out secret is one whose broker died.
      abandonAfterMs: MAX_ATTEMPTS * config.requestTimeoutMs + 10_000,
      // One organisation: every runner, as before GITHUB_ORGS; several: each its own.
      ...(several ? { org: o.org, defaultOrg: config.org, recordFailures: false } : {}),
      isolation: { groups: isolation.get(o.org.toLowerCase())!, org: o.org, manage: config.manageRunnerGroups },
    });
  const sync = perOrg.length === 1 ? syncFor(first, false) : new OrgsSync(perOrg.map((o) => syncFor(o, true)), parts.storage, logger);
  const minter = new GitHubTokens(client, appAuth, config.installationId ? { owner: config.org, installationId: config.installationId } : undefined);
  return { github, tokens, orgs, perOrg, owners, baseline, sync, isolation, hooks: new GitHubHookDeliveries(client, appAuth, config.apiUrl), minter };
}

/** How often /ready re-checks the database (when READY_CHECK_INTERVAL is longer). */
export const DATABASE_CHECK_MS = 2_000;

export function replicaId(): string {
  return `${hostname()}-${process.pid}-${randomBytes(3).toString("hex")}`;
}

/** `webhookSecret`: read from GITHUB_WEBHOOK_SECRET_FILE by the caller; without it the webhook route answers 404. `dashboardSecrets`: DASHBOARD_CLIENT_SECRET_FILE's and DASHBOARD_SESSION_KEY_FILE's contents. */
export function createService(config: BrokerConfig, parts: BrokerParts, gh: GitHubParts, logger: Logger, webhookSecret?: string, dashboardSecrets: { clientSecret?: string; sessionKey?: string } = {}) {
  const verifier = new OidcVerifier({ ...config.oidc, timeoutMs: config.requestTimeoutMs });
  const runners = new RunnerService({ storage: parts.storage, github: gh.github, policies: parts.policies, baseline: gh.baseline, metrics: parts.metrics, logger, githubUrl: config.githubUrl, org: config.org, orgs: gh.orgs });
  const webhooks = webhookSecret ? new WebhookService({ storage: parts.storage, github: gh.github, journal: parts.journal, metrics: parts.metrics, logger, secret: webhookSecret, org: config.org, orgs: config.orgs, githubFor: (org) => gh.orgs.get(org.toLowerCase())?.github ?? gh.github }) : undefined;
  // The API's policy writes also check the runner group exists at GitHub.
  // MANAGE_RUNNER_GROUPS: a policy written through the API gets its own group at once, in the
  // policy's organisation (the first of GITHUB_ORGS when it names none).
  const managedGroup = config.manageRunnerGroups
    ? {
        managedGroup: (p: LabelPolicy) => {
          const org = p.org ?? config.org;
          const isolation = gh.isolation.get(org.toLowerCase());
          if (!isolation) throw new BrokerError("invalid_request", `org: the broker does not serve "${org.slice(0, 100)}" (GITHUB_ORGS: ${config.orgs.join(", ")})`, { extensions: { field: "org" } });
          return isolation.ensureManaged(org, p, {}, true);
        },
      }
    : {};
  const policies = new PolicyService(parts.storage, { ...(config.defaultRunnerGroupId !== undefined ? { defaultRunnerGroupId: config.defaultRunnerGroupId } : {}), groups: (org) => gh.orgs.get(org.toLowerCase())?.github ?? gh.github, orgs: config.orgs, ...managedGroup });
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
    Date.now,
    // The organisations served now (one dropped from GITHUB_ORGS is no longer synced or reported).
    async () => (await parts.storage.listRunnerGroupExposures()).filter((e) => gh.isolation.has(e.org)),
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
    readiness: { snapshot: () => readiness.snapshot(), failingGroups: () => readiness.failingGroups(), exposedGroups: () => readiness.exposedGroups(), severalOrgs: config.orgs.length > 1 },
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
