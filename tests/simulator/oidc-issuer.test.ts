// The simulator's OIDC issuer, verified the way the runner broker verifies (jose's createRemoteJWKSet and
// jwtVerify, found through discovery), and its forged tokens checked to be exactly the attack they name:
// a test of the broker that "rejects alg none" is only worth something if the token really is alg none.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createRemoteJWKSet, decodeJwt, decodeProtectedHeader, errors, jwtVerify, type JWTVerifyGetKey } from "jose";
import jwt from "jsonwebtoken";
import { createHmac, createPublicKey } from "node:crypto";
import { startSimulator, type Simulator } from "./simulator.ts";

let sim: Simulator;
beforeAll(async () => {
  sim = await startSimulator();
});
afterAll(async () => {
  await sim.close();
});

// Issuer answers are JSON documents whose shape each test asserts on.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;
const SUB = "repo:acme-org/api:ref:refs/heads/main";
const AUD = "ghapp-runner-broker";

async function mint(body: Record<string, unknown> = {}, s = sim): Promise<string> {
  const res = await fetch(`${s.origin}/_simulator/oidc/token`, { method: "POST", body: JSON.stringify({ sub: SUB, aud: AUD, ...body }) });
  if (res.status !== 200) throw new Error(`mint: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { token: string }).token;
}
async function discovery(s = sim): Promise<Json> {
  return (await fetch(`${s.origin}/oidc/.well-known/openid-configuration`)).json();
}
/** A key set as the broker builds it: from the discovery document's jwks_uri, fresh for each test. */
async function keySet(s = sim): Promise<JWTVerifyGetKey> {
  return createRemoteJWKSet(new URL((await discovery(s)).jwks_uri));
}
const verify = async (token: string, s = sim) => jwtVerify(token, await keySet(s), { issuer: `${s.origin}/oidc`, audience: AUD, algorithms: ["RS256"] });
const rejection = async (token: string, s = sim) => verify(token, s).then(() => null, (e: Error) => e);

describe("discovery and keys", () => {
  test("publishes a discovery document whose issuer is exactly ORIGIN/oidc and whose jwks_uri serves RS256 keys", async () => {
    const doc = await discovery();
    expect(doc.issuer).toBe(`${sim.origin}/oidc`);
    expect(doc.jwks_uri).toBe(`${sim.origin}/oidc/jwks`);
    expect(doc.id_token_signing_alg_values_supported).toEqual(["RS256"]);
    expect(doc.claims_supported).toEqual(expect.arrayContaining(["repository", "job_workflow_ref", "repository_owner"]));
    const jwks = (await (await fetch(doc.jwks_uri)).json()) as Json;
    expect(jwks.keys.length).toBe(1);
    expect(jwks.keys[0]).toEqual({ kty: "RSA", n: expect.any(String), e: "AQAB", kid: expect.any(String), alg: "RS256", use: "sig" });
    expect(jwks.keys[0].d).toBeUndefined();
  });

  test("is served beside the API under /api/v3, never under the prefix", async () => {
    const ghes = await startSimulator({ prefix: "/api/v3" });
    try {
      expect((await discovery(ghes)).issuer).toBe(`${ghes.origin}/oidc`);
      expect((await fetch(`${ghes.url}/oidc/jwks`)).status).toBe(404);
      expect((await verify(await mint({}, ghes), ghes)).payload.sub).toBe(SUB);
    } finally {
      await ghes.close();
    }
  });

  test("unknown issuer paths are JSON 404s, and the issuer only answers GET (but for the token endpoint)", async () => {
    const res = await fetch(`${sim.origin}/oidc/nothing`);
    expect([res.status, res.headers.get("content-type")]).toEqual([404, "application/json; charset=utf-8"]);
    expect((await fetch(`${sim.origin}/oidc/jwks`, { method: "POST" })).status).toBe(405);
  });
});

describe("tokens", () => {
  test("a minted token verifies with jose through discovery, with GitHub Actions' claims", async () => {
    const token = await mint();
    const { payload, protectedHeader } = await verify(token);
    expect(protectedHeader).toEqual({ alg: "RS256", typ: "JWT", kid: (await (await fetch(`${sim.origin}/oidc/jwks`)).json() as Json).keys[0].kid });
    expect(payload).toMatchObject({
      iss: `${sim.origin}/oidc`,
      sub: SUB,
      aud: AUD,
      repository: "acme-org/api",
      repository_owner: "acme-org",
      ref: "refs/heads/main",
      ref_type: "branch",
      job_workflow_ref: "acme-org/api/.github/workflows/ci.yml@refs/heads/main",
      actor: "octocat",
      event_name: "push",
      run_id: expect.stringMatching(/^\d+$/),
      jti: expect.any(String),
    });
    const now = Math.floor(Date.now() / 1000);
    expect(payload.iat!).toBeGreaterThanOrEqual(now - 5);
    expect(payload.nbf).toBe(payload.iat);
    expect(payload.exp! - payload.iat!).toBe(300);
  });

  test("verifies with an independent implementation too (jsonwebtoken with the JWK as a public key)", async () => {
    const token = await mint();
    const jwk = ((await (await fetch(`${sim.origin}/oidc/jwks`)).json()) as Json).keys[0];
    const claims = jwt.verify(token, createPublicKey({ key: jwk, format: "jwk" }), { algorithms: ["RS256"], audience: AUD, issuer: `${sim.origin}/oidc` }) as jwt.JwtPayload;
    expect(claims.sub).toBe(SUB);
  });

  test("takes claims, several audiences and lifetimes on request, and leaves out a claim set to null", async () => {
    const token = await mint({ sub: "repo:partner/ci:ref:refs/tags/v1", aud: [AUD, "other"], expires_in: 60, claims: { environment: "prod", actor: "mallory", nbf: null } });
    const { payload } = await verify(token);
    expect(payload).toMatchObject({ repository: "partner/ci", repository_owner: "partner", ref: "refs/tags/v1", ref_type: "tag", environment: "prod", actor: "mallory", aud: [AUD, "other"] });
    expect(payload.exp! - payload.iat!).toBe(60);
    expect("nbf" in payload).toBe(false);
    const noExp = decodeJwt(await mint({ claims: { exp: null } }));
    expect("exp" in noExp).toBe(false);
  });

  test("expired, not-yet-valid, wrong-issuer and wrong-audience tokens are what they say", async () => {
    const now = Math.floor(Date.now() / 1000);
    const expired = await rejection(await mint({ expires_in: -60 }));
    expect(expired).toBeInstanceOf(errors.JWTExpired);
    const early = await rejection(await mint({ nbf: now + 600, exp: now + 900 }));
    expect(early).toBeInstanceOf(errors.JWTClaimValidationFailed);
    expect((early as errors.JWTClaimValidationFailed).claim).toBe("nbf");
    const stranger = await rejection(await mint({ iss: "https://token.actions.githubusercontent.com" }));
    expect((stranger as errors.JWTClaimValidationFailed).claim).toBe("iss");
    const elsewhere = await rejection(await mint({ aud: "someone-else" }));
    expect((elsewhere as errors.JWTClaimValidationFailed).claim).toBe("aud");
    // Each is still signed by the issuer's real key: only the claim is wrong.
    expect(decodeProtectedHeader(await mint({ iss: "x" })).alg).toBe("RS256");
  });

  test("judges now by the simulator's clock", async () => {
    sim.setClockOffset(-3600);
    try {
      expect(await rejection(await mint())).toBeInstanceOf(errors.JWTExpired);
    } finally {
      sim.setClockOffset(0);
    }
  });

  test("answers 400 naming the problem for a bad request", async () => {
    const post = async (body: unknown) => {
      const res = await fetch(`${sim.origin}/_simulator/oidc/token`, { method: "POST", body: typeof body === "string" ? body : JSON.stringify(body) });
      return { status: res.status, message: ((await res.json()) as Json).message as string };
    };
    expect(await post({ aud: AUD })).toEqual({ status: 400, message: "sub is required: a non-empty string" });
    expect(await post({ sub: SUB })).toEqual({ status: 400, message: "aud is required: a non-empty string or list of strings" });
    expect((await post({ sub: SUB, aud: AUD, alg: "HS512" })).message).toContain("alg must be one of RS256, none");
    expect((await post({ sub: SUB, aud: AUD, expires_in: "soon" })).message).toBe("expires_in must be an integer (seconds)");
    expect((await post({ sub: SUB, aud: AUD, kid: "nope" })).message).toContain('no key with kid "nope"');
    expect((await post("not json")).status).toBe(400);
  });
});

describe("forged tokens", () => {
  test('alg "none" is unsigned, names the real kid, and jose refuses it', async () => {
    const token = await mint({ alg: "none" });
    const [header, , signature] = token.split(".");
    expect(JSON.parse(Buffer.from(header!, "base64url").toString())).toEqual({ alg: "none", typ: "JWT", kid: expect.any(String) });
    expect(signature).toBe("");
    expect(decodeJwt(token).sub).toBe(SUB);
    expect(await rejection(token)).toBeInstanceOf(Error);
  });

  test('"HS256-with-public-key" is an HMAC keyed with the issuer\'s public key PEM, and jose refuses it', async () => {
    const token = await mint({ alg: "HS256-with-public-key" });
    const [header, payload, signature] = token.split(".");
    const h = JSON.parse(Buffer.from(header!, "base64url").toString());
    const jwks = (await (await fetch(`${sim.origin}/oidc/jwks`)).json()) as Json;
    expect(h).toEqual({ alg: "HS256", typ: "JWT", kid: jwks.keys[0].kid });
    // The attack: a verifier that takes the alg from the token would check this with the public key it holds.
    const publicPem = createPublicKey({ key: jwks.keys[0], format: "jwk" }).export({ type: "spki", format: "pem" }).toString();
    expect(signature).toBe(createHmac("sha256", publicPem).update(`${header}.${payload}`).digest("base64url"));
    expect(await rejection(token)).toBeInstanceOf(errors.JOSEAlgNotAllowed);
  });

  test('"unknown-kid" is RS256 under a kid the JWKS never had, and jose finds no key for it', async () => {
    const token = await mint({ alg: "unknown-kid" });
    const h = decodeProtectedHeader(token);
    const jwks = (await (await fetch(`${sim.origin}/oidc/jwks`)).json()) as Json;
    expect(h.alg).toBe("RS256");
    expect(jwks.keys.map((k: Json) => k.kid)).not.toContain(h.kid);
    expect(await rejection(token)).toBeInstanceOf(errors.JWKSNoMatchingKey);
  });
});

describe("key rotation", () => {
  test("without retiring: the new key signs, both are published, old tokens still verify", async () => {
    const s = await startSimulator();
    try {
      const old = await mint({}, s);
      const keys = await keySet(s);
      const rotated = await fetch(`${s.origin}/_simulator/oidc/rotate`, { method: "POST" });
      const { kid } = (await rotated.json()) as { kid: string };
      const fresh = await mint({}, s);
      expect(decodeProtectedHeader(fresh).kid).toBe(kid);
      expect(decodeProtectedHeader(old).kid).not.toBe(kid);
      const state = (await (await fetch(`${s.origin}/_simulator/oidc`)).json()) as Json;
      expect(state).toEqual({ issuer: `${s.origin}/oidc`, current_kid: kid, published_kids: [decodeProtectedHeader(old).kid, kid] });
      // A verifier that cached the old key set meets an unknown kid, fetches again and succeeds.
      const opts = { issuer: `${s.origin}/oidc`, audience: AUD };
      expect((await jwtVerify(old, keys, opts)).payload.sub).toBe(SUB);
      expect((await jwtVerify(fresh, keys, opts)).payload.sub).toBe(SUB);
    } finally {
      await s.close();
    }
  });

  test("retiring the old key unpublishes it: its tokens fail; kid still signs with it on request", async () => {
    const s = await startSimulator();
    try {
      const old = await mint({}, s);
      const oldKid = decodeProtectedHeader(old).kid!;
      const { kid } = (await (await fetch(`${s.origin}/_simulator/oidc/rotate`, { method: "POST", body: JSON.stringify({ retire_old: true }) })).json()) as { kid: string };
      const jwks = (await (await fetch(`${s.origin}/oidc/jwks`)).json()) as Json;
      expect(jwks.keys.map((k: Json) => k.kid)).toEqual([kid]);
      expect(await rejection(old, s)).toBeInstanceOf(errors.JWKSNoMatchingKey);
      const signedByRetired = await mint({ kid: oldKid }, s);
      expect(decodeProtectedHeader(signedByRetired).kid).toBe(oldKid);
      expect(await rejection(signedByRetired, s)).toBeInstanceOf(errors.JWKSNoMatchingKey);
      expect((await verify(await mint({}, s), s)).protectedHeader.kid).toBe(kid);
      expect((await fetch(`${s.origin}/_simulator/oidc/rotate`, { method: "POST", body: '{"retire_old":"yes"}' })).status).toBe(400);
    } finally {
      await s.close();
    }
  });
});

describe("faults", () => {
  test("match /oidc paths: an issuer that is down or drops the connection, then recovers", async () => {
    const s = await startSimulator();
    try {
      const token = await mint({}, s);
      s.inject({ kind: "status", status: 503, match: { path: "/oidc" } });
      expect((await fetch(`${s.origin}/oidc/jwks`)).status).toBe(503);
      // Three drops: Bun's fetch retries a GET once on a connection closed under it.
      s.inject({ kind: "drop", match: { path: "/oidc/jwks" }, times: 3 });
      expect(((await rejection(token, s)) as { code?: string } | null)?.code).toBe("ECONNRESET");
      s.clearFaults();
      expect((await verify(token, s)).payload.sub).toBe(SUB);
      // A fault without a path is GitHub's: the issuer stays up and the fault waits for GitHub's next request.
      s.inject({ kind: "status", status: 502 });
      expect((await fetch(`${s.origin}/oidc/jwks`)).status).toBe(200);
      expect((await fetch(`${s.url}/rate_limit`)).status).toBe(502);
      // Requests to the issuer are in the request log, like GitHub's.
      expect(s.requests.filter((r) => r.path.startsWith("/oidc")).map((r) => r.status)).toContain(503);
    } finally {
      await s.close();
    }
  });
});

describe("sign-in (authorization code with PKCE)", () => {
  const CLIENT = "broker-dashboard";
  const REDIRECT = "http://127.0.0.1:9/ui/callback";
  const VERIFIER = "a".repeat(20) + "-verifier-of-forty-three-chars-or-more";
  const CHALLENGE = new Bun.CryptoHasher("sha256").update(VERIFIER).digest("base64url");
  const authorize = (extra: Record<string, string> = {}) => {
    const q = new URLSearchParams({ response_type: "code", client_id: CLIENT, redirect_uri: REDIRECT, scope: "openid", state: "st-1", nonce: "n-1", code_challenge: CHALLENGE, code_challenge_method: "S256", login_hint: SUB, ...extra });
    for (const [k, v] of Object.entries(extra)) if (v === "") q.delete(k);
    return fetch(`${sim.origin}/oidc/authorize?${q}`, { redirect: "manual" });
  };
  const exchange = (code: string, extra: Record<string, string> = {}) =>
    fetch(`${sim.origin}/oidc/token`, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: new URLSearchParams({ grant_type: "authorization_code", code, redirect_uri: REDIRECT, client_id: CLIENT, code_verifier: VERIFIER, ...extra }).toString() });
  const codeOf = async (res: Response) => new URL(res.headers.get("location")!).searchParams;

  test("discovery names the authorization and token endpoints and S256 as the only PKCE method", async () => {
    const doc = await discovery();
    expect([doc.authorization_endpoint, doc.token_endpoint]).toEqual([`${sim.origin}/oidc/authorize`, `${sim.origin}/oidc/token`]);
    expect(doc.code_challenge_methods_supported).toEqual(["S256"]);
    expect(doc.response_types_supported).toContain("code");
  });

  test("a code comes back with the state, and buys an ID token for the login_hint with the client as audience and the nonce", async () => {
    const res = await authorize();
    expect(res.status).toBe(302);
    const back = await codeOf(res);
    expect(back.get("state")).toBe("st-1");
    const token = await exchange(back.get("code")!);
    expect([token.status, token.headers.get("cache-control")]).toEqual([200, "no-store"]);
    const body = (await token.json()) as Json;
    expect(body.token_type).toBe("Bearer");
    const { payload } = await jwtVerify(body.id_token, await keySet(), { issuer: `${sim.origin}/oidc`, audience: CLIENT, algorithms: ["RS256"] });
    expect([payload.sub, payload.nonce]).toEqual([SUB, "n-1"]);
  });

  test("a code is single-use, and refused with another verifier, client or redirect_uri", async () => {
    const code1 = (await codeOf(await authorize())).get("code")!;
    expect((await exchange(code1)).status).toBe(200);
    expect(((await (await exchange(code1)).json()) as Json).error).toBe("invalid_grant");
    for (const wrong of <Record<string, string>[]>[{ code_verifier: "b".repeat(43) }, { client_id: "other" }, { redirect_uri: "http://127.0.0.1:9/elsewhere" }]) {
      const code = (await codeOf(await authorize())).get("code")!;
      const res = await exchange(code, wrong);
      expect([res.status, ((await res.json()) as Json).error]).toEqual([400, "invalid_grant"]);
    }
  });

  test("without PKCE S256 the error goes back to the client with the state; without a redirect_uri it is a 400 page", async () => {
    const plain = await codeOf(await authorize({ code_challenge_method: "plain" }));
    expect([plain.get("error"), plain.get("state"), plain.get("code")]).toEqual(["invalid_request", "st-1", null]);
    expect((await authorize({ redirect_uri: "" })).status).toBe(400);
  });

  test("without a login_hint a person gets a form to choose the subject", async () => {
    const res = await authorize({ login_hint: "" });
    expect(res.status).toBe(200);
    const page = await res.text();
    expect(page).toContain('name="login_hint"');
    expect(page).toContain(`value="${CHALLENGE}"`);
  });
});
