// Exchanges the app JWT for an installation token:
// POST /app/installations/{id}/access_tokens, scoped by repository names and permissions.
// https://docs.github.com/rest/apps/apps#create-an-installation-access-token-for-an-app
import type { RepositorySelector } from "./installation.ts";
import type { PermissionLevel } from "./permissions.ts";
import type { Auth, GitHubClient } from "./github-client.ts";

export interface InstallationToken {
  token: string;
  expiresAt: string;
  installationId: number;
  permissions: Record<string, string>;
  repositories: string[] | null;
  repositorySelection: string;
}

interface AccessTokenJson {
  token: string;
  expires_at: string;
  permissions?: Record<string, string>;
  repository_selection?: string;
  repositories?: Array<{ full_name: string }>;
}

export async function createInstallationToken(client: GitHubClient, auth: Auth, installationId: number, config: { repositories: RepositorySelector[]; permissions?: Record<string, PermissionLevel> }): Promise<InstallationToken> {
  const body: Record<string, unknown> = {};
  // GitHub takes names only; the owner is the installation's account.
  if (config.repositories.length) body.repositories = config.repositories.map((r) => r.name);
  if (config.permissions) body.permissions = config.permissions;
  const res = await client.request<AccessTokenJson>("POST", `/app/installations/${installationId}/access_tokens`, auth, Object.keys(body).length ? body : undefined);
  return {
    token: res.data.token,
    expiresAt: res.data.expires_at,
    installationId,
    permissions: res.data.permissions ?? {},
    repositories: res.data.repositories ? res.data.repositories.map((r) => r.full_name) : null,
    repositorySelection: res.data.repository_selection ?? "all",
  };
}
