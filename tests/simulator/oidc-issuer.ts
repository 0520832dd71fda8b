// An OpenID Connect issuer inside the GitHub simulator, shaped like GitHub Actions' own
// (https://token.actions.githubusercontent.com), so the runner broker can be tested with real tokens,
// rotated keys and forged ones, and the demo can mint a caller's identity.
//
// Served without the API prefix; the issuer string is exactly `${origin}/oidc`:
//   GET /oidc/.well-known/openid-configuration   {issuer, jwks_uri, id_token_signing_alg_values_supported, ...}
//   GET /oidc/jwks                               {keys: [RS256 public keys, each with kid, alg, use]}
//   GET  /oidc/authorize                         the sign-in of a person (authorization code + PKCE), below
//   POST /oidc/token                             the code exchanged for an ID token
// Faults (/_simulator/faults) reach these paths when their match.path does: {"kind":"status","status":503,
// "match":{"path":"/oidc"}} is "the issuer is down". A fault without a path is GitHub's alone, so that
// "GitHub is down" leaves the issuer (another service, in reality) up.
//
// Control endpoints (no authentication):
//   POST /_simulator/oidc/token {sub, aud, claims?, expires_in?, iat?, nbf?, exp?, iss?, kid?, alg?} -> {token}
//        sub and aud are required (aud a string or a list). Defaults: iss the issuer, iat now (the simulator's
//        clock, /_simulator/clock), nbf = iat, exp = iat + expires_in (300 s, GitHub's lifetime), and GitHub
//        Actions' claims (jti, repository, repository_owner, ref, sha, workflow, job_workflow_ref, actor,
//        run_id, ...; repository and ref taken from a sub like "repo:acme-org/api:ref:refs/heads/main").
//        `claims` is merged last; a claim set to null is left out (a token without exp, say).
//        alg (hostile variants, for the broker's tests to attack with):
//          "RS256"                  (default) signed with the current key, or with the key named by `kid`,
//                                   retired keys included
//          "none"                   unsigned: header {"alg":"none","typ":"JWT","kid":current}, empty signature
//          "HS256-with-public-key"  HMAC-SHA256 whose secret is the current public key's SPKI PEM (as Node
//                                   writes it, final newline included), header
//                                   kid = the current key's (the RS256/HS256 key-confusion attack)
//          "unknown-kid"            RS256 with a key that was never published, under a kid not in the JWKS
//        expired / not yet valid / wrong issuer tokens: set exp, nbf or iss.
//   POST /_simulator/oidc/rotate {retire_old?: boolean} -> {kid}: a new key signs from then on; the old key
//        stays in the JWKS (as during a real rotation) unless retire_old is true.
//   GET  /_simulator/oidc -> {issuer, current_kid, published_kids}
//
// Sign-in (the broker's dashboard, docs/dashboard.md), the Authorization Code Flow of OpenID Connect
// Core 1.0 §3.1 with PKCE (RFC 7636). GitHub Actions' issuer has no such endpoints; a dashboard
// deployment points at its organisation's own provider, and this is that provider for tests and the demo.
//   GET /oidc/authorize?response_type=code&client_id&redirect_uri&scope=openid&state&nonce
//       &code_challenge&code_challenge_method=S256&login_hint=<sub>
//       Core §3.1.2.1 (the request), RFC 7636 §4.3 (code_challenge). The stricter reading throughout: PKCE
//       is required and only S256 is accepted (RFC 7636 §4.2 allows "plain"; §7.2 says not to use it), and
//       scope must include openid (Core §3.1.2.1). Who signs in is chosen by login_hint (Core §3.1.2.1,
//       a hint the provider may use; here it is the subject). Without login_hint the answer is a small form
//       asking for it, so a person can sign in by hand in the demo. Success: 302 to
//       redirect_uri?code=…&state=… (Core §3.1.2.5: state passed back exactly). Errors that can be sent back
//       (Core §3.1.2.6) go to redirect_uri?error=…&state=…; without a usable client_id or redirect_uri, a
//       400 page (RFC 6749 §4.1.2.1: never redirect to an unchecked URI).
//   POST /oidc/token (application/x-www-form-urlencoded) grant_type=authorization_code&code&redirect_uri
//       &client_id&code_verifier[&client_secret]
//       Core §3.1.3.1-3: {access_token, token_type: "Bearer", expires_in, id_token}, Cache-Control: no-store.
//       The ID token: sub = the login_hint, aud = client_id, nonce as asked (Core §3.1.2.1, §2), the
//       default claims below, signed as /_simulator/oidc/token signs. The code is single-use and lives
//       60 s (RFC 6749 §4.1.2: "a maximum authorization code lifetime of 10 minutes is RECOMMENDED";
//       shorter is stricter); redirect_uri and client_id must match the authorization request (RFC 6749
//       §4.1.3) and BASE64URL(SHA256(code_verifier)) must equal code_challenge (RFC 7636 §4.6). Any
//       mismatch is 400 {"error":"invalid_grant"} (RFC 6749 §5.2). Clients are not registered: any
//       client_id is accepted and client_secret is not checked (a public client, RFC 6749 §2.1).
//
// Keys are RSA 2048, made on first use (so a simulator that never serves OIDC pays nothing), kid = the
// key's RFC 7638 thumbprint. Signing goes through jose, the library the broker verifies with.
import { calculateJwkThumbprint, exportJWK, generateKeyPair, SignJWT, type JWK } from "jose";
import { createHash, createPublicKey, randomBytes, randomUUID } from "node:crypto";

export type OidcAlg = "RS256" | "none" | "HS256-with-public-key" | "unknown-kid";
export const OIDC_ALGS: readonly OidcAlg[] = ["RS256", "none", "HS256-with-public-key", "unknown-kid"];
const DEFAULT_LIFETIME_S = 300;
const CODE_LIFETIME_MS = 60_000;

export interface MintRequest {
  sub: string;
  aud: string | string[];
  /** merged over the defaults; null leaves a claim out */
  claims?: Record<string, unknown>;
  expires_in?: number;
  iat?: number;
  nbf?: number;
  exp?: number;
  iss?: string;
  kid?: string;
  alg?: OidcAlg;
}

export interface OidcIssuer {
  /** `${origin}/oidc` */
  readonly issuer: string;
  mint(request: MintRequest): Promise<string>;
  /** A new signing key; the old ones stay published unless retireOld. Returns the new kid. */
  rotate(options?: { retireOld?: boolean }): Promise<string>;
  jwks(): Promise<{ keys: JWK[] }>;
  /** /oidc/...; undefined for any other path. `query` and `body` (the form, as text) serve sign-in. */
  route(method: string, path: string, query?: URLSearchParams, body?: unknown): Promise<Response | undefined>;
  /** /_simulator/oidc/...; undefined for any other path. */
  control(req: Request, path: string): Promise<Response | undefined>;
}

interface Key {
  kid: string;
  privateKey: CryptoKey;
  publicJwk: JWK;
  publicPem: string;
  published: boolean;
}

export class OidcRequestError extends Error {}

const b64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");

async function makeKey(): Promise<Key> {
  const { privateKey, publicKey } = await generateKeyPair("RS256", { modulusLength: 2048, extractable: true });
  const jwk = await exportJWK(publicKey);
  const kid = await calculateJwkThumbprint(jwk);
  // The PEM as Node writes it (final newline included): what a verifier reading a .pem file holds.
  const publicPem = createPublicKey({ key: { kty: "RSA", n: jwk.n!, e: jwk.e! }, format: "jwk" }).export({ type: "spki", format: "pem" }).toString();
  return { kid, privateKey, publicJwk: { kty: jwk.kty, n: jwk.n, e: jwk.e, kid, alg: "RS256", use: "sig" }, publicPem, published: true };
}

export function createOidcIssuer(opts: { origin: () => string; now: () => number }): OidcIssuer {
  const keys: Key[] = [];
  let stranger: Key | undefined; // signs "unknown-kid" tokens; never published
  let first: Promise<void> | undefined;
  const issuer = () => `${opts.origin()}/oidc`;

  const ready = () => (first ??= makeKey().then((k) => void keys.push(k)));
  const current = async () => {
    await ready();
    return keys[keys.length - 1]!;
  };

  function defaultClaims(sub: string, t: number): Record<string, unknown> {
    // GitHub's subject names the repository and, for a branch, the ref: repo:OWNER/REPO:ref:refs/heads/main.
    const repository = /^repo:([^/:]+\/[^/:]+)(?::|$)/.exec(sub)?.[1] ?? "acme-org/api";
    const owner = repository.split("/")[0]!;
    const ref = /:ref:(refs\/[^:]+)/.exec(sub)?.[1] ?? "refs/heads/main";
    const sha = randomBytes(20).toString("hex");
    const runId = String(10_000_000_000 + (t % 1_000_000));
    const workflowRef = `${repository}/.github/workflows/ci.yml@${ref}`;
    return {
      jti: randomUUID(),
      ref,
      sha,
      repository,
      repository_owner: owner,
      repository_owner_id: "5001",
      repository_id: "9001",
      repository_visibility: "private",
      run_id: runId,
      run_number: "1",
      run_attempt: "1",
      runner_environment: "github-hosted",
      actor: "octocat",
      actor_id: "583231",
      workflow: "CI",
      workflow_ref: workflowRef,
      workflow_sha: sha,
      job_workflow_ref: workflowRef,
      job_workflow_sha: sha,
      head_ref: "",
      base_ref: "",
      event_name: "push",
      ref_type: ref.startsWith("refs/tags/") ? "tag" : "branch",
      ref_protected: "false",
    };
  }

  // Authorization codes waiting for their exchange (single-use, CODE_LIFETIME_MS).
  const codes = new Map<string, { clientId: string; redirectUri: string; challenge: string; nonce: string | undefined; sub: string; expiresAt: number }>();

  function authorizeEndpoint(q: URLSearchParams): Response {
    const clientId = q.get("client_id") ?? "";
    const redirectUri = q.get("redirect_uri") ?? "";
    let target: URL | undefined;
    try {
      target = new URL(redirectUri);
    } catch {
      target = undefined;
    }
    if (!clientId || !target || (target.protocol !== "https:" && target.protocol !== "http:")) {
      return new Response("client_id and an absolute http(s) redirect_uri are required", { status: 400, headers: { "content-type": "text/plain; charset=utf-8" } });
    }
    const back = (params: Record<string, string>) => {
      const u = new URL(target!.toString());
      for (const [k, v] of Object.entries(params)) u.searchParams.set(k, v);
      const state = q.get("state");
      if (state !== null) u.searchParams.set("state", state);
      return new Response(null, { status: 302, headers: { location: u.toString(), "cache-control": "no-store" } });
    };
    if (q.get("response_type") !== "code") return back({ error: "unsupported_response_type", error_description: "response_type must be code" });
    if (!(q.get("scope") ?? "").split(" ").includes("openid")) return back({ error: "invalid_scope", error_description: "scope must include openid" });
    const challenge = q.get("code_challenge") ?? "";
    if (q.get("code_challenge_method") !== "S256" || !/^[A-Za-z0-9_-]{43}$/.test(challenge)) return back({ error: "invalid_request", error_description: "PKCE is required: code_challenge (43 base64url characters) with code_challenge_method=S256" });
    const sub = q.get("login_hint") ?? "";
    if (!sub) {
      // A person choosing who to be: the same request again, with login_hint from the form.
      const esc = (v: string) => v.replace(/&/g, "&amp;").replace(/"/g, "&quot;").replace(/</g, "&lt;");
      const hidden = [...q].filter(([k]) => k !== "login_hint").map(([k, v]) => `<input type="hidden" name="${esc(k)}" value="${esc(v)}">`).join("");
      return new Response(`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Simulated OIDC sign-in</title></head><body><h1>Simulated OIDC provider</h1><form method="get" action="authorize">${hidden}<label for="login_hint">Subject (sub)</label> <input id="login_hint" name="login_hint" required> <button type="submit">Sign in</button></form></body></html>`, {
        status: 200,
        headers: { "content-type": "text/html; charset=utf-8", "content-security-policy": "default-src 'none'; form-action 'self'" },
      });
    }
    const code = randomBytes(24).toString("base64url");
    const nonce = q.get("nonce") ?? undefined;
    codes.set(code, { clientId, redirectUri, challenge, nonce, sub, expiresAt: opts.now() + CODE_LIFETIME_MS });
    return back({ code });
  }

  async function tokenEndpoint(form: URLSearchParams): Promise<Response> {
    const answer = (status: number, body: unknown) => new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json; charset=utf-8", "cache-control": "no-store", pragma: "no-cache" } });
    if (form.get("grant_type") !== "authorization_code") return answer(400, { error: "unsupported_grant_type" });
    const code = form.get("code") ?? "";
    const entry = codes.get(code);
    codes.delete(code); // single-use, whatever the outcome (RFC 6749 §4.1.2)
    const verifier = form.get("code_verifier") ?? "";
    if (!entry || entry.expiresAt < opts.now()) return answer(400, { error: "invalid_grant", error_description: "unknown, used or expired code" });
    if (form.get("client_id") !== entry.clientId || form.get("redirect_uri") !== entry.redirectUri) return answer(400, { error: "invalid_grant", error_description: "client_id or redirect_uri differ from the authorization request" });
    if (!/^[A-Za-z0-9._~-]{43,128}$/.test(verifier) || createHash("sha256").update(verifier).digest("base64url") !== entry.challenge) return answer(400, { error: "invalid_grant", error_description: "code_verifier does not match code_challenge" });
    const idToken = await issuerApi.mint({ sub: entry.sub, aud: entry.clientId, ...(entry.nonce !== undefined ? { claims: { nonce: entry.nonce } } : {}) });
    return answer(200, { access_token: randomBytes(24).toString("base64url"), token_type: "Bearer", expires_in: DEFAULT_LIFETIME_S, id_token: idToken });
  }

  const issuerApi: OidcIssuer = {
    get issuer() {
      return issuer();
    },

    async mint(request) {
      const r = checkMintRequest(request);
      const signing = await current();
      const t = Math.floor(opts.now() / 1000);
      const iat = r.iat ?? t;
      const payload: Record<string, unknown> = {
        ...defaultClaims(r.sub, t),
        sub: r.sub,
        aud: r.aud,
        iss: r.iss ?? issuer(),
        iat,
        nbf: r.nbf ?? iat,
        exp: r.exp ?? iat + (r.expires_in ?? DEFAULT_LIFETIME_S),
      };
      for (const [k, v] of Object.entries(r.claims ?? {})) {
        if (v === null) delete payload[k];
        else payload[k] = v;
      }

      switch (r.alg ?? "RS256") {
        case "none":
          return `${b64url({ alg: "none", typ: "JWT", kid: signing.kid })}.${b64url(payload)}.`;
        case "HS256-with-public-key":
          return new SignJWT(payload).setProtectedHeader({ alg: "HS256", typ: "JWT", kid: signing.kid }).sign(new TextEncoder().encode(signing.publicPem));
        case "unknown-kid": {
          stranger ??= { ...(await makeKey()), published: false };
          return new SignJWT(payload).setProtectedHeader({ alg: "RS256", typ: "JWT", kid: `unknown-${stranger.kid}` }).sign(stranger.privateKey);
        }
        case "RS256": {
          const key = r.kid === undefined ? signing : keys.find((k) => k.kid === r.kid);
          if (!key) throw new OidcRequestError(`no key with kid ${JSON.stringify(r.kid)}: use alg "unknown-kid" for a key the issuer never published`);
          return new SignJWT(payload).setProtectedHeader({ alg: "RS256", typ: "JWT", kid: key.kid }).sign(key.privateKey);
        }
      }
    },

    async rotate(options = {}) {
      await ready();
      const next = await makeKey();
      if (options.retireOld) for (const k of keys) k.published = false;
      keys.push(next);
      return next.kid;
    },

    async jwks() {
      await ready();
      return { keys: keys.filter((k) => k.published).map((k) => ({ ...k.publicJwk })) };
    },

    async route(method, path, query = new URLSearchParams(), body = undefined) {
      if (path !== "/oidc" && !path.startsWith("/oidc/")) return undefined;
      const json = (status: number, body: unknown) =>
        new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json; charset=utf-8", "cache-control": "max-age=300" } });
      if (path === "/oidc/token" && method === "POST") return tokenEndpoint(typeof body === "string" ? new URLSearchParams(body) : new URLSearchParams());
      if (method !== "GET") return json(405, { error: "method not allowed" });
      if (path === "/oidc/authorize") return authorizeEndpoint(query);
      if (path === "/oidc/.well-known/openid-configuration") {
        return json(200, {
          issuer: issuer(),
          jwks_uri: `${issuer()}/jwks`,
          subject_types_supported: ["public", "pairwise"],
          authorization_endpoint: `${issuer()}/authorize`,
          token_endpoint: `${issuer()}/token`,
          response_types_supported: ["code", "id_token"],
          grant_types_supported: ["authorization_code"],
          code_challenge_methods_supported: ["S256"],
          token_endpoint_auth_methods_supported: ["none", "client_secret_post"],
          claims_supported: ["sub", "aud", "exp", "iat", "iss", "jti", "nbf", "ref", "sha", "repository", "repository_id", "repository_owner", "repository_owner_id", "repository_visibility", "run_id", "run_number", "run_attempt", "runner_environment", "actor", "actor_id", "workflow", "workflow_ref", "workflow_sha", "job_workflow_ref", "job_workflow_sha", "head_ref", "base_ref", "event_name", "ref_type", "ref_protected"],
          id_token_signing_alg_values_supported: ["RS256"],
          scopes_supported: ["openid"],
        });
      }
      if (path === "/oidc/jwks") return json(200, await issuerApi.jwks());
      return json(404, { error: "not found" });
    },

    async control(req, path) {
      if (path !== "/_simulator/oidc" && !path.startsWith("/_simulator/oidc/")) return undefined;
      try {
        if (path === "/_simulator/oidc" && req.method === "GET") {
          const k = await current();
          return Response.json({ issuer: issuer(), current_kid: k.kid, published_kids: keys.filter((x) => x.published).map((x) => x.kid) });
        }
        if (path === "/_simulator/oidc/token" && req.method === "POST") {
          return Response.json({ token: await issuerApi.mint((await readJson(req)) as MintRequest) });
        }
        if (path === "/_simulator/oidc/rotate" && req.method === "POST") {
          const body = (await readJson(req, true)) ?? {};
          const retireOld = (body as { retire_old?: unknown }).retire_old;
          if (retireOld !== undefined && typeof retireOld !== "boolean") throw new OidcRequestError("retire_old is a boolean");
          return Response.json({ kid: await issuerApi.rotate({ retireOld: retireOld === true }) });
        }
      } catch (e) {
        if (e instanceof OidcRequestError) return Response.json({ message: e.message }, { status: 400 });
        throw e;
      }
      return undefined;
    },
  };
  return issuerApi;
}

function checkMintRequest(r: unknown): MintRequest {
  if (typeof r !== "object" || r === null || Array.isArray(r)) throw new OidcRequestError("the body must be a JSON object {sub, aud, ...}");
  const m = r as Record<string, unknown>;
  if (typeof m.sub !== "string" || !m.sub) throw new OidcRequestError("sub is required: a non-empty string");
  const audOk = (typeof m.aud === "string" && m.aud) || (Array.isArray(m.aud) && m.aud.length > 0 && m.aud.every((a) => typeof a === "string" && a));
  if (!audOk) throw new OidcRequestError("aud is required: a non-empty string or list of strings");
  for (const k of ["expires_in", "iat", "nbf", "exp"]) {
    if (m[k] !== undefined && !Number.isInteger(m[k])) throw new OidcRequestError(`${k} must be an integer (seconds)`);
  }
  for (const k of ["iss", "kid"]) {
    if (m[k] !== undefined && typeof m[k] !== "string") throw new OidcRequestError(`${k} must be a string`);
  }
  if (m.claims !== undefined && (typeof m.claims !== "object" || m.claims === null || Array.isArray(m.claims))) {
    throw new OidcRequestError("claims must be an object");
  }
  if (m.alg !== undefined && !OIDC_ALGS.includes(m.alg as OidcAlg)) throw new OidcRequestError(`alg must be one of ${OIDC_ALGS.join(", ")}`);
  return m as unknown as MintRequest;
}

async function readJson(req: Request, emptyOk = false): Promise<unknown> {
  const text = await req.text();
  if (!text && emptyOk) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    throw new OidcRequestError("the body must be JSON");
  }
}
