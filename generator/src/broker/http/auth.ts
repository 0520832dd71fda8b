// Authentication is middleware: a Bearer OIDC token verified by OidcVerifier, the caller's
// identity put on the context; 401 with WWW-Authenticate: Bearer error="invalid_token" otherwise
// (counted, not audited one by one). A verified token whose repository owner is not the broker's
// organisation (owner-binding.ts) is refused here, before any policy: 403 and a security event.
// Admin routes additionally need an identity in ADMIN_IDENTITIES (403, audited, and a security event). A per-identity request rate (per replica,
// a fixed one-minute window) answers 429 with Retry-After beyond CALLER_RATE_LIMIT.
import type { Context, MiddlewareHandler } from "hono";
import { GhappError } from "../../core/errors.ts";
import { BrokerError } from "../errors.ts";
import type { BrokerMetrics } from "../metrics.ts";
import { AuthError, IssuerUnavailableError, type OidcVerifier } from "../oidc.ts";
import { isGitHubActionsIssuer, type OwnerBinding } from "../owner-binding.ts";
import type { IssuerRegistry } from "../oidc/issuers.ts";
import type { Journal } from "../service/journal.ts";
import type { BrokerEnv } from "./router.ts";

export function authenticate(verifier: OidcVerifier, admins: Set<string>, journal: Journal, metrics: BrokerMetrics, owners: OwnerBinding, issuer: string): MiddlewareHandler<BrokerEnv> {
  return async (c, next) => {
    const header = c.req.header("authorization");
    const m = header ? /^Bearer +(\S+)\s*$/i.exec(header) : null;
    const started = performance.now();
    try {
      const caller = await verifier.verify(m?.[1]);
      c.set("identity", caller.identity);
      const refusal = owners.check(caller.claims, isGitHubActionsIssuer(issuer, verifier.claimsSupported));
      if (refusal) {
        metrics.authFailures.inc({ reason: "owner_not_allowed" });
        await journal.ownerRefused(caller.identity, refusal);
        const why = refusal.reason === "missing" ? "the token has no repository_owner claim, which GitHub Actions' tokens always carry" : refusal.reason === "id_mismatch" ? "the token's repository_owner_id is not the id of the broker's organisation" : "the token's repository_owner is not the broker's organisation (GITHUB_ORG) nor in ALLOWED_REPOSITORY_OWNERS";
        throw new BrokerError("forbidden", `${why}: only tokens from the broker's own organisations are accepted; an operator may list other owners in ALLOWED_REPOSITORY_OWNERS`, { extensions: { claim: refusal.claim } });
      }
      c.set("isAdmin", admins.has(caller.identity));
    } catch (e) {
      if (e instanceof BrokerError) throw e;
      throw verificationFailure(e, "the OIDC issuer's keys cannot be fetched right now: retry later", metrics, journal);
    } finally {
      metrics.oidcVerifySeconds.observe((performance.now() - started) / 1000);
    }
    await next();
  };
}

export function requireAdmin(journal: Journal): MiddlewareHandler<BrokerEnv> {
  return async (c, next) => {
    if (!c.get("isAdmin")) {
      await journal.adminForbidden(c.get("identity"), c.req.routePath || "/api/v1/admin");
      throw new BrokerError("forbidden", "this identity is not an administrator (ADMIN_IDENTITIES)");
    }
    await next();
  };
}

export function rateLimit(perMinute: number, journal: Journal, metrics: BrokerMetrics, now: () => number = Date.now, keyOf: (c: Context<BrokerEnv>) => string = (c) => c.get("identity")): MiddlewareHandler<BrokerEnv> {
  let windowStart = 0;
  let counts = new Map<string, number>();
  return async (c, next) => {
    const t = now();
    if (t - windowStart >= 60_000) {
      windowStart = t - (t % 60_000);
      counts = new Map();
    }
    const identity = c.get("identity");
    const key = keyOf(c);
    const n = (counts.get(key) ?? 0) + 1;
    counts.set(key, n);
    if (n > perMinute) {
      metrics.rateLimitedCallers.inc();
      // One audit record per identity and window: a flood of refused requests stays one row.
      if (n === perMinute + 1) await journal.rateLimited(identity, c.req.path.slice(0, 200));
      throw new BrokerError("rate_limited", `more than ${perMinute} requests in a minute from this identity: slow down`, { retryAfterSeconds: Math.ceil((windowStart + 60_000 - t) / 1000) });
    }
    await next();
  };
}

/**
 * POST /api/v1/tokens: the bearer token verified against its own issuer (any issuer a trust policy
 * names; oidc/issuers.ts), the caller (issuer, subject, claims) put on the context. The identity
 * is the subject; the rate limit keys on issuer and subject (two clusters may both have
 * system:serviceaccount:default:x). Failures as authenticate's: 401 counted, 503 for an issuer
 * whose keys cannot be fetched.
 */
export function authenticateExchange(issuers: IssuerRegistry, journal: Journal, metrics: BrokerMetrics): MiddlewareHandler<BrokerEnv> {
  return async (c, next) => {
    const header = c.req.header("authorization");
    const m = header ? /^Bearer +(\S+)\s*$/i.exec(header) : null;
    const started = performance.now();
    try {
      const caller = await issuers.verify(m?.[1]);
      c.set("caller", caller);
      c.set("identity", caller.subject.slice(0, 256));
      c.set("isAdmin", false);
    } catch (e) {
      // The trust policies are read from the database to know the issuers: a database that does not
      // answer is a 503 (problem.ts), not a bad token.
      if (e instanceof BrokerError || e instanceof GhappError) throw e;
      throw verificationFailure(e, "the token's issuer's keys cannot be fetched right now: retry later", metrics, journal);
    } finally {
      metrics.oidcVerifySeconds.observe((performance.now() - started) / 1000);
    }
    await next();
  };
}

/** The exchange's rate key: issuer and subject. */
export const exchangeRateKey = (c: Context<BrokerEnv>) => `${c.get("caller").issuer} ${c.get("caller").subject}`;

/** A token that did not verify: 503 while its issuer's keys cannot be fetched, else 401 with the reason, counted. */
function verificationFailure(e: unknown, unavailable: string, metrics: BrokerMetrics, journal: Journal): BrokerError {
  if (e instanceof IssuerUnavailableError) return new BrokerError("issuer_unavailable", unavailable, { retryAfterSeconds: 30 });
  const reason = e instanceof AuthError ? e.reason : "malformed";
  metrics.authFailures.inc({ reason });
  journal.countUnauthenticated(reason);
  return new BrokerError("unauthenticated", e instanceof AuthError ? e.message : "the token is not valid", { extensions: { reason } });
}
