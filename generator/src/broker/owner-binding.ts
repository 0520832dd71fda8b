// Owner binding: whose repositories may call the broker at all, decided from a verified token's
// claims before any policy is looked up.
//
// Why: with GitHub Actions as the issuer, every repository on github.com can mint a token for any
// audience it names (`core.getIDToken("ghapp-runner-broker")`). Issuer, audience and signature
// therefore say "some GitHub Actions job", not "one of ours", and the default "*" policy would give a
// runner in the org's group to any stranger. GitHub sets `repository_owner` (and its immutable
// `repository_owner_id`) itself, so they are what ties a token to an organisation
// (https://docs.github.com/actions/reference/security/oidc#oidc-token-claims). Because this runs
// before the policy lookup, even a policy written for a stranger's exact `sub` does not admit it.
import type { JWTPayload } from "jose";

/** GitHub Actions' issuer on github.com; GitHub Enterprise Server's is https://HOST/_services/token. */
export const GITHUB_ACTIONS_ISSUER = "https://token.actions.githubusercontent.com";

export interface OwnerBindingSettings {
  /** the broker's organisations (GITHUB_ORG) */
  orgs: string[];
  /** other owners whose repositories may call (ALLOWED_REPOSITORY_OWNERS) */
  allowedOwners: string[];
}

/** Why a token's owner was refused: the claim it names, never the token. */
export interface OwnerRefusal {
  claim: "repository_owner" | "repository_owner_id";
  reason: "missing" | "not_allowed" | "id_mismatch";
  /** the claim's value as the token has it, bounded (a login or an id: not a secret) */
  value?: string;
}

/** Whether an issuer is GitHub Actions': github.com's, a GHES one, or one whose discovery document says it issues repository_owner. */
export function isGitHubActionsIssuer(issuer: string, claimsSupported: readonly string[] | undefined): boolean {
  if (issuer.replace(/\/+$/, "") === GITHUB_ACTIONS_ISSUER) return true;
  if (/^https:\/\/[^/]+\/_services\/token\/?$/.test(issuer)) return true;
  return claimsSupported?.includes("repository_owner") ?? false;
}

export class OwnerBinding {
  private readonly allowed: Set<string>;
  /** the organisations' ids, lower-case login → id, as far as GitHub has told the broker */
  private readonly orgIds = new Map<string, string>();

  constructor(private readonly s: OwnerBindingSettings) {
    this.allowed = new Set([...s.orgs, ...s.allowedOwners].map((o) => o.toLowerCase()));
  }

  /** Records an organisation's id (from GitHub's installation answer), so repository_owner_id is checked too. */
  learnOrgId(login: string, id: number | string): void {
    const key = login.toLowerCase();
    if (this.s.orgs.some((o) => o.toLowerCase() === key)) this.orgIds.set(key, String(id));
  }

  /**
   * null when the token may go on to the policies. A token with a repository_owner must name one of
   * the broker's organisations (case-insensitively; its id too when known) or an allowed owner. With
   * GitHub Actions as the issuer (`requireOwner`), a token without repository_owner is refused.
   */
  check(claims: JWTPayload, requireOwner: boolean): OwnerRefusal | null {
    const owner = claims.repository_owner;
    if (owner === undefined) return requireOwner ? { claim: "repository_owner", reason: "missing" } : null;
    if (typeof owner !== "string" || !this.allowed.has(owner.toLowerCase())) {
      return { claim: "repository_owner", reason: "not_allowed", value: String(owner).slice(0, 100) };
    }
    const knownId = this.orgIds.get(owner.toLowerCase());
    // A login can change hands (an organisation renamed or deleted, its name taken by someone
    // else); the id cannot. GitHub sends it as a string.
    if (knownId !== undefined && String(claims.repository_owner_id) !== knownId) {
      return { claim: "repository_owner_id", reason: "id_mismatch", value: String(claims.repository_owner_id ?? "").slice(0, 40) };
    }
    return null;
  }
}
