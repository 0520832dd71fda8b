// GITHUB_API_URL ending in /api/v3 is the form of GitHub Enterprise Server's API. Pointed at a
// host that is not GHES, every request answers 404, which on its own reads as "the App is not
// installed there". Before such an answer is reported, ask the host whether it is GHES: its
// GET /meta carries installed_version (https://docs.github.com/enterprise-server@latest/rest/meta/meta),
// GitHub.com's has none, and another server has no /meta under /api/v3 at all.
import { configError, ExitCode, GhappError } from "../core/errors.ts";
import type { Auth, GitHubClient } from "../core/github-client.ts";

/** Hosts that serve GitHub.com's API, which never lives under /api/v3. */
const GITHUB_COM_HOSTS = new Set(["github.com", "www.github.com", "api.github.com"]);

export const looksLikeGhesUrl = (apiUrl: string): boolean => /\/api\/v3$/.test(new URL(apiUrl).pathname.replace(/\/+$/, ""));

/** Checked with the configuration: GitHub.com with GHES's path, before any request. */
export function checkApiUrlHost(apiUrl: URL): void {
  if (looksLikeGhesUrl(apiUrl.toString()) && GITHUB_COM_HOSTS.has(apiUrl.hostname.toLowerCase())) {
    throw configError(`GITHUB_API_URL ends in /api/v3, the form of a GitHub Enterprise Server's API, but ${apiUrl.hostname} is GitHub.com: use https://api.github.com`);
  }
}

/**
 * `error` is a 404 from GitHub (findInstallation's own "not installed" carries no status); when GITHUB_API_URL looks like GHES's and the host does not answer
 * as GHES does, the URL is the problem, not the installation: say that instead.
 */
export async function explainNotFound(error: unknown, apiUrl: string, client: GitHubClient, auth: Auth): Promise<unknown> {
  if (!(error instanceof GhappError) || error.exitCode !== ExitCode.notFound || (error.details.status ?? 404) !== 404 || !looksLikeGhesUrl(apiUrl)) return error;
  let ghes = false;
  try {
    const meta = await client.request<unknown>("GET", "/meta", auth);
    ghes = !!meta.data && typeof meta.data === "object" && typeof (meta.data as { installed_version?: unknown }).installed_version === "string";
  } catch (e) {
    // Not reachable now: keep the original answer. A 404 or a non-GitHub answer: not GHES.
    if (e instanceof GhappError && e.exitCode === ExitCode.unavailable && e.details.status === undefined) return error;
  }
  if (ghes) return error;
  const host = new URL(apiUrl).host;
  return configError(
    `GITHUB_API_URL ends in /api/v3, the form of a GitHub Enterprise Server's API, but ${host} does not answer as GitHub Enterprise Server does (its GET /meta has no installed_version), so its 404 says nothing about the App: check the host in GITHUB_API_URL; for GitHub.com use https://api.github.com`,
    { status: 404, request: error.details.request },
  );
}
