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

  constructor(private readonly o: IssuerRegistryOptions) {}

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
