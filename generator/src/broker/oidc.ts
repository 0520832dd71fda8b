// Verifies callers' OIDC tokens with jose. Discovery is ours (the issuer's openid-configuration,
// bounded, its `issuer` compared exactly, its jwks_uri held to https), then jose's
// createRemoteJWKSet (keys cached; an unknown `kid` refetches once per cooldown, so junk tokens
// cannot hammer the issuer) and jwtVerify with the exact issuer, the audience, a required exp,
// asymmetric algorithms only (no `none`, no HMAC keyed with a public key) and a small clock
// tolerance. When the issuer is down the keys already fetched keep working.
import { createLocalJWKSet, createRemoteJWKSet, customFetch, errors as joseErrors, jwtVerify, type JWTPayload, type JSONWebKeySet } from "jose";
import { readAtMost } from "../core/http-fetch.ts";
import { isLoopback } from "./config.ts";
import { jwksFromFile, type FileKeySet } from "./oidc/jwks-file.ts";

/** The algorithms a token may be signed with: asymmetric only. */
export const ALLOWED_ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"];
/** GitHub Actions tokens are ~1.5 KiB, Kubernetes ones ~1 KiB; anything past this is refused unread. */
export const MAX_TOKEN_BYTES = 8 * 1024;
export const CLOCK_TOLERANCE_SECONDS = 30;
/** A token valid for longer than this is refused (iat..exp): OIDC tokens for machines are short-lived. */
export const MAX_TOKEN_LIFETIME_SECONDS = 24 * 3600;
const MAX_DISCOVERY_BYTES = 64 * 1024;
export const MAX_JWKS_BYTES = 256 * 1024;

/** The body of an answer as text, read only up to `limit` bytes: a hostile issuer cannot make us buffer gigabytes. */
async function readBounded(res: Response, limit: number): Promise<string | undefined> {
  const body = await readAtMost(res, limit);
  return body && Buffer.from(body).toString("utf8");
}
/** Between two failed discoveries or key fetches, requests use what is known instead of asking again. */
export const REFETCH_COOLDOWN_MS = 30_000;

/** Why a token was refused: a fixed set of codes (metrics labels, aggregate counts); never text from the token. */
export type AuthFailureReason = "missing_token" | "malformed" | "too_large" | "bad_algorithm" | "bad_signature" | "unknown_key" | "wrong_issuer" | "wrong_audience" | "expired" | "not_yet_valid" | "bad_claims" | "no_identity";

export class AuthError extends Error {
  override readonly name = "AuthError";
  constructor(
    readonly reason: AuthFailureReason,
    message: string,
  ) {
    super(message);
  }
}

/** The issuer cannot be reached and no key is known yet: the request cannot be judged (503, not 401). */
export class IssuerUnavailableError extends Error {
  override readonly name = "IssuerUnavailableError";
  constructor(
    message: string,
    /** true when retrying cannot help (the issuer says it is another, or has no discovery document): a configuration error */
    readonly permanent = false,
  ) {
    super(message);
  }
}

export interface OidcSettings {
  issuer: string;
  /** the audience tokens must carry (one of these, for a list) */
  audience: string | string[];
  jwksUrl?: string;
  /**
   * The issuer's keys from a JWKS file (a mounted ConfigMap) instead of the network, for an issuer
   * the broker cannot reach: a cluster's API server serves them at /openid/v1/jwks (oidc/jwks-file.ts).
   */
  jwksFile?: string;
  identityClaim: string;
  timeoutMs: number;
  /** after a key fetch (or a failed one), no other for this long (default REFETCH_COOLDOWN_MS) */
  refetchCooldownMs?: number;
}

export interface VerifiedCaller {
  identity: string;
  claims: JWTPayload;
}

type KeyFn = ReturnType<typeof createRemoteJWKSet>;

export class OidcVerifier {
  private jwks: KeyFn | undefined;
  private jwksUrl: string | undefined;
  private supportedClaims: string[] | undefined;
  private lastFailureAt = -Infinity;
  private discovering: Promise<void> | undefined;
  private readonly cooldownMs: number;
  private readonly fileKeys: FileKeySet | undefined;

  constructor(
    private readonly s: OidcSettings,
    private readonly now: () => number = Date.now,
    private readonly fetchImpl: typeof fetch = fetch,
  ) {
    this.jwksUrl = s.jwksUrl;
    this.cooldownMs = s.refetchCooldownMs ?? REFETCH_COOLDOWN_MS;
    if (s.jwksFile) this.fileKeys = jwksFromFile(s.jwksFile, { now, maxBytes: MAX_JWKS_BYTES });
  }

  /** Where the keys come from (after discovery), for /ready and logs. */
  get keysUrl(): string | undefined {
    return this.jwksUrl;
  }

  /** The claims the issuer's discovery document says it issues (claims_supported); undefined without discovery. */
  get claimsSupported(): readonly string[] | undefined {
    return this.supportedClaims;
  }

  /** Fetches the discovery document unless OIDC_JWKS_URL was given. Throws IssuerUnavailableError. */
  async discover(): Promise<void> {
    if (this.jwks || this.fileKeys) return;
    this.discovering ??= this.doDiscover().finally(() => (this.discovering = undefined));
    await this.discovering;
  }

  private async doDiscover(): Promise<void> {
    if (!this.jwksUrl) {
      const url = `${this.s.issuer.replace(/\/+$/, "")}/.well-known/openid-configuration`;
      const doc = await this.fetchJson(url);
      const issuer = (doc as { issuer?: unknown }).issuer;
      const jwksUri = (doc as { jwks_uri?: unknown }).jwks_uri;
      if (issuer !== this.s.issuer) {
        // Tokens carry the document's issuer; with another OIDC_ISSUER every token would be refused.
        const named = typeof issuer === "string" ? `"${issuer.slice(0, 200)}"` : "no issuer";
        throw new IssuerUnavailableError(`the issuer's discovery document names ${named}, not OIDC_ISSUER "${this.s.issuer.slice(0, 200)}": set OIDC_ISSUER to exactly the issuer your callers' tokens carry (a trailing slash or a path counts)`, true);
      }
      if (typeof jwksUri !== "string" || jwksUri.length > 2048) throw new IssuerUnavailableError("the issuer's discovery document has no usable jwks_uri: set OIDC_JWKS_URL", true);
      let u: URL;
      try {
        u = new URL(jwksUri);
      } catch {
        throw new IssuerUnavailableError("the issuer's jwks_uri is not a URL: set OIDC_JWKS_URL", true);
      }
      if (u.protocol !== "https:" && !(u.protocol === "http:" && isLoopback(u.hostname))) throw new IssuerUnavailableError("the issuer's jwks_uri is not https: set OIDC_JWKS_URL to an https URL", true);
      this.jwksUrl = u.toString();
      // What the issuer says it issues: GitHub Actions' lists repository_owner (owner-binding.ts).
      const claims = (doc as { claims_supported?: unknown }).claims_supported;
      if (Array.isArray(claims)) this.supportedClaims = claims.filter((c): c is string => typeof c === "string" && c.length <= 64).slice(0, 500);
    }
    this.jwks = createRemoteJWKSet(new URL(this.jwksUrl), {
      timeoutDuration: this.s.timeoutMs,
      cooldownDuration: this.cooldownMs,
      cacheMaxAge: 10 * 60_000,
      // jose reads the whole answer; this hands it at most MAX_JWKS_BYTES and never follows a redirect.
      [customFetch]: async (url, init) => {
        const res = await this.fetchImpl(url, { ...init, redirect: "manual" });
        const text = res.status === 200 ? await readBounded(res, MAX_JWKS_BYTES) : "";
        if (text === undefined) return new Response("", { status: 502 });
        return new Response(text, { status: res.status, headers: { "content-type": "application/json" } });
      },
    });
  }

  private async fetchJson(url: string): Promise<unknown> {
    let res: Response;
    try {
      res = await this.fetchImpl(url, { redirect: "error", signal: AbortSignal.timeout(this.s.timeoutMs), headers: { accept: "application/json" } });
    } catch {
      throw new IssuerUnavailableError(`cannot reach the OIDC issuer's discovery document: check OIDC_ISSUER, network policies and proxies, or set OIDC_JWKS_URL`);
    }
    // 404 (410): there is no discovery document at that URL, and asking again will not make one.
    if (res.status === 404 || res.status === 410) throw new IssuerUnavailableError(`the OIDC issuer has no discovery document at ${url.slice(0, 300)} (HTTP ${res.status}): check OIDC_ISSUER's host and path, or set OIDC_JWKS_URL`, true);
    if (res.status !== 200) throw new IssuerUnavailableError(`the OIDC issuer's discovery document answered HTTP ${res.status}: check OIDC_ISSUER, or set OIDC_JWKS_URL`);
    const text = await readBounded(res, MAX_DISCOVERY_BYTES);
    if (text === undefined) throw new IssuerUnavailableError("the OIDC issuer's discovery document is larger than 64 KiB: set OIDC_JWKS_URL");
    try {
      return JSON.parse(text);
    } catch {
      throw new IssuerUnavailableError("the OIDC issuer's discovery document is not JSON: check OIDC_ISSUER, or set OIDC_JWKS_URL");
    }
  }

  /**
   * Keys for one token. Uses jose's remote set; when fetching fails (issuer down, garbage) and
   * keys were fetched before, those keys decide, and the issuer is not asked again for a while.
   */
  private keyFor = async (header: Parameters<KeyFn>[0], token: Parameters<KeyFn>[1]) => {
    const remote = this.jwks!;
    const known = remote.jwks() as JSONWebKeySet | undefined;
    if (known && this.now() - this.lastFailureAt < this.cooldownMs) return createLocalJWKSet(known)(header, token);
    try {
      return await remote(header, token);
    } catch (e) {
      if (e instanceof joseErrors.JWKSNoMatchingKey || e instanceof joseErrors.JWKSMultipleMatchingKeys) throw e;
      this.lastFailureAt = this.now();
      if (known) return createLocalJWKSet(known)(header, token);
      throw new IssuerUnavailableError("cannot fetch the OIDC issuer's keys (JWKS): check the issuer, or OIDC_JWKS_URL");
    }
  };

  /** Verifies a bearer token and returns the caller; AuthError (401) or IssuerUnavailableError (503). */
  async verify(token: string | undefined, options: { audience?: string[] } = {}): Promise<VerifiedCaller> {
    if (!token) throw new AuthError("missing_token", "no bearer token: send Authorization: Bearer <OIDC token>");
    if (token.length > MAX_TOKEN_BYTES) throw new AuthError("too_large", `the token is longer than ${MAX_TOKEN_BYTES} bytes`);
    if (!/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/.test(token)) throw new AuthError("malformed", "the token is not a signed JWT (three base64url parts)");
    if (!this.jwks && !this.fileKeys) {
      if (this.now() - this.lastFailureAt < this.cooldownMs) throw new IssuerUnavailableError("the OIDC issuer could not be reached recently: retry later");
      try {
        await this.discover();
      } catch (e) {
        this.lastFailureAt = this.now();
        throw e instanceof IssuerUnavailableError ? e : new IssuerUnavailableError("OIDC discovery failed");
      }
    }
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, this.fileKeys ?? this.keyFor, {
        issuer: this.s.issuer,
        audience: options.audience ?? this.s.audience,
        algorithms: ALLOWED_ALGORITHMS,
        clockTolerance: CLOCK_TOLERANCE_SECONDS,
        requiredClaims: ["exp", "iss", "aud"],
        currentDate: new Date(this.now()),
      }));
    } catch (e) {
      if (e instanceof IssuerUnavailableError) throw e;
      throw toAuthError(e);
    }
    const nowS = Math.floor(this.now() / 1000);
    if (payload.iat !== undefined && payload.iat > nowS + CLOCK_TOLERANCE_SECONDS) throw new AuthError("not_yet_valid", "the token was issued in the future (iat)");
    const start = payload.iat ?? payload.nbf ?? nowS;
    if (payload.exp! - start > MAX_TOKEN_LIFETIME_SECONDS) throw new AuthError("bad_claims", "the token is valid for more than 24 hours: request a short-lived token");
    const identity = payload[this.s.identityClaim];
    if (typeof identity !== "string" || identity.length === 0 || identity.length > 256) throw new AuthError("no_identity", `the token has no string claim "${this.s.identityClaim}" (OIDC_IDENTITY_CLAIM)`);
    return { identity, claims: payload };
  }
}

function toAuthError(e: unknown): AuthError {
  if (e instanceof joseErrors.JWTExpired) return new AuthError("expired", "the token has expired");
  if (e instanceof joseErrors.JWTClaimValidationFailed) {
    if (e.claim === "iss") return new AuthError("wrong_issuer", "the token's issuer is not OIDC_ISSUER");
    if (e.claim === "aud") return new AuthError("wrong_audience", "the token's audience does not include OIDC_AUDIENCE");
    if (e.claim === "nbf") return new AuthError("not_yet_valid", "the token is not valid yet (nbf)");
    if (e.claim === "iat") return new AuthError("not_yet_valid", "the token's iat is not sane");
    return new AuthError("bad_claims", `the token's ${e.claim} claim is missing or invalid`);
  }
  if (e instanceof joseErrors.JOSEAlgNotAllowed) return new AuthError("bad_algorithm", "the token's algorithm is not allowed: tokens must be signed with an asymmetric key (RS256, ES256, ...)");
  if (e instanceof joseErrors.JWKSNoMatchingKey) return new AuthError("unknown_key", "no key of the issuer matches the token's kid");
  if (e instanceof joseErrors.JWSSignatureVerificationFailed) return new AuthError("bad_signature", "the token's signature does not verify");
  return new AuthError("malformed", "the token is not a valid JWT");
}
