// Finds the installation to mint for, in GitHub's cheapest order:
// INSTALLATION_ID as given; else the owner (OWNER, or the owner of an owner/repo entry) through
// GET /repos/{owner}/{repo}/installation or GET /users/{owner}/installation (which also finds
// organisations); else the app's only installation, paging through GET /app/installations.
// https://docs.github.com/rest/apps/apps
import { configError, GhappError, notFoundError, unavailableError } from "./errors.ts";
import type { Auth, GitHubClient } from "./github-client.ts";

export interface RepositorySelector {
  owner?: string;
  name: string;
}

/** What selects the installation: an ID, or an owner (with a repository to ask about), or neither. */
export interface InstallationSelector {
  installationId?: number;
  owner?: string;
  repositories: RepositorySelector[];
}

export interface InstallationSummary {
  id: number;
  account: string;
  accountType: string;
  repositorySelection: string;
  suspended: boolean;
}

interface InstallationJson {
  id: number;
  account: { login: string; type: string } | null;
  repository_selection: string;
  suspended_at: string | null;
}

// GitHub's answers are untrusted: an installation must have a positive safe-integer id (it goes
// into the next request's path) and, where shown, an account login of GitHub's login characters.
function malformed(what: string): GhappError {
  return unavailableError(`GitHub's answer about ${what} is malformed: a proxy or another server answered, or GITHUB_API_URL does not point at GitHub's API (GitHub Enterprise Server: https://HOST/api/v3)`, {
    reason: "malformed installation answer",
  });
}

function checkInstallation(data: unknown, what: string): InstallationJson {
  const i = data as Partial<InstallationJson> | null;
  if (!i || typeof i !== "object" || typeof i.id !== "number" || !Number.isSafeInteger(i.id) || i.id <= 0) throw malformed(what);
  const login = i.account?.login;
  if (login !== undefined && (typeof login !== "string" || !/^[A-Za-z0-9-]{1,39}$/.test(login))) throw malformed(what);
  return i as InstallationJson;
}

function summarise(i: InstallationJson): InstallationSummary {
  const text = (v: unknown) => (typeof v === "string" && /^[A-Za-z]{1,20}$/.test(v) ? v : "");
  return { id: i.id, account: i.account?.login ?? "", accountType: text(i.account?.type), repositorySelection: text(i.repository_selection), suspended: !!i.suspended_at };
}

export async function listInstallations(client: GitHubClient, auth: Auth): Promise<InstallationSummary[]> {
  const all = await client.paginate<InstallationJson>("/app/installations", auth, (page) => {
    if (!Array.isArray(page)) throw malformed("the App's installations");
    return page.map((i) => checkInstallation(i, "the App's installations"));
  });
  return all.map(summarise);
}

export async function findInstallation(client: GitHubClient, auth: Auth, config: InstallationSelector): Promise<number> {
  if (config.installationId !== undefined) return config.installationId;

  if (config.owner) {
    const owner = config.owner;
    const repo = config.repositories[0]?.name;
    const path = repo ? `/repos/${encodeURIComponent(owner)}/${encodeURIComponent(repo)}/installation` : `/users/${encodeURIComponent(owner)}/installation`;
    try {
      const res = await client.request<unknown>("GET", path, auth);
      return checkInstallation(res.data, "the installation").id;
    } catch (e) {
      if (e instanceof GhappError && e.details.status === 404) {
        throw notFoundError(
          repo
            ? `the App is not installed on ${owner}/${repo} (GitHub said "Not Found"): install the App on that repository, or fix OWNER/REPOSITORIES`
            : `the App has no installation for the account "${owner}" (GitHub said "Not Found"): install the App there, or fix OWNER`,
          { owner, ...(repo ? { repository: repo } : {}) },
        );
      }
      throw e;
    }
  }

  const installations = await listInstallations(client, auth);
  if (installations.length === 1) return installations[0]!.id;
  if (installations.length === 0) {
    throw notFoundError("the App has no installations: install it on an organisation or user account first (App settings → Install App)");
  }
  const logins = installations.map((i) => i.account).sort((a, b) => a.localeCompare(b));
  throw configError(
    `the App has ${installations.length} installations (${logins.join(", ")}) and nothing selects one: set OWNER to one of these logins, or INSTALLATION_ID (list them with \`ghapp-token installations\`)`,
    { installations: logins },
  );
}

/**
 * INSTALLATION_ID is used as given, so a number copied from another account's installation would
 * mint a token for that account while OWNER (or REPOSITORIES) names this one. When both are given,
 * GET /app/installations/{id} says whose installation it is; a disagreement is a configuration
 * error naming both accounts (logins are GitHub's and shown only after checkInstallation).
 */
export async function checkInstallationAccount(client: GitHubClient, auth: Auth, installationId: number, owner: string, ownerVariable: string): Promise<void> {
  const res = await client.request<unknown>("GET", `/app/installations/${installationId}`, auth);
  const account = checkInstallation(res.data, "the installation").account?.login;
  if (account && account.toLowerCase() !== owner.toLowerCase()) {
    throw configError(
      `INSTALLATION_ID ${installationId} is the App's installation on "${account}", but ${ownerVariable} names "${owner}": the token would be for "${account}"; unset INSTALLATION_ID to find ${owner}'s installation, or fix ${ownerVariable}`,
      { installation_id: installationId, installation_account: account, owner },
    );
  }
}
