// What `serve` checks before it listens, and how it tells a mistake from a bad moment:
// - a misconfiguration that waiting cannot fix stops the start with exit 2 and the fix: an
//   OIDC_ISSUER whose discovery document names another issuer (a trailing slash, a wrong path) or
//   that has none (404), an org the App is not installed on, a runner group (a policy's or
//   DEFAULT_RUNNER_GROUP_ID) that GitHub does not have;
// - a dependency that is down (the issuer or GitHub unreachable, answering 5xx) leaves the broker
//   running and not ready: /ready answers 503 naming it and why, and the log says it once.
import { configError, ExitCode, GhappError } from "../core/errors.ts";
import type { Logger } from "../core/logger.ts";
import type { BrokerConfig } from "./config.ts";
import { mapError, type GitHubRunnerApi } from "./github-runners.ts";
import type { InstallationTokenCache } from "../core/installation-token-cache.ts";
import { IssuerUnavailableError, type OidcVerifier } from "./oidc.ts";
import type { Readiness } from "./readiness.ts";
import type { LabelPolicy } from "./storage/storage.ts";

export interface StartCheckParts {
  config: BrokerConfig;
  verifier: OidcVerifier;
  tokens: InstallationTokenCache;
  github: GitHubRunnerApi;
  readiness: Readiness;
  logger: Logger;
  /** the policies POLICY_FILE is about to apply */
  policies: readonly LabelPolicy[];
  /** GITHUB_ORGS: every organisation's token and runners (the first is `tokens` and `github`); unset: the first alone */
  orgs?: readonly { org: string; tokens: InstallationTokenCache; github: GitHubRunnerApi }[];
}

const orgsOf = (p: StartCheckParts) => p.orgs ?? [{ org: p.config.org, tokens: p.tokens, github: p.github }];

export async function runStartChecks(p: StartCheckParts): Promise<void> {
  const [issuer, github] = await Promise.allSettled([checkIssuer(p), checkGitHub(p)]);
  // A configuration error from either stops the start; the issuer's is reported first.
  for (const r of [issuer, github]) if (r.status === "rejected") throw r.reason;
  if (github.status === "fulfilled" && github.value) await checkRunnerGroups(p);
}

async function checkIssuer(p: StartCheckParts): Promise<void> {
  try {
    await p.verifier.discover();
    p.readiness.record("issuer", { ok: true });
  } catch (e) {
    if (e instanceof IssuerUnavailableError && e.permanent) throw configError(`OIDC_ISSUER: ${e.message}`);
    p.readiness.record("issuer", { ok: false, reason: e instanceof Error ? e.message : "OIDC discovery failed" });
  }
}

/** true when GitHub answered with an installation token (so runner groups can be checked). */
async function checkGitHub(p: StartCheckParts): Promise<boolean> {
  const several = orgsOf(p).length > 1;
  for (const { org, tokens } of orgsOf(p)) {
    try {
      await tokens.token();
    } catch (e) {
      // The installation lookup by org answered 404: the App is not installed there (or the org
      // is misspelt). Retrying will not install it.
      if (e instanceof GhappError && e.exitCode === ExitCode.notFound && e.details.owner !== undefined) {
        if (!several) throw configError(`the App is not installed on the organisation GITHUB_ORG=${org} (GitHub answers 404 for its installation): install it there (the App's settings → Install App) with "Self-hosted runners: read and write", or fix GITHUB_ORG`);
        // One of several: the others are served. An organisation that uninstalls the App must not
        // take the broker down for every other one at the next restart; the sync names its groups
        // in /ready (degraded) until the App is installed again or the list fixed.
        p.logger.error("the App is not installed on an organisation in GITHUB_ORGS (GitHub answers 404 for its installation); the other organisations are served: install it there (the App's settings → Install App) with \"Self-hosted runners: read and write\", or remove it from GITHUB_ORGS", { org });
        continue;
      }
      const mapped = mapError(e, "minting an installation token");
      const reason = mapped instanceof Error ? mapped.message : "GitHub failed";
      p.readiness.record("github", { ok: false, reason: several ? `${org}: ${reason}` : reason });
      return false;
    }
  }
  p.readiness.record("github", { ok: true });
  return true;
}

/** Every group POLICY_FILE names, and DEFAULT_RUNNER_GROUP_ID, must exist at GitHub. */
async function checkRunnerGroups(p: StartCheckParts): Promise<void> {
  const orgs = orgsOf(p);
  p.policies.forEach((policy, i) => {
    if (policy.org !== undefined && !orgs.some((o) => o.org.toLowerCase() === policy.org!.toLowerCase())) {
      throw configError(`POLICY_FILE: ${i}.org (the policy for "${policy.userIdentity.slice(0, 256)}") is ${policy.org}, which the broker does not serve: name one of ${orgs.map((o) => o.org).join(", ")}, or add it to GITHUB_ORGS`);
    }
  });
  for (const [n, { org, github }] of orgs.entries()) {
    // A policy naming no organisation is the first's, as is DEFAULT_RUNNER_GROUP_ID's check.
    const mine = p.policies.filter((policy) => (policy.org ?? p.config.org).toLowerCase() === org.toLowerCase());
    await checkPolicyRunnerGroups({ github, logger: p.logger, org, policies: mine, where: "POLICY_FILE", ...(n === 0 && p.config.defaultRunnerGroupId !== undefined ? { defaultRunnerGroupId: p.config.defaultRunnerGroupId } : {}) });
  }
}

/**
 * The runner groups of a policy file (and DEFAULT_RUNNER_GROUP_ID) must exist at GitHub: exit 2
 * naming the first policy whose group GitHub answers 404 for. When GitHub cannot say (down), the
 * file is not refused for it: the sync reports a group that really is missing.
 */
export async function checkPolicyRunnerGroups(o: { github: GitHubRunnerApi; logger: Logger; org: string; policies: readonly LabelPolicy[]; where: string; defaultRunnerGroupId?: number }): Promise<void> {
  const wanted = new Map<number, string>();
  if (o.defaultRunnerGroupId !== undefined) wanted.set(o.defaultRunnerGroupId, "DEFAULT_RUNNER_GROUP_ID");
  o.policies.forEach((policy, i) => {
    if (!wanted.has(policy.runnerGroupId)) wanted.set(policy.runnerGroupId, `${o.where}: ${i}.runner_group_id (the policy for "${policy.userIdentity.slice(0, 256)}")`);
  });
  for (const [group, where] of wanted) {
    let exists: boolean;
    try {
      exists = await o.github.runnerGroupExists(group);
    } catch (e) {
      o.logger.warn("cannot check a runner group at GitHub now; the sync will report it if it is missing", { runner_group_id: group, reason: e instanceof Error ? e.message : "error" });
      continue;
    }
    if (!exists) throw configError(`${where}: GitHub has no runner group ${group} in ${o.org}: create it (organisation settings → Actions → Runner groups) or name an existing group`);
  }
}
