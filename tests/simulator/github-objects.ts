// The objects the simulator answers with, whole, as GitHub's REST reference shows them: an account
// (Simple User, for users and organizations alike), a repository, an installation, the App. The
// simulator keeps a small model of each (simulator.ts: Installation, Repository); these functions
// render it with every field GitHub's OpenAPI description requires (@octokit/openapi, checked by
// conformance.ts), following GitHub's examples:
// - Installation and its account: https://docs.github.com/rest/apps/apps#get-an-installation-for-the-authenticated-app
// - Repository (installation tokens, /installation/repositories): https://docs.github.com/rest/apps/installations#list-repositories-accessible-to-the-app-installation
// - The App: https://docs.github.com/rest/apps/apps#get-the-authenticated-app
// Values nobody in this project reads are GitHub's defaults for a new private repository.
import type { Installation, Repository } from "./simulator.ts";

/** Where objects point: the API base (with /api/v3 on GHES) and the web UI's origin. */
export interface Urls {
  api: string;
  web: string;
}

/** The time every simulated object was created: fixed, so answers are stable. */
const CREATED = "2026-01-01T00:00:00Z";

/** GitHub's legacy global node id: base64 of "0{length of type}:{type}{id}" (e.g. MDQ6VXNlcjE= is 04:User1). */
export function nodeId(type: string, id: number): string {
  return Buffer.from(`0${type.length}:${type}${id}`).toString("base64");
}

export interface Account {
  login: string;
  id: number;
  type: "Organization" | "User";
}

/** A Simple User: what GitHub shows for an account, an organization included (`type: "Organization"`). */
export function accountJson(a: Account, u: Urls) {
  const user = `${u.api}/users/${a.login}`;
  const org = a.type === "Organization";
  return {
    login: a.login,
    id: a.id,
    node_id: nodeId(a.type, a.id),
    avatar_url: `${u.web}/avatars/u/${a.id}?v=4`,
    gravatar_id: "",
    url: org ? `${u.api}/orgs/${a.login}` : user,
    html_url: `${u.web}/${a.login}`,
    followers_url: `${user}/followers`,
    following_url: `${user}/following{/other_user}`,
    gists_url: `${user}/gists{/gist_id}`,
    starred_url: `${user}/starred{/owner}{/repo}`,
    subscriptions_url: `${user}/subscriptions`,
    organizations_url: `${user}/orgs`,
    repos_url: org ? `${u.api}/orgs/${a.login}/repos` : `${user}/repos`,
    events_url: org ? `${u.api}/orgs/${a.login}/events` : `${user}/events{/privacy}`,
    received_events_url: `${user}/received_events`,
    type: a.type,
    user_view_type: "public",
    site_admin: false,
  };
}

export function repositoryJson(r: Repository, owner: Account, u: Urls) {
  const api = `${u.api}/repos/${r.full_name}`;
  const host = new URL(u.web).host;
  return {
    id: r.id,
    node_id: nodeId("Repository", r.id),
    name: r.name,
    full_name: r.full_name,
    private: r.private,
    owner: accountJson(owner, u),
    html_url: `${u.web}/${r.full_name}`,
    description: null,
    fork: false,
    url: api,
    archive_url: `${api}/{archive_format}{/ref}`,
    assignees_url: `${api}/assignees{/user}`,
    blobs_url: `${api}/git/blobs{/sha}`,
    branches_url: `${api}/branches{/branch}`,
    collaborators_url: `${api}/collaborators{/collaborator}`,
    comments_url: `${api}/comments{/number}`,
    commits_url: `${api}/commits{/sha}`,
    compare_url: `${api}/compare/{base}...{head}`,
    contents_url: `${api}/contents/{+path}`,
    contributors_url: `${api}/contributors`,
    deployments_url: `${api}/deployments`,
    downloads_url: `${api}/downloads`,
    events_url: `${api}/events`,
    forks_url: `${api}/forks`,
    git_commits_url: `${api}/git/commits{/sha}`,
    git_refs_url: `${api}/git/refs{/sha}`,
    git_tags_url: `${api}/git/tags{/sha}`,
    git_url: `git://${host}/${r.full_name}.git`,
    issue_comment_url: `${api}/issues/comments{/number}`,
    issue_events_url: `${api}/issues/events{/number}`,
    issues_url: `${api}/issues{/number}`,
    keys_url: `${api}/keys{/key_id}`,
    labels_url: `${api}/labels{/name}`,
    languages_url: `${api}/languages`,
    merges_url: `${api}/merges`,
    milestones_url: `${api}/milestones{/number}`,
    notifications_url: `${api}/notifications{?since,all,participating}`,
    pulls_url: `${api}/pulls{/number}`,
    releases_url: `${api}/releases{/id}`,
    ssh_url: `git@${host}:${r.full_name}.git`,
    stargazers_url: `${api}/stargazers`,
    statuses_url: `${api}/statuses/{sha}`,
    subscribers_url: `${api}/subscribers`,
    subscription_url: `${api}/subscription`,
    tags_url: `${api}/tags`,
    teams_url: `${api}/teams`,
    trees_url: `${api}/git/trees{/sha}`,
    clone_url: `${u.web}/${r.full_name}.git`,
    mirror_url: null,
    hooks_url: `${api}/hooks`,
    svn_url: `${u.web}/${r.full_name}`,
    homepage: null,
    language: null,
    forks_count: 0,
    stargazers_count: 0,
    watchers_count: 0,
    size: 0,
    default_branch: "main",
    open_issues_count: 0,
    is_template: false,
    topics: [],
    has_issues: true,
    has_projects: true,
    has_wiki: false,
    has_pages: false,
    has_downloads: true,
    has_discussions: false,
    archived: false,
    disabled: false,
    visibility: r.private ? "private" : "public",
    pushed_at: CREATED,
    created_at: CREATED,
    updated_at: CREATED,
    permissions: { admin: false, maintain: false, push: false, triage: false, pull: true },
    allow_forking: false,
    web_commit_signoff_required: false,
    license: null,
    forks: 0,
    open_issues: 0,
    watchers: 0,
  };
}

export interface InstallationContext {
  urls: Urls;
  appId: number;
  clientId: string;
  appSlug: string;
}

export function installationJson(inst: Installation, c: InstallationContext) {
  const { urls: u } = c;
  const org = inst.account.type === "Organization";
  return {
    id: inst.id,
    client_id: c.clientId,
    account: accountJson(inst.account, u),
    repository_selection: inst.repository_selection,
    access_tokens_url: `${u.api}/app/installations/${inst.id}/access_tokens`,
    repositories_url: `${u.api}/installation/repositories`,
    html_url: org ? `${u.web}/organizations/${inst.account.login}/settings/installations/${inst.id}` : `${u.web}/settings/installations/${inst.id}`,
    app_id: c.appId,
    app_slug: c.appSlug,
    target_id: inst.account.id,
    target_type: inst.account.type,
    permissions: inst.permissions,
    events: [],
    created_at: CREATED,
    updated_at: CREATED,
    single_file_name: null,
    has_multiple_single_files: false,
    single_file_paths: [],
    // GitHub shows who suspended it: a Simple User (here an administrator of the account).
    suspended_by: inst.suspended_at ? accountJson({ login: "acme-admin", id: 1, type: "User" }, u) : null,
    suspended_at: inst.suspended_at,
  };
}

/** The App (GET /app). Its owner is the account that registered it: here the first installation's. */
export function appJson(c: InstallationContext & { owner: Account; permissions: Record<string, string>; installationsCount: number }) {
  return {
    id: c.appId,
    slug: c.appSlug,
    client_id: c.clientId,
    node_id: nodeId("Integration", c.appId),
    owner: accountJson(c.owner, c.urls),
    name: "ghapp-tokens simulator",
    description: "The GitHub App of the ghapp-tokens test simulator",
    external_url: c.urls.web,
    html_url: `${c.urls.web}/apps/${c.appSlug}`,
    created_at: CREATED,
    updated_at: CREATED,
    permissions: c.permissions,
    events: [],
    installations_count: c.installationsCount,
  };
}

/** GET / (the API root): where things are, as https://docs.github.com/rest/meta/meta#github-api-root shows it. */
export function rootJson(u: Urls) {
  const a = u.api;
  const search = (what: string) => `${a}/search/${what}?q={query}{&page,per_page,sort,order}`;
  return {
    current_user_url: `${a}/user`,
    current_user_authorizations_html_url: `${u.web}/settings/connections/applications{/client_id}`,
    authorizations_url: `${a}/authorizations`,
    code_search_url: search("code"),
    commit_search_url: search("commits"),
    emails_url: `${a}/user/emails`,
    emojis_url: `${a}/emojis`,
    events_url: `${a}/events`,
    feeds_url: `${a}/feeds`,
    followers_url: `${a}/user/followers`,
    following_url: `${a}/user/following{/target}`,
    gists_url: `${a}/gists{/gist_id}`,
    hub_url: `${a}/hub`,
    issue_search_url: search("issues"),
    issues_url: `${a}/issues`,
    keys_url: `${a}/user/keys`,
    label_search_url: `${a}/search/labels?q={query}&repository_id={repository_id}{&page,per_page}`,
    notifications_url: `${a}/notifications`,
    organization_url: `${a}/orgs/{org}`,
    organization_repositories_url: `${a}/orgs/{org}/repos{?type,page,per_page,sort}`,
    organization_teams_url: `${a}/orgs/{org}/teams`,
    public_gists_url: `${a}/gists/public`,
    rate_limit_url: `${a}/rate_limit`,
    repository_url: `${a}/repos/{owner}/{repo}`,
    repository_search_url: search("repositories"),
    current_user_repositories_url: `${a}/user/repos{?type,page,per_page,sort}`,
    starred_url: `${a}/user/starred{/owner}{/repo}`,
    starred_gists_url: `${a}/gists/starred`,
    topic_search_url: `${a}/search/topics?q={query}{&page,per_page}`,
    user_url: `${a}/users/{user}`,
    user_organizations_url: `${a}/user/orgs`,
    user_repositories_url: `${a}/users/{user}/repos{?type,page,per_page,sort}`,
    user_search_url: search("users"),
  };
}
