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
import { GitHubRunners } from "./github-runners.ts";
import { createApp } from "./http/app.ts";
import { BrokerMetrics } from "./metrics.ts";
import { OidcVerifier } from "./oidc.ts";
import { IssuerRegistry } from "./oidc/issuers.ts";
import { GitHubTokens } from "./github-tokens.ts";
import { TokenService } from "./service/tokens.ts";
import { TrustPolicyService } from "./service/trust-policies.ts";
import { OwnerBinding } from "./owner-binding.ts";
import { Baseline } from "./service/baseline.ts";
import { Journal } from "./service/journal.ts";
import { PolicyService } from "./service/policies.ts";
import { RunnerService } from "./service/runners.ts";
import { openStorage } from "./storage/open.ts";
import type { Storage } from "./storage/storage.ts";
import { Sync, SyncLoop } from "./sync.ts";

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
  return { storage, metrics: new BrokerMetrics(), policies: new PolicyService(storage), journal: new Journal(storage), trustPolicies: new TrustPolicyService(storage) };
}

export interface GitHubParts {
  github: GitHubRunners;
  tokens: InstallationTokenCache;
  /** whose repositories' tokens are accepted; learns the organisation's id from GitHub */
  owners: OwnerBinding;
  baseline: Baseline;
  sync: Sync;
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
  return { github, tokens, owners, baseline, sync, minter };
}

export function replicaId(): string {
  return `${hostname()}-${process.pid}-${randomBytes(3).toString("hex")}`;
}

export function createService(config: BrokerConfig, parts: BrokerParts, gh: GitHubParts, logger: Logger) {
  const verifier = new OidcVerifier({ ...config.oidc, timeoutMs: config.requestTimeoutMs });
  const runners = new RunnerService({ storage: parts.storage, github: gh.github, policies: parts.policies, baseline: gh.baseline, metrics: parts.metrics, logger, githubUrl: config.githubUrl, org: config.org });
  const app = createApp({
    runners,
    policies: parts.policies,
    journal: parts.journal,
    verifier,
    owners: gh.owners,
    issuer: config.oidc.issuer,
    metrics: parts.metrics,
    logger,
    admins: config.adminIdentities,
    callerRatePerMinute: config.callerRatePerMinute,
    readiness: { database: () => parts.storage.ping(), github: () => gh.github.check() },
    exchange: {
      tokens: new TokenService({ storage: parts.storage, policies: parts.trustPolicies, github: gh.minter, metrics: parts.metrics, logger }),
      trustPolicies: parts.trustPolicies,
      issuers: new IssuerRegistry({ audiencesOf: (issuer) => parts.trustPolicies.audiencesOf(issuer), jwksFiles: config.issuerJwksFiles, timeoutMs: config.requestTimeoutMs }),
      ratePerMinute: config.tokenRatePerMinute,
    },
  });
  const loop = new SyncLoop(gh.sync, parts.storage, replicaId(), config.syncIntervalMs, parts.metrics, logger);
  return { app, verifier, runners, loop };
}
