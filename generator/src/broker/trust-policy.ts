// Trust policies: parse (shape), compile (anchored linear-time patterns through the shared
// pattern.ts, bounded), match (a verified token's issuer, audience, subject and claims) and decide
// (the intersection of what a policy grants and what a caller asks for). Beside policy.ts (label
// policies) and kept apart from the HTTP handler and the storage, as octo-sts keeps
// trust_policy.go apart from its exchange handler: a policy is data until compiled, and every
// decision about who gets which installation token is made here.
//
// Differences from octo-sts, on purpose: conditions reach nested claims (`kubernetes.io.namespace`),
// patterns are RE2 and anchored to the whole value (octo-sts' `main|develop` matched
// `main-attacker` until its PR #1643), claim patterns are case-sensitive (a branch `MAIN` is not
// `main`), a request may narrow the grant (repositories, permissions), and policies live with the
// broker, never in a repository a token holder can write.
import { GITHUB_PERMISSIONS, type PermissionLevel } from "../core/permissions.ts";
import { isGitHubActionsIssuer } from "./owner-binding.ts";
import { compilePattern, PatternError, type CompiledPattern } from "./pattern.ts";

export const TRUST_POLICY_NAME_RE = /^[a-z0-9][a-z0-9._-]{0,99}$/;
export const OWNER_RE = /^[A-Za-z0-9][A-Za-z0-9-]{0,38}$/;
export const REPOSITORY_NAME_RE = /^[A-Za-z0-9._-]{1,100}$/;
/** A claim path: dot-separated names (`kubernetes.io.serviceaccount.name`). */
export const CLAIM_PATH_RE = /^[A-Za-z0-9_][A-Za-z0-9_.:/-]{0,199}$/;
export const MAX_CONDITIONS = 20;
export const MAX_REPOSITORIES = 500;
/** RE2 instructions a policy's subject and claim patterns may compile to together: every exchange runs each once. */
export const MAX_TRUST_PROGRAM_SIZE = 1500;
/** Claims a condition may not name: they are the policy's own fields (issuer, audience, subject) or times. */
const RESERVED_CLAIMS = new Set(["iss", "aud", "sub", "exp", "nbf", "iat"]);

export type TrustPolicyMode = "enforce" | "audit";

/** A trust policy, in the service's shape. */
export interface TrustPolicy {
  name: string;
  /** the token's iss, compared exactly */
  issuer: string;
  /** a value the token's aud must hold */
  audience: string;
  /** the token's sub, exactly; or subjectPattern (exactly one of them) */
  subject?: string;
  subjectPattern?: string;
  /** claim path → exact value */
  claims: Record<string, string>;
  /** claim path → anchored RE2 pattern */
  claimPatterns: Record<string, string>;
  /** what the policy grants: one account's installation ... */
  owner: string;
  /** ... these repositories of it ("*": all the installation's) ... */
  repositories: string[] | "*";
  /** ... with at most these permissions */
  permissions: Record<string, PermissionLevel>;
  mode: TrustPolicyMode;
}

export interface TrustPolicyRecord extends TrustPolicy {
  createdAt: Date;
  updatedAt: Date;
}

export class TrustPolicyError extends Error {
  override readonly name = "TrustPolicyError";
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(message);
  }
}

export interface CompiledTrustPolicy {
  source: TrustPolicy;
  /** changes whenever the policy does: part of the token cache's key */
  version: string;
  subject: (value: string) => boolean;
  conditions: Array<{ path: string; test: (value: string) => boolean }>;
  /** lower-case repository names, or null for all the installation's */
  repositories: Set<string> | null;
}

const RANK: Record<PermissionLevel, number> = { read: 1, write: 2, admin: 3 };

function compileOne(field: string, source: string): CompiledPattern {
  try {
    // Case-sensitive: claims are identifiers (refs, workflow paths, namespaces) in which case matters.
    return compilePattern(source, { caseInsensitive: false });
  } catch (e) {
    if (e instanceof PatternError) throw new TrustPolicyError(field, e.message);
    throw e;
  }
}

/** Checks a policy's shape and compiles its patterns; TrustPolicyError names the field. */
export function compileTrustPolicy(p: TrustPolicy, version = ""): CompiledTrustPolicy {
  if (!TRUST_POLICY_NAME_RE.test(p.name)) throw new TrustPolicyError("name", "is 1..100 of lowercase letters, digits and ._-, starting with a letter or digit");
  let issuer: URL;
  try {
    issuer = new URL(p.issuer);
  } catch {
    throw new TrustPolicyError("issuer", "is not a URL: an OIDC issuer is an https URL, e.g. https://token.actions.githubusercontent.com");
  }
  if (issuer.protocol !== "https:" && !(issuer.protocol === "http:" && /^(localhost|127\.\d+\.\d+\.\d+|\[::1\])$/.test(issuer.hostname))) {
    throw new TrustPolicyError("issuer", "must be an https URL (plain http only on loopback, for development)");
  }
  if (issuer.username || issuer.password || issuer.search || issuer.hash) throw new TrustPolicyError("issuer", "must not carry credentials, a query or a fragment");
  if (p.issuer.length > 512) throw new TrustPolicyError("issuer", "is longer than 512 characters");
  if (p.audience.length === 0 || p.audience.length > 256) throw new TrustPolicyError("audience", "is 1..256 characters: the audience callers request their tokens for");
  if ((p.subject === undefined) === (p.subjectPattern === undefined)) throw new TrustPolicyError("subject", "give exactly one of subject (exact) and subject_pattern (an anchored pattern)");
  if (p.subject !== undefined && (p.subject.length === 0 || p.subject.length > 512)) throw new TrustPolicyError("subject", "is 1..512 characters");
  const conditions: CompiledTrustPolicy["conditions"] = [];
  const paths = [...Object.keys(p.claims), ...Object.keys(p.claimPatterns)];
  if (paths.length > MAX_CONDITIONS) throw new TrustPolicyError("claims", `at most ${MAX_CONDITIONS} conditions`);
  for (const path of paths) {
    if (!CLAIM_PATH_RE.test(path)) throw new TrustPolicyError(`claims.${path.slice(0, 60)}`, "is not a claim path: names separated by dots, e.g. kubernetes.io.namespace");
    if (RESERVED_CLAIMS.has(path)) throw new TrustPolicyError(`claims.${path}`, "is checked by the policy's own issuer, audience and subject fields (or is a time): remove the condition");
    if (path in p.claims && path in p.claimPatterns) throw new TrustPolicyError(`claims.${path}`, "is both in claims and claim_patterns: keep one");
  }
  for (const [path, value] of Object.entries(p.claims)) {
    if (typeof value !== "string" || value.length > 512) throw new TrustPolicyError(`claims.${path}`, "is a string of at most 512 characters");
    conditions.push({ path, test: (v) => v === value });
  }
  let size = 0;
  for (const [path, source] of Object.entries(p.claimPatterns)) {
    const c = compileOne(`claim_patterns.${path}`, source);
    size += c.size;
    conditions.push({ path, test: c.matches });
  }
  let subject: (v: string) => boolean;
  if (p.subjectPattern !== undefined) {
    const c = compileOne("subject_pattern", p.subjectPattern);
    size += c.size;
    subject = c.matches;
  } else {
    const exact = p.subject!;
    subject = (v) => v === exact;
  }
  if (size > MAX_TRUST_PROGRAM_SIZE) throw new TrustPolicyError("claim_patterns", `the patterns compile to ${size} RE2 instructions together, more than ${MAX_TRUST_PROGRAM_SIZE}: simplify them`);
  // With GitHub Actions as the issuer, every repository on GitHub can mint a token for any
  // audience (owner-binding.ts): a policy must tie the token to an owner, by an exact subject or a
  // condition on repository_owner(_id), or a pattern such as `repo:.*:ref:refs/heads/main` would
  // trust strangers.
  if (isGitHubActionsIssuer(p.issuer, undefined) && p.subject === undefined && !("repository_owner" in p.claims) && !("repository_owner_id" in p.claims)) {
    throw new TrustPolicyError("claims", "a policy for GitHub Actions' issuer with a subject_pattern must name the owner exactly: add claims.repository_owner (or repository_owner_id), since any repository on GitHub can mint tokens for any audience");
  }
  if (!OWNER_RE.test(p.owner)) throw new TrustPolicyError("owner", "is not a GitHub login (letters, digits and hyphens, at most 39)");
  let repositories: Set<string> | null = null;
  if (p.repositories !== "*") {
    if (p.repositories.length === 0) throw new TrustPolicyError("repositories", 'lists no repository: name them, or "*" for all of the installation\'s');
    if (p.repositories.length > MAX_REPOSITORIES) throw new TrustPolicyError("repositories", `at most ${MAX_REPOSITORIES} (GitHub's limit for one token)`);
    p.repositories.forEach((r, i) => {
      if (!REPOSITORY_NAME_RE.test(r) || r === "." || r === "..") throw new TrustPolicyError(`repositories.${i}`, "is not a repository name (letters, digits, . _ -, at most 100; the owner is the policy's owner)");
    });
    repositories = new Set(p.repositories.map((r) => r.toLowerCase()));
  }
  const perms = Object.entries(p.permissions);
  // No permissions would mean "everything the App has" at GitHub: a policy always names its maximum.
  if (perms.length === 0) throw new TrustPolicyError("permissions", "names no permission: give the most the policy grants, e.g. {contents: read}");
  for (const [name, level] of perms) checkPermission(`permissions.${name}`, name, level, TrustPolicyError);
  if (p.mode !== "enforce" && p.mode !== "audit") throw new TrustPolicyError("mode", "is enforce or audit");
  return { source: p, version, subject, conditions, repositories };
}

function checkPermission(field: string, name: string, level: string, E: new (field: string, message: string) => Error): void {
  const levels = GITHUB_PERMISSIONS[name];
  if (!levels) throw new E(field, "is not a permission GitHub has (names as ghapp-token's PERMISSIONS takes them, e.g. contents, pull_requests)");
  if (!(levels as readonly string[]).includes(level)) throw new E(field, `${name} takes ${levels.join(" or ")}`);
}

/** A policy in the API's (snake_case) shape: answers, the policy file, audit records. */
export function trustPolicyAsJson(p: TrustPolicy) {
  return {
    name: p.name,
    issuer: p.issuer,
    audience: p.audience,
    ...(p.subject !== undefined ? { subject: p.subject } : {}),
    ...(p.subjectPattern !== undefined ? { subject_pattern: p.subjectPattern } : {}),
    claims: p.claims,
    claim_patterns: p.claimPatterns,
    owner: p.owner,
    repositories: p.repositories,
    permissions: p.permissions,
    mode: p.mode,
  };
}

/**
 * A list as an audit record keeps it: the first RECORDED_ITEMS, and the full count when longer (a
 * record's details are bounded to 16 KiB; a policy may name 500 repositories of 100 characters).
 */
export const RECORDED_ITEMS = 50;
export function recordedList(name: string, list: readonly string[]): Record<string, unknown> {
  return { [name]: list.slice(0, RECORDED_ITEMS), ...(list.length > RECORDED_ITEMS ? { [`${name}_count`]: list.length } : {}) };
}

// ---- matching ----------------------------------------------------------------------------

/** A verified token, as the verifier hands it over (never the token itself). */
export interface VerifiedToken {
  issuer: string;
  subject: string;
  audiences: string[];
  claims: Record<string, unknown>;
}

/**
 * A claim by dotted path. Claim names may hold dots themselves (`kubernetes.io`), so at each level
 * the longest name the object has wins: `kubernetes.io.namespace` is claims["kubernetes.io"]["namespace"].
 */
export function claimAt(claims: Record<string, unknown>, path: string): unknown {
  const parts = path.split(".");
  let here: unknown = claims;
  let i = 0;
  while (i < parts.length) {
    if (!here || typeof here !== "object" || Array.isArray(here)) return undefined;
    const obj = here as Record<string, unknown>;
    let found = false;
    for (let j = parts.length; j > i; j--) {
      const key = parts.slice(i, j).join(".");
      if (Object.hasOwn(obj, key)) {
        here = obj[key];
        i = j;
        found = true;
        break;
      }
    }
    if (!found) return undefined;
  }
  return here;
}

/** A claim's value as text for matching: strings, numbers and booleans; anything else never matches. */
function claimText(v: unknown): string | undefined {
  if (typeof v === "string") return v;
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  return undefined;
}

export function policyMatches(p: CompiledTrustPolicy, t: VerifiedToken): boolean {
  if (t.issuer !== p.source.issuer) return false;
  if (!t.audiences.includes(p.source.audience)) return false;
  if (!p.subject(t.subject)) return false;
  return p.conditions.every((c) => {
    const v = claimText(claimAt(t.claims, c.path));
    return v !== undefined && c.test(v);
  });
}

// ---- deciding a request ------------------------------------------------------------------

export interface TokenRequest {
  owner?: string;
  /** repository names ("api") or owner/name ("acme-org/api") */
  repositories?: string[];
  permissions?: Record<string, PermissionLevel>;
}

/** What a policy grants a request: one installation's token, narrowed. */
export interface GrantedScope {
  owner: string;
  /** lower-case-deduplicated names as asked (or the policy's), sorted; null: all the installation's */
  repositories: string[] | null;
  permissions: Record<string, PermissionLevel>;
}

/** Exactly what was refused: the answer's `refused` member, and the security event's details. */
export interface Refused {
  owner?: string;
  repositories?: string[];
  permissions?: Record<string, string>;
}

export type ScopeDecision = { ok: true; scope: GrantedScope } | { ok: false; refused: Refused };

/** Errors in a request's shape that a schema cannot see (a repository of another owner, an unknown permission). */
export class TokenRequestError extends Error {
  override readonly name = "TokenRequestError";
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(message);
  }
}

/** Checks the request on its own: permission names and levels as GitHub has them, repositories of one owner. */
export function normaliseRequest(r: TokenRequest): TokenRequest {
  let owner = r.owner;
  const repositories = r.repositories?.map((entry, i) => {
    const parts = entry.split("/");
    if (parts.length > 2) throw new TokenRequestError(`repositories.${i}`, "is not repo or owner/repo");
    const name = parts.length === 2 ? parts[1]! : parts[0]!;
    if (!REPOSITORY_NAME_RE.test(name) || name === "." || name === "..") throw new TokenRequestError(`repositories.${i}`, "is not a repository name (letters, digits, . _ -, at most 100)");
    if (parts.length === 2) {
      const o = parts[0]!;
      if (!OWNER_RE.test(o)) throw new TokenRequestError(`repositories.${i}`, "names an owner that is not a GitHub login");
      if (owner !== undefined && owner.toLowerCase() !== o.toLowerCase()) throw new TokenRequestError(`repositories.${i}`, `names the owner ${o}, but the request is for ${owner}: an installation token covers one account`);
      owner ??= o;
    }
    return name;
  });
  if (r.permissions) for (const [name, level] of Object.entries(r.permissions)) checkPermission(`permissions.${name}`, name, level, TokenRequestError);
  return { ...(owner !== undefined ? { owner } : {}), ...(repositories ? { repositories } : {}), ...(r.permissions ? { permissions: r.permissions } : {}) };
}

/**
 * The intersection of what the policy grants and what the request asks for. Anything asked beyond
 * the policy refuses the whole request, naming exactly what (a token silently narrower than asked
 * fails later, far from the cause). Left out, repositories and permissions are the policy's.
 * metadata=read is always allowed: GitHub adds it to every installation token.
 */
export function decideScope(p: CompiledTrustPolicy, r: TokenRequest): ScopeDecision {
  const refused: Refused = {};
  if (r.owner !== undefined && r.owner.toLowerCase() !== p.source.owner.toLowerCase()) refused.owner = r.owner;
  let repositories: string[] | null;
  if (r.repositories === undefined || r.repositories.length === 0) {
    repositories = p.repositories ? [...p.repositories].sort() : null;
  } else {
    const asked = [...new Set(r.repositories.map((x) => x.toLowerCase()))].sort();
    const out = p.repositories ? r.repositories.filter((x) => !p.repositories!.has(x.toLowerCase())) : [];
    if (out.length) refused.repositories = out;
    repositories = asked;
  }
  let permissions: Record<string, PermissionLevel>;
  if (r.permissions === undefined || Object.keys(r.permissions).length === 0) {
    permissions = { ...p.source.permissions };
  } else {
    permissions = {};
    const out: Record<string, string> = {};
    for (const [name, level] of Object.entries(r.permissions)) {
      const max = p.source.permissions[name] ?? (name === "metadata" ? "read" : undefined);
      if (!max || RANK[level] > RANK[max]) out[name] = level;
      else permissions[name] = level;
    }
    if (Object.keys(out).length) refused.permissions = out;
  }
  if (Object.keys(refused).length) return { ok: false, refused };
  return { ok: true, scope: { owner: p.source.owner, repositories, permissions: sortKeys(permissions) } };
}

function sortKeys<T>(o: Record<string, T>): Record<string, T> {
  return Object.fromEntries(Object.entries(o).sort(([a], [b]) => (a < b ? -1 : 1)));
}

/** The cache key of a grant: the policy (as it is now), the installation and the exact scope. */
export function scopeKey(p: CompiledTrustPolicy, installationId: number, s: GrantedScope): string {
  return JSON.stringify([p.source.name, p.version, installationId, s.repositories, s.permissions]);
}
