// The token exchange's callers come from several issuers (Kubernetes clusters, GitHub Actions):
// one OidcVerifier per issuer (oidc.ts: asymmetric signatures only, exact issuer, audience
// required, exp required and bounded, nbf/iat with a small leeway, bounded and cached key fetches),
// each with its own key cache, made when a token of that issuer first arrives.
//
// Which issuers: only those a trust policy names. The token's `iss` is read before its signature
// is checked, so it is attacker-chosen: an issuer no policy names is refused at once, and the broker
// never fetches discovery documents or keys from a URL a caller picked. An issuer's audiences are
// those its policies name; the token must carry one of them.
import { decodeJwt } from "jose";
import { AuthError, MAX_TOKEN_BYTES, OidcVerifier } from "../oidc.ts";
import type { VerifiedToken } from "../trust-policy.ts";

/** Verifiers kept at once; an issuer beyond this (policies for that many issuers) replaces the oldest. */
export const MAX_ISSUERS = 200;
/**
 * A token verified once is not verified again for this long (nor past its exp). A pod presents the
 * same projected token for most of an hour (the kubelet replaces it at 80% of its life), and the
 * signature check is the largest cost of a cache-hit exchange. The price: a key the issuer retires
 * is still honoured for the tokens it signed for at most this long.
 */
export const VERIFIED_TTL_MS = 60_000;
export const MAX_VERIFIED = 10_000;

export interface IssuerRegistryOptions {
  /** the audiences the trust policies name for an issuer; empty: no policy names it */
  audiencesOf: (issuer: string) => Promise<string[]>;
  /** issuer → JWKS file (ISSUER_JWKS_FILES); other issuers are found by OIDC discovery */
  jwksFiles: ReadonlyMap<string, string>;
  timeoutMs: number;
  now?: () => number;
  fetchImpl?: typeof fetch;
}

export class IssuerRegistry {
  private readonly verifiers = new Map<string, OidcVerifier>();
  /** token → what verifying it gave, until `until` (in this process's memory only, like the token) */
  private readonly verified = new Map<string, { token: VerifiedToken; until: number }>();

  constructor(private readonly o: IssuerRegistryOptions) {}

  private now(): number {
    return (this.o.now ?? Date.now)();
  }

  /** The verifier of one issuer (made on first use). */
  verifierFor(issuer: string): OidcVerifier {
    let v = this.verifiers.get(issuer);
    if (!v) {
      if (this.verifiers.size >= MAX_ISSUERS) this.verifiers.delete(this.verifiers.keys().next().value!);
      const file = this.o.jwksFiles.get(issuer);
      v = new OidcVerifier({ issuer, audience: [], identityClaim: "sub", timeoutMs: this.o.timeoutMs, ...(file ? { jwksFile: file } : {}) }, this.o.now, this.o.fetchImpl);
      this.verifiers.set(issuer, v);
    }
    return v;
  }

  /** Verifies a bearer token against its issuer; AuthError (401) or IssuerUnavailableError (503). */
  async verify(token: string | undefined): Promise<VerifiedToken> {
    if (!token) throw new AuthError("missing_token", "no bearer token: send Authorization: Bearer <OIDC token>");
    if (token.length > MAX_TOKEN_BYTES) throw new AuthError("too_large", `the token is longer than ${MAX_TOKEN_BYTES} bytes`);
    const known = this.verified.get(token);
    if (known) {
      // Still for an issuer and audience some policy names (a policy may have gone meanwhile).
      if (known.until > this.now() && (await this.o.audiencesOf(known.token.issuer)).some((a) => known.token.audiences.includes(a))) return known.token;
      this.verified.delete(token);
    }
    const result = await this.verifyFresh(token);
    const exp = typeof result.claims.exp === "number" ? result.claims.exp * 1000 : 0;
    if (this.verified.size >= MAX_VERIFIED) {
      const now = this.now();
      for (const [k, v] of this.verified) if (v.until <= now) this.verified.delete(k);
      if (this.verified.size >= MAX_VERIFIED) this.verified.clear();
    }
    this.verified.set(token, { token: result, until: Math.min(exp, this.now() + VERIFIED_TTL_MS) });
    return result;
  }

  private async verifyFresh(token: string): Promise<VerifiedToken> {
    let iss: unknown;
    try {
      iss = decodeJwt(token).iss;
    } catch {
      throw new AuthError("malformed", "the token is not a signed JWT (three base64url parts)");
    }
    if (typeof iss !== "string" || iss.length === 0 || iss.length > 512) throw new AuthError("wrong_issuer", "the token has no issuer (iss)");
    const audiences = await this.o.audiencesOf(iss);
    if (audiences.length === 0) throw new AuthError("wrong_issuer", "no trust policy names the token's issuer: an administrator adds one (docs/keyless.md)");
    let caller;
    try {
      caller = await this.verifierFor(iss).verify(token, { audience: audiences });
    } catch (e) {
      // oidc.ts words its messages for the runner API's OIDC_ISSUER/OIDC_AUDIENCE; here the policies decide.
      if (e instanceof AuthError && e.reason === "wrong_audience") throw new AuthError("wrong_audience", "the token's audience is none a trust policy for its issuer names");
      if (e instanceof AuthError && e.reason === "no_identity") throw new AuthError("no_identity", "the token has no subject (sub)");
      throw e;
    }
    const aud = caller.claims.aud;
    return { issuer: iss, subject: caller.identity, audiences: Array.isArray(aud) ? aud.filter((a): a is string => typeof a === "string") : typeof aud === "string" ? [aud] : [], claims: caller.claims as Record<string, unknown> };
  }
}
