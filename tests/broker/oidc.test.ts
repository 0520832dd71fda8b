// OIDC verification against a real issuer (the simulator's, over HTTP): every way a token can be
// wrong is refused with its reason, and the issuer is asked for keys only when it must be.
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { AuthError, IssuerUnavailableError, MAX_TOKEN_BYTES, OidcVerifier, REFETCH_COOLDOWN_MS } from "../../generator/src/broker/oidc.ts";
import { startSimulator, type Simulator } from "../simulator/simulator.ts";

let sim: Simulator;
const AUD = "ghapp-runner-broker";
const SUB = "repo:acme-org/api:ref:refs/heads/main";
let clock = Date.now();
const verifier = (extra: Partial<ConstructorParameters<typeof OidcVerifier>[0]> = {}) =>
  new OidcVerifier({ issuer: sim.oidc.issuer, audience: AUD, identityClaim: "sub", timeoutMs: 2000, ...extra }, () => clock);
const mint = (extra: Record<string, unknown> = {}) => sim.oidc.mint({ sub: SUB, aud: AUD, ...extra });
const jwksFetches = () => sim.requests.filter((r) => r.path.startsWith("/oidc/jwks")).length;

async function refusal(v: OidcVerifier, token: string | undefined): Promise<string> {
  try {
    await v.verify(token);
    return "accepted";
  } catch (e) {
    if (e instanceof AuthError) return e.reason;
    if (e instanceof IssuerUnavailableError) return "issuer_unavailable";
    throw e;
  }
}

beforeAll(async () => {
  sim = await startSimulator();
});
afterAll(() => sim.close());
beforeEach(() => {
  clock = Date.now();
  sim.clearFaults();
});

describe("tokens the broker accepts", () => {
  test("a token from the issuer for the audience gives the caller's identity", async () => {
    const caller = await verifier().verify(await mint());
    expect(caller.identity).toBe(SUB);
    expect(caller.claims.repository).toBe("acme-org/api");
  });
  test("the identity comes from OIDC_IDENTITY_CLAIM", async () => {
    expect((await verifier({ identityClaim: "repository" }).verify(await mint())).identity).toBe("acme-org/api");
  });
  test("an audience list that contains the broker's audience is accepted", async () => {
    expect((await verifier().verify(await mint({ aud: ["other", AUD] }))).identity).toBe(SUB);
  });
});

describe("tokens the broker refuses", () => {
  test("no token", async () => expect(await refusal(verifier(), undefined)).toBe("missing_token"));
  test("wrong issuer", async () => expect(await refusal(verifier(), await mint({ iss: "https://evil.example/oidc" }))).toBe("wrong_issuer"));
  test("an issuer that differs only by a trailing slash", async () => expect(await refusal(verifier(), await mint({ iss: `${sim.oidc.issuer}/` }))).toBe("wrong_issuer"));
  test("wrong audience", async () => expect(await refusal(verifier(), await mint({ aud: "something-else" }))).toBe("wrong_audience"));
  test("expired, beyond the small clock tolerance", async () => {
    const now = Math.floor(Date.now() / 1000);
    expect(await refusal(verifier(), await mint({ iat: now - 600, exp: now - 31 }))).toBe("expired");
  });
  test("without exp", async () => expect(await refusal(verifier(), await mint({ claims: { exp: null } }))).toBe("bad_claims"));
  test("not yet valid (nbf in the future)", async () => {
    const now = Math.floor(Date.now() / 1000);
    expect(await refusal(verifier(), await mint({ nbf: now + 120, exp: now + 600 }))).toBe("not_yet_valid");
  });
  test("issued in the future (iat)", async () => {
    const now = Math.floor(Date.now() / 1000);
    expect(await refusal(verifier(), await mint({ iat: now + 300, nbf: now, exp: now + 900 }))).toBe("not_yet_valid");
  });
  test("valid for more than a day", async () => {
    const now = Math.floor(Date.now() / 1000);
    expect(await refusal(verifier(), await mint({ iat: now, exp: now + 2 * 86400 }))).toBe("bad_claims");
  });
  test("alg none", async () => expect(await refusal(verifier(), await mint({ alg: "none" }))).toBe("bad_algorithm"));
  test("HMAC signed with the issuer's public key", async () => expect(await refusal(verifier(), await mint({ alg: "HS256-with-public-key" }))).toBe("bad_algorithm"));
  test("a tampered payload", async () => {
    const [h, p, s] = (await mint()).split(".");
    const claims = JSON.parse(Buffer.from(p!, "base64url").toString());
    claims.sub = "repo:acme-org/platform:ref:refs/heads/main";
    expect(await refusal(verifier(), `${h}.${Buffer.from(JSON.stringify(claims)).toString("base64url")}.${s}`)).toBe("bad_signature");
  });
  test("an oversized token is refused before anything is parsed or fetched", async () => {
    const v = verifier();
    const before = sim.requests.length;
    expect(await refusal(v, `eyJ${"A".repeat(MAX_TOKEN_BYTES)}.e30.x`)).toBe("too_large");
    expect(sim.requests.length).toBe(before);
  });
  test("a token without the identity claim", async () => expect(await refusal(verifier({ identityClaim: "email" }), await mint())).toBe("no_identity"));
});

describe("keys", () => {
  test("an unknown kid refetches the keys once, then not again within the cooldown", async () => {
    const v = verifier({ refetchCooldownMs: 300 });
    await v.verify(await mint());
    await Bun.sleep(350);
    const after = jwksFetches();
    const junk = await mint({ alg: "unknown-kid" });
    for (let i = 0; i < 20; i++) expect(await refusal(v, junk)).toBe("unknown_key");
    expect(jwksFetches()).toBe(after + 1);
  });

  test("a rotated key is picked up from the issuer", async () => {
    const v = verifier({ refetchCooldownMs: 300 });
    await v.verify(await mint());
    await sim.oidc.rotate({ retireOld: true });
    await Bun.sleep(350);
    expect(await refusal(v, await mint())).toBe("accepted");
  });

  test("keys fetched in the last cooldown are not fetched again for a new kid", async () => {
    // The default cooldown (30 s) is what protects the issuer from a flood of junk kids.
    expect(REFETCH_COOLDOWN_MS).toBe(30_000);
    const v = verifier();
    await v.verify(await mint());
    const after = jwksFetches();
    expect(await refusal(v, await mint({ alg: "unknown-kid" }))).toBe("unknown_key");
    expect(jwksFetches()).toBe(after);
  });

  test("with the issuer down, tokens are still verified with the keys already fetched", async () => {
    const v = verifier();
    await v.verify(await mint());
    sim.inject({ kind: "status", status: 503, match: { path: "/oidc" }, times: 1000 });
    // Let the cache go stale, as it would after ten minutes.
    clock += 11 * 60_000;
    const token = await sim.oidc.mint({ sub: SUB, aud: AUD, iat: Math.floor(clock / 1000), exp: Math.floor(clock / 1000) + 300 });
    expect(await refusal(v, token)).toBe("accepted");
  });

  test("with the issuer down and no keys known, the request cannot be judged (not a 401)", async () => {
    sim.inject({ kind: "status", status: 503, match: { path: "/oidc" }, times: 1000 });
    expect(await refusal(verifier(), await mint())).toBe("issuer_unavailable");
  });

  test("a discovery document naming another issuer is not trusted", async () => {
    const v = verifier({ issuer: `${sim.origin}/oidc/` });
    expect(await refusal(v, await mint())).toBe("issuer_unavailable");
  });
});

describe("a hostile issuer", () => {
  let hostile: ReturnType<typeof Bun.serve>;
  const base = () => `http://127.0.0.1:${hostile.port}`;
  beforeAll(() => {
    const huge = "x".repeat(10 * 1024 * 1024);
    hostile = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      fetch: (req) => {
        const { pathname } = new URL(req.url);
        const issuer = `${base()}${pathname.split("/.well-known")[0]}`;
        const discovery = (jwks_uri: string) => Response.json({ issuer, jwks_uri });
        if (pathname === "/big/.well-known/openid-configuration") return new Response(`{"issuer":"${huge}"}`);
        if (pathname === "/html/.well-known/openid-configuration") return new Response("<html>login</html>", { headers: { "content-type": "text/html" } });
        if (pathname === "/redirect/.well-known/openid-configuration") return Response.redirect(`${sim.origin}/oidc/.well-known/openid-configuration`, 302);
        if (pathname === "/plain-http/.well-known/openid-configuration") return discovery("http://issuer.example.com/jwks");
        if (pathname === "/huge-jwks/.well-known/openid-configuration") return discovery(`${base()}/huge-jwks/jwks`);
        if (pathname === "/huge-jwks/jwks") return new Response(`{"keys":[],"pad":"${huge}"}`);
        if (pathname === "/redirect-jwks/.well-known/openid-configuration") return discovery(`${base()}/redirect-jwks/jwks`);
        if (pathname === "/redirect-jwks/jwks") return Response.redirect(`${sim.origin}/oidc/jwks`, 302);
        return new Response("no", { status: 404 });
      },
    });
  });
  afterAll(() => hostile.stop(true));

  for (const [name, path] of [
    ["a discovery document of 10 MiB", "/big"],
    ["HTML instead of a discovery document", "/html"],
    ["a redirect from the discovery URL", "/redirect"],
    ["a jwks_uri over plain http to another host", "/plain-http"],
    ["a key set of 10 MiB", "/huge-jwks"],
    ["a redirect from the jwks_uri to real keys", "/redirect-jwks"],
  ] as const) {
    test(`${name}: no token is accepted, and the answer is "issuer unavailable"`, async () => {
      const issuer = `${base()}${path}`;
      const v = verifier({ issuer });
      expect(await refusal(v, await mint({ iss: issuer }))).toBe("issuer_unavailable");
    });
  }
});
