// Exchanges the app JWT for an installation token:
// POST /app/installations/{id}/access_tokens, scoped by repository names and permissions.
// https://docs.github.com/rest/apps/apps#create-an-installation-access-token-for-an-app
//
// The answer is untrusted input and is checked before anything is written: a token of token
// characters (either form, token-format.ts), an expires_at that parses and lies ahead of GitHub's
// clock by no more than a day (GitHub's tokens live one hour), and well-formed permissions and
// repositories. Anything else is exit 5: it did not come from GitHub, or GitHub changed.
import type { RepositorySelector } from "./installation.ts";
import type { PermissionLevel } from "./permissions.ts";
import type { Auth, GitHubClient } from "./github-client.ts";
import { unavailableError } from "./errors.ts";
import { isTokenShaped } from "./token-format.ts";

export interface InstallationToken {
  token: string;
  /** ISO 8601, GitHub's clock */
  expiresAt: string;
  installationId: number;
  permissions: Record<string, string>;
  /** owner/name of each repository the token is scoped to; null: all the installation's */
  repositories: string[] | null;
  repositorySelection: string;
}

/** Longest lifetime an answer may claim: GitHub's tokens live one hour. */
export const MAX_TOKEN_LIFETIME_MS = 24 * 3_600_000;

function badAnswer(what: string): Error {
  return unavailableError(
    `GitHub's answer to POST /app/installations/{id}/access_tokens ${what}: a proxy or another server answered, or GITHUB_API_URL does not point at GitHub's API (GitHub Enterprise Server: https://HOST/api/v3); nothing was written`,
    { reason: "malformed token answer" },
  );
}

type Json = Record<string, unknown>;

/** Checks the answer's shape; returns the token's fields or throws exit 5. */
export function parseTokenAnswer(data: unknown, githubNowMs: number): Omit<InstallationToken, "installationId"> {
  if (!data || typeof data !== "object" || Array.isArray(data)) throw badAnswer("is not a JSON object");
  const d = data as Json;
  if (typeof d.token !== "string" || !d.token) throw badAnswer("holds no token");
  if (!isTokenShaped(d.token)) throw badAnswer("holds a token that is not made of token characters (letters, digits, _ . -; 20 to 2048 of them)");
  const expires = typeof d.expires_at === "string" ? Date.parse(d.expires_at) : NaN;
  if (!Number.isFinite(expires)) throw badAnswer("has no valid expires_at");
  if (expires <= githubNowMs) throw badAnswer("has an expires_at in the past (by GitHub's own clock, from its Date header)");
  if (expires > githubNowMs + MAX_TOKEN_LIFETIME_MS) throw badAnswer("has an expires_at more than a day ahead, which GitHub never issues");
  const permissions: Record<string, string> = {};
  if (d.permissions !== undefined) {
    if (!d.permissions || typeof d.permissions !== "object" || Array.isArray(d.permissions)) throw badAnswer("has malformed permissions");
    for (const [name, level] of Object.entries(d.permissions as Json)) {
      if (!/^[a-z][a-z_]{0,63}$/.test(name) || (level !== "read" && level !== "write" && level !== "admin")) throw badAnswer("has malformed permissions");
      permissions[name] = level;
    }
  }
  let repositories: string[] | null = null;
  if (d.repositories !== undefined) {
    if (!Array.isArray(d.repositories)) throw badAnswer("has malformed repositories");
    repositories = d.repositories.map((r: unknown) => {
      const name = r && typeof r === "object" ? (r as Json).full_name : undefined;
      if (typeof name !== "string" || !/^[A-Za-z0-9-]{1,39}\/[A-Za-z0-9._-]{1,100}$/.test(name)) throw badAnswer("has malformed repositories");
      return name;
    });
  }
  const selection = d.repository_selection ?? (repositories ? "selected" : "all");
  if (selection !== "all" && selection !== "selected") throw badAnswer("has a malformed repository_selection");
  return {
    token: d.token,
    // Normalised, so what is written is what was checked, never the answer's own text.
    expiresAt: new Date(expires).toISOString().replace(/\.000Z$/, "Z"),
    permissions,
    repositories,
    repositorySelection: selection,
  };
}

export async function createInstallationToken(client: GitHubClient, auth: Auth, installationId: number, config: { repositories: RepositorySelector[]; permissions?: Record<string, PermissionLevel> }): Promise<InstallationToken> {
  const body: Record<string, unknown> = {};
  // GitHub takes names only; the owner is the installation's account.
  if (config.repositories.length) body.repositories = config.repositories.map((r) => r.name);
  if (config.permissions) body.permissions = config.permissions;
  const res = await client.request<unknown>("POST", `/app/installations/${installationId}/access_tokens`, auth, Object.keys(body).length ? body : undefined);
  return { ...parseTokenAnswer(res.data, client.githubNow()), installationId };
}
