// Signing a person in with OIDC_ISSUER: the Authorization Code Flow (OpenID Connect Core 1.0 §3.1)
// with PKCE S256 (RFC 7636), state (CSRF on the redirect, Core §3.1.2.1) and nonce (replay of an ID
// token, Core §3.1.3.7 item 11). The ID token is verified by the broker's own OidcVerifier (issuer,
// signature, times, identity claim) with the dashboard's client id as the audience, so a person's
// identity is the same claim (OIDC_IDENTITY_CLAIM) the API uses. Knows nothing of cookies or HTML.
import { createHash, randomBytes } from "node:crypto";
import { readAtMost } from "../../core/http-fetch.ts";
import { isLoopback } from "../config.ts";
import { AuthError, type OidcVerifier, type VerifiedCaller } from "../oidc.ts";

export interface SignInSettings {
  issuer: string;
  clientId: string;
  clientSecret?: string;
  redirectUri: string;
  timeoutMs: number;
}

/** What the browser keeps (sealed) between /ui/login and /ui/callback. */
export interface PendingSignIn {
  state: string;
  nonce: string;
  verifier: string;
  exp: number;
}

/** A sign-in that failed: what to tell the person (no token, no provider text beyond its error code). */
export class SignInError extends Error {
  override readonly name = "SignInError";
}

const random = () => randomBytes(32).toString("base64url");

export class SignIn {
  private endpoints: { authorization: string; token: string } | undefined;

  constructor(
    private readonly s: SignInSettings,
    private readonly verifier: OidcVerifier,
    private readonly fetchImpl: typeof fetch = fetch,
  ) {}

  private async discover(): Promise<{ authorization: string; token: string }> {
    if (this.endpoints) return this.endpoints;
    const url = `${this.s.issuer.replace(/\/+$/, "")}/.well-known/openid-configuration`;
    let doc: Record<string, unknown>;
    try {
      const res = await this.fetchImpl(url, { redirect: "error", signal: AbortSignal.timeout(this.s.timeoutMs), headers: { accept: "application/json" } });
      const body = res.status === 200 ? await readAtMost(res, 64 * 1024) : undefined;
      doc = JSON.parse(Buffer.from(body ?? new Uint8Array()).toString("utf8")) as Record<string, unknown>;
    } catch {
      throw new SignInError("the OIDC provider's discovery document cannot be read right now: try again later");
    }
    const endpoint = (v: unknown) => {
      if (typeof v !== "string") return undefined;
      try {
        const u = new URL(v);
        return u.protocol === "https:" || (u.protocol === "http:" && isLoopback(u.hostname)) ? u.toString() : undefined;
      } catch {
        return undefined;
      }
    };
    const authorization = endpoint(doc.authorization_endpoint);
    const token = endpoint(doc.token_endpoint);
    if (doc.issuer !== this.s.issuer || !authorization || !token) throw new SignInError("OIDC_ISSUER has no https authorization and token endpoints: the dashboard needs a provider people sign in with (docs/dashboard.md)");
    this.endpoints = { authorization, token };
    return this.endpoints;
  }

  /** Where to send the browser, and what it must bring back. `loginHint` is passed on (Core §3.1.2.1). */
  async start(nowMs: number, loginHint?: string): Promise<{ location: string; pending: PendingSignIn }> {
    const { authorization } = await this.discover();
    const pending = { state: random(), nonce: random(), verifier: random(), exp: nowMs + 10 * 60_000 };
    const u = new URL(authorization);
    const q = {
      response_type: "code",
      client_id: this.s.clientId,
      redirect_uri: this.s.redirectUri,
      scope: "openid",
      state: pending.state,
      nonce: pending.nonce,
      code_challenge: createHash("sha256").update(pending.verifier).digest("base64url"),
      code_challenge_method: "S256",
      ...(loginHint ? { login_hint: loginHint.slice(0, 256) } : {}),
    };
    for (const [k, v] of Object.entries(q)) u.searchParams.set(k, v);
    return { location: u.toString(), pending };
  }

  /** The callback: state checked, the code exchanged, the ID token verified and its nonce checked. */
  async finish(pending: PendingSignIn | undefined, query: { state?: string; code?: string; error?: string }): Promise<VerifiedCaller> {
    if (!pending || !query.state || query.state !== pending.state) throw new SignInError("this sign-in is unknown or expired (its state does not match): start again");
    if (query.error) throw new SignInError(`the OIDC provider refused the sign-in (${query.error.replace(/[^a-z_]/g, "").slice(0, 40)})`);
    if (!query.code) throw new SignInError("the OIDC provider sent no code: start again");
    const { token } = await this.discover();
    const form = new URLSearchParams({ grant_type: "authorization_code", code: query.code, redirect_uri: this.s.redirectUri, client_id: this.s.clientId, code_verifier: pending.verifier });
    if (this.s.clientSecret) form.set("client_secret", this.s.clientSecret);
    let idToken: unknown;
    try {
      const res = await this.fetchImpl(token, { method: "POST", redirect: "error", signal: AbortSignal.timeout(this.s.timeoutMs), headers: { "content-type": "application/x-www-form-urlencoded", accept: "application/json" }, body: form.toString() });
      const body = await readAtMost(res, 64 * 1024);
      const answer = JSON.parse(Buffer.from(body ?? new Uint8Array()).toString("utf8")) as Record<string, unknown>;
      if (res.status !== 200) throw new SignInError(`the OIDC provider refused the code (${String(answer.error ?? res.status).replace(/[^a-z_0-9]/g, "").slice(0, 40)}): start again`);
      idToken = answer.id_token;
    } catch (e) {
      if (e instanceof SignInError) throw e;
      throw new SignInError("the OIDC provider's token endpoint cannot be reached right now: try again later");
    }
    if (typeof idToken !== "string") throw new SignInError("the OIDC provider sent no ID token");
    let caller: VerifiedCaller;
    try {
      caller = await this.verifier.verify(idToken, { audience: [this.s.clientId] });
    } catch (e) {
      throw new SignInError(`the ID token is not valid: ${e instanceof AuthError ? e.message : "its issuer's keys cannot be fetched right now"}`);
    }
    if (caller.claims.nonce !== pending.nonce) throw new SignInError("the ID token's nonce is not this sign-in's: start again");
    return caller;
  }
}
