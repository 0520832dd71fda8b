// PERMISSIONS="contents=read,pull_requests=write" → { contents: "read", pull_requests: "write" },
// the `permissions` body of POST /app/installations/{id}/access_tokens
// (https://docs.github.com/rest/apps/apps#create-an-installation-access-token-for-an-app).
//
// Names and levels are checked against GitHub's published list (the `app-permissions` schema of
// that endpoint in GitHub's REST API description), so a typo fails here with "did you mean",
// before a token is minted, rather than as a 422 from GitHub. Entries are named by position,
// never repeated: a mistyped value may be a secret pasted into the wrong variable.
import { configError } from "./errors.ts";
import { closest } from "./suggest.ts";

export type PermissionLevel = "read" | "write" | "admin";

const RW = ["read", "write"] as const;
const RWA = ["read", "write", "admin"] as const;

/** Installation-token permissions and the levels GitHub accepts for each. */
export const GITHUB_PERMISSIONS: Readonly<Record<string, readonly PermissionLevel[]>> = {
  // repository permissions
  actions: RW,
  administration: RW,
  artifact_metadata: RW,
  attestations: RW,
  checks: RW,
  codespaces: RW,
  contents: RW,
  dependabot_secrets: RW,
  deployments: RW,
  discussions: RW,
  environments: RW,
  issues: RW,
  merge_queues: RW,
  metadata: RW,
  packages: RW,
  pages: RW,
  pull_requests: RW,
  repository_custom_properties: RW,
  repository_hooks: RW,
  repository_projects: RWA,
  secret_scanning_alerts: RW,
  secrets: RW,
  security_events: RW,
  single_file: RW,
  statuses: RW,
  vulnerability_alerts: RW,
  workflows: ["write"],
  // organization permissions
  custom_properties_for_organizations: RW,
  members: RW,
  organization_administration: RW,
  organization_custom_roles: RW,
  organization_custom_org_roles: RW,
  organization_custom_properties: RWA,
  organization_copilot_seat_management: ["write"],
  organization_announcement_banners: RW,
  organization_events: ["read"],
  organization_hooks: RW,
  organization_personal_access_tokens: RW,
  organization_personal_access_token_requests: RW,
  organization_plan: ["read"],
  organization_projects: RWA,
  organization_packages: RW,
  organization_secrets: RW,
  organization_self_hosted_runners: RW,
  organization_user_blocking: RW,
  team_discussions: RW,
  // account permissions
  email_addresses: RW,
  followers: RW,
  git_ssh_keys: RW,
  gpg_keys: RW,
  interaction_limits: RW,
  profile: ["write"],
  starring: RW,
  // enterprise permissions
  enterprise_custom_properties_for_organizations: RWA,
};

export function parsePermissions(value: string): Record<string, PermissionLevel> {
  const result: Record<string, PermissionLevel> = {};
  const entries = value.split(",").map((e) => e.trim());
  entries.forEach((entry, index) => {
    if (!entry) return;
    const which = `PERMISSIONS entry ${index + 1}`;
    const match = /^([A-Za-z][A-Za-z0-9_-]{0,63})\s*=\s*([A-Za-z]{1,10})$/.exec(entry);
    if (!match) throw configError(`${which} is malformed: write name=level pairs separated by commas, e.g. contents=read,pull_requests=write`);
    const [, name, level] = match as unknown as [string, string, string];
    const levels = GITHUB_PERMISSIONS[name];
    if (!levels) {
      const guess = closest(name.replace(/-/g, "_"), Object.keys(GITHUB_PERMISSIONS));
      throw configError(`${which} names a permission GitHub does not have${guess ? `: did you mean ${guess}?` : ""} (the names are listed at https://docs.github.com/rest/apps/apps#create-an-installation-access-token-for-an-app)`);
    }
    if (!(levels as readonly string[]).includes(level)) throw configError(`${which}: ${name} takes ${levels.join(" or ")}`);
    if (name in result) throw configError(`PERMISSIONS lists ${name} twice; give each permission once`);
    result[name] = level as PermissionLevel;
  });
  if (Object.keys(result).length === 0) throw configError("PERMISSIONS is set but lists no permission: write name=level pairs, or leave it unset for all the app's permissions");
  return result;
}
