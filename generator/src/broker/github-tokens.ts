// The broker's side of GitHub for the token exchange: an account's installation (the core's
// lookup, GET /users/{owner}/installation, remembered for a while) and a narrowed installation
// token (the core's POST /app/installations/{id}/access_tokens with repositories and permissions,
// its answer checked by access-token.ts). Failures become BrokerErrors; GitHub's own messages are
// never passed on.
// https://docs.github.com/rest/apps/apps#create-an-installation-access-token-for-an-app
import { createInstallationToken, type InstallationToken } from "../core/access-token.ts";
import { ExitCode, GhappError } from "../core/errors.ts";
import type { Auth, GitHubClient } from "../core/github-client.ts";
import { findInstallation } from "../core/installation.ts";
import type { PermissionLevel } from "../core/permissions.ts";
import { BrokerError } from "./errors.ts";

/** How long an owner's installation id is remembered (an App is rarely re-installed). */
export const INSTALLATION_TTL_MS = 10 * 60_000;

export interface TokenMinter {
  /** The App's installation on `owner`. */
  installationFor(owner: string): Promise<number>;
  mint(installationId: number, scope: { repositories: string[] | null; permissions: Record<string, PermissionLevel> }): Promise<InstallationToken>;
  /** GitHub's clock (ms), by which a token's remaining life is judged. */
  now(): number;
}

export class GitHubTokens implements TokenMinter {
  private readonly installations = new Map<string, { id: Promise<number>; at: number }>();

  constructor(
    private readonly client: GitHubClient,
    private readonly appAuth: Auth,
    /** an installation id known from configuration, for its account (GITHUB_APP_INSTALLATION_ID and GITHUB_ORG) */
    private readonly known: { owner: string; installationId: number } | undefined = undefined,
    private readonly clock: () => number = Date.now,
  ) {}

  now(): number {
    return this.client.githubNow();
  }

  installationFor(owner: string): Promise<number> {
    const key = owner.toLowerCase();
    if (this.known && this.known.owner.toLowerCase() === key) return Promise.resolve(this.known.installationId);
    const hit = this.installations.get(key);
    if (hit && this.clock() - hit.at < INSTALLATION_TTL_MS) return hit.id;
    const id = findInstallation(this.client, this.appAuth, { owner, repositories: [] }).catch(async (e) => {
      // GitHub unavailable: the id known before still holds (an installation's id does not change
      // while it exists), so cached tokens keep being handed out through an outage.
      const stale = hit && e instanceof GhappError && e.exitCode === ExitCode.unavailable ? await hit.id.catch(() => undefined) : undefined;
      if (stale !== undefined) {
        this.installations.set(key, { id: Promise.resolve(stale), at: this.clock() });
        return stale;
      }
      this.installations.delete(key);
      if (e instanceof GhappError && e.exitCode === ExitCode.notFound) throw new BrokerError("github_misconfigured", `the App has no installation on "${owner}": install it there, or fix the trust policy's owner`);
      throw mapMintError(e, "the installation lookup");
    });
    if (this.installations.size > 10_000) this.installations.clear();
    this.installations.set(key, { id, at: this.clock() });
    return id;
  }

  async mint(installationId: number, scope: { repositories: string[] | null; permissions: Record<string, PermissionLevel> }): Promise<InstallationToken> {
    try {
      return await createInstallationToken(this.client, this.appAuth, installationId, {
        repositories: (scope.repositories ?? []).map((name) => ({ name })),
        permissions: scope.permissions,
      });
    } catch (e) {
      throw mapMintError(e, "POST /app/installations/{id}/access_tokens");
    }
  }
}

function mapMintError(e: unknown, what: string): unknown {
  if (e instanceof BrokerError) return e;
  if (e instanceof GhappError) {
    const waitSeconds = typeof e.details.waitSeconds === "number" ? e.details.waitSeconds : undefined;
    if (e.exitCode === ExitCode.unavailable) return new BrokerError("github_unavailable", `GitHub is unavailable for ${what}: retry later`, waitSeconds ? { retryAfterSeconds: waitSeconds } : {});
    // 422: "There is at least one repository that does not exist or is not accessible to the
    // parent installation", or a permission the installation was not granted.
    if (e.details.status === 422) return new BrokerError("invalid_request", "GitHub refused the scope: a repository is not in the owner's installation, or the App was not granted a permission asked for", { extensions: { field: "repositories" } });
    if (e.exitCode === ExitCode.credentials) return new BrokerError("github_misconfigured", `GitHub refused the App's credentials for ${what}: check GITHUB_APP_ID and the private key`);
    return new BrokerError("github_misconfigured", `GitHub refused ${what} (HTTP ${String(e.details.status ?? "?")}): check the installation and the trust policy's owner`);
  }
  return e;
}
