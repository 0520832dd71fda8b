// Where an installation token is handed out. The caller arrives already verified (its issuer,
// subject, audiences and claims: oidc/issuers.ts); this service finds the trust policy that
// matches it, decides the intersection of what that policy grants and what was asked
// (trust-policy.ts), and hands out a token for exactly that scope: from the cache while it has at
// least 30 minutes left, else from one GitHub call that concurrent identical requests share (single
// flight). Every hand-out, cached or not, is audited (the token's SHA-256, the identity, the issuer,
// the policy, the scope) before the answer leaves; every refusal is audited, and asking beyond a
// policy is a security event.
//
// The token itself is held in this process's memory only: never logged, never stored. So the cache
// is per replica (docs/keyless.md measures what that costs: one GitHub call per replica and scope
// per half hour).
import { createHash } from "node:crypto";
import type { InstallationToken } from "../../core/access-token.ts";
import type { Logger } from "../../core/logger.ts";
import { BrokerError } from "../errors.ts";
import type { TokenMinter } from "../github-tokens.ts";
import type { BrokerMetrics } from "../metrics.ts";
import type { Storage } from "../storage/storage.ts";
import {
  claimAt,
  decideScope,
  normaliseRequest,
  recordedList,
  policyMatches,
  scopeKey,
  TokenRequestError,
  type CompiledTrustPolicy,
  type GrantedScope,
  type Refused,
  type TokenRequest,
  type VerifiedToken,
} from "../trust-policy.ts";
import { AuditWriter } from "./audit-writer.ts";
import type { TrustPolicyService } from "./trust-policies.ts";

/** A cached token is handed out only while it has at least this long left. */
export const MIN_REMAINING_MS = 30 * 60_000;
/** Scopes cached at once; past it, expired entries go first, then everything. */
export const MAX_CACHED = 10_000;
/** Audit-mode policies evaluated (and recorded) per exchange. */
const MAX_AUDITED = 5;

export interface HandedOut {
  token: string;
  expiresAt: string;
  owner: string;
  installationId: number;
  permissions: Record<string, string>;
  repositories: string[] | null;
  repositorySelection: string;
}

export interface TokenServiceDeps {
  storage: Storage;
  policies: TrustPolicyService;
  github: TokenMinter;
  metrics: BrokerMetrics;
  logger: Logger;
  /**
   * GitHub calls one identity's exchanges may cause per minute (TOKEN_MINT_RATE_LIMIT, per
   * replica): what protects the App's budget, since every new scope is a call. Cache hits and
   * requests that join a call in flight do not count.
   */
  mintsPerMinute: number;
  /** the clock of that window (injectable) */
  now?: () => number;
}

export const sha256 = (s: string) => createHash("sha256").update(s).digest("hex");

/** What audit records keep of a caller: the identity and issuer, and a Kubernetes pod's name and uid. */
function whoDetails(t: VerifiedToken): Record<string, unknown> {
  const s = (path: string) => {
    const v = claimAt(t.claims, path);
    return typeof v === "string" ? v.slice(0, 253) : undefined;
  };
  const k8s = {
    namespace: s("kubernetes.io.namespace"),
    service_account: s("kubernetes.io.serviceaccount.name"),
    pod: s("kubernetes.io.pod.name"),
    pod_uid: s("kubernetes.io.pod.uid"),
  };
  const present = Object.fromEntries(Object.entries(k8s).filter(([, v]) => v !== undefined));
  return { issuer: t.issuer, subject: t.subject, ...(Object.keys(present).length ? { kubernetes: present } : {}) };
}

/** A scope as audit records keep it (repositories bounded: recordedList). */
const scopeJson = (s: GrantedScope) => ({ owner: s.owner, ...(s.repositories ? recordedList("repositories", s.repositories) : { repositories: null }), permissions: s.permissions });
const refusedJson = (r: Refused) => ({ ...r, ...(r.repositories ? recordedList("repositories", r.repositories) : {}) });

export class TokenService {
  private readonly cache = new Map<string, { token: InstallationToken; expiresAtMs: number }>();
  private readonly inflight = new Map<string, Promise<InstallationToken>>();
  private readonly audit: AuditWriter;
  /** identity → when its recent GitHub calls were made (at most mintsPerMinute of them, oldest first) */
  private readonly mints = new Map<string, number[]>();

  constructor(private readonly d: TokenServiceDeps) {
    this.audit = new AuditWriter(d.storage);
  }

  async exchange(caller: VerifiedToken, asked: TokenRequest): Promise<HandedOut> {
    const who = whoDetails(caller);
    const actor = caller.subject.slice(0, 256);
    let request: TokenRequest;
    try {
      request = normaliseRequest(asked);
    } catch (e) {
      if (e instanceof TokenRequestError) {
        await this.audit.append({ actor, action: "token.issue", result: "denied", details: { ...who, reason: "invalid_request", field: e.field } });
        this.count("invalid_request");
        throw new BrokerError("invalid_request", `${e.field}: ${e.message}`, { extensions: { field: e.field } });
      }
      throw e;
    }
    const matching = (await this.d.policies.forIssuer(caller.issuer)).filter((p) => policyMatches(p, caller));
    const enforcing = matching.filter((p) => p.source.mode === "enforce");
    const auditing = matching.filter((p) => p.source.mode === "audit").slice(0, MAX_AUDITED);
    const owner = request.owner?.toLowerCase();
    // The first enforcing match (by name) for the owner asked, else the first at all (which then
    // refuses the owner, naming it).
    const policy = (owner !== undefined ? enforcing.find((p) => p.source.owner.toLowerCase() === owner) : undefined) ?? enforcing[0];

    // Audit mode: what each matching audit policy would have granted, recorded, never granted.
    // (Appended together: they go into one commit.)
    await Promise.all(
      auditing.map((p) => {
        const d = decideScope(p, request);
        return this.audit.append({
          actor,
          action: "token.audit",
          result: d.ok ? "success" : "denied",
          details: { ...who, policy: p.source.name, mode: "audit", ...(d.ok ? { would_grant: scopeJson(d.scope) } : { would_refuse: refusedJson(d.refused) }) },
        });
      }),
    );

    if (!policy) {
      const audited = auditing.length > 0;
      await this.audit.append(
        { actor, action: "token.issue", result: "denied", details: { ...who, reason: audited ? "audit_only" : "no_trust_policy", ...(audited ? { audit_policies: auditing.map((p) => p.source.name) } : {}) } },
        audited ? undefined : { eventType: "no_trust_policy", severity: "low", userIdentity: actor, actionTaken: "request_refused", details: who },
      );
      this.count(audited ? "audit_only" : "no_trust_policy");
      if (audited) throw new BrokerError("trust_policy_audit_only", `only trust policies in audit mode match this token (${auditing.map((p) => p.source.name).join(", ")}): what they would grant is in the audit log; an administrator sets mode: enforce`);
      throw new BrokerError("no_trust_policy", "no trust policy matches this token's issuer, audience, subject and claims: nothing is granted by default; ask an administrator for a trust policy");
    }

    const decision = decideScope(policy, request);
    if (!decision.ok) {
      const details = { ...who, policy: policy.source.name, reason: "beyond_policy", refused: refusedJson(decision.refused) };
      await this.audit.append({ actor, action: "token.issue", result: "denied", details }, { eventType: "token_scope_refused", severity: "medium", userIdentity: actor, actionTaken: "request_refused", details });
      this.count("policy_denied");
      const parts = [
        decision.refused.owner !== undefined ? `owner ${decision.refused.owner} (the policy grants ${policy.source.owner})` : "",
        decision.refused.repositories ? `repositories ${decision.refused.repositories.slice(0, 20).join(", ")}${decision.refused.repositories.length > 20 ? ` and ${decision.refused.repositories.length - 20} more` : ""}` : "",
        decision.refused.permissions ? `permissions ${Object.entries(decision.refused.permissions).map(([n, l]) => `${n}=${l}`).join(", ")}` : "",
      ].filter(Boolean);
      throw new BrokerError("policy_denied", `trust policy "${policy.source.name}" does not grant ${parts.join("; ")}: ask for less, or an administrator widens the policy`, { extensions: { policy: policy.source.name, refused: decision.refused } });
    }

    const scope = decision.scope;
    let installationId: number;
    let got: { token: InstallationToken; cached: boolean };
    try {
      installationId = await this.d.github.installationFor(scope.owner);
      got = await this.tokenFor(policy, installationId, scope, `${caller.issuer} ${caller.subject}`);
    } catch (e) {
      await this.audit
        .append({ actor, action: "token.issue", result: e instanceof BrokerError && e.code === "rate_limited" ? "denied" : "failure", details: { ...who, policy: policy.source.name, scope: scopeJson(scope), reason: e instanceof BrokerError ? e.code : "error" } })
        .catch(() => undefined);
      this.count(e instanceof BrokerError ? e.code : "error");
      throw e;
    }
    const t = got.token;
    await this.audit.append({
      actor,
      action: "token.issue",
      result: "success",
      details: { ...who, policy: policy.source.name, scope: scopeJson(scope), installation_id: installationId, token_sha256: sha256(t.token), expires_at: t.expiresAt, cached: got.cached },
    });
    this.count("success", got.cached);
    return {
      token: t.token,
      expiresAt: t.expiresAt,
      owner: scope.owner,
      installationId,
      permissions: t.permissions,
      repositories: t.repositories,
      repositorySelection: t.repositorySelection,
    };
  }

  private count(result: string, cached?: boolean): void {
    this.d.metrics.tokenExchanges.inc({ result, cache: cached === undefined ? "none" : cached ? "hit" : "miss" });
  }

  /** A token for exactly this scope: cached with ≥ 30 minutes left, or one GitHub call shared by every concurrent identical request. */
  private async tokenFor(policy: CompiledTrustPolicy, installationId: number, scope: GrantedScope, identity: string): Promise<{ token: InstallationToken; cached: boolean }> {
    const key = scopeKey(policy, installationId, scope);
    const hit = this.cache.get(key);
    if (hit && hit.expiresAtMs - this.d.github.now() >= MIN_REMAINING_MS) return { token: hit.token, cached: true };
    let pending = this.inflight.get(key);
    const shared = pending !== undefined;
    if (!pending) {
      this.countMint(identity);
      pending = this.d.github
        .mint(installationId, { repositories: scope.repositories, permissions: scope.permissions })
        .then((token) => {
          // One line per GitHub call (not per hand-out), never the token: what was minted for whom.
          this.d.logger.info("installation token minted", { policy: policy.source.name, installation_id: installationId, repositories: scope.repositories?.length ?? "all", permissions: scope.permissions, expires_at: token.expiresAt });
          const expiresAtMs = Date.parse(token.expiresAt);
          if (expiresAtMs - this.d.github.now() >= MIN_REMAINING_MS) this.remember(key, token, expiresAtMs);
          else this.cache.delete(key);
          return token;
        })
        .finally(() => this.inflight.delete(key));
      this.inflight.set(key, pending);
    }
    return { token: await pending, cached: shared };
  }

  /**
   * One more GitHub call for this identity, or 429 when it made mintsPerMinute in the last 60
   * seconds (a sliding window: no burst of twice the limit across a minute's boundary).
   */
  private countMint(identity: string): void {
    const t = (this.d.now ?? Date.now)();
    const recent = (this.mints.get(identity) ?? []).filter((at) => t - at < 60_000);
    if (recent.length >= this.d.mintsPerMinute) {
      this.mints.set(identity, recent);
      throw new BrokerError("rate_limited", `this identity's exchanges caused ${this.d.mintsPerMinute} new installation tokens in the last minute (TOKEN_MINT_RATE_LIMIT): ask for a scope already handed out, or retry later`, { retryAfterSeconds: Math.ceil((recent[0]! + 60_000 - t) / 1000) });
    }
    recent.push(t);
    if (this.mints.size >= MAX_CACHED) for (const [k, v] of this.mints) if (t - v[v.length - 1]! >= 60_000) this.mints.delete(k);
    this.mints.set(identity, recent);
  }

  private remember(key: string, token: InstallationToken, expiresAtMs: number): void {
    if (this.cache.size >= MAX_CACHED) {
      const now = this.d.github.now();
      for (const [k, v] of this.cache) if (v.expiresAtMs - now < MIN_REMAINING_MS) this.cache.delete(k);
      if (this.cache.size >= MAX_CACHED) this.cache.clear();
    }
    this.cache.set(key, { token, expiresAtMs });
  }
}
