// Several issuers at once (oidc/issuers.ts): GitHub Actions' (the simulator's, found by discovery)
// and a cluster's (a JWKS file), each token verified with its own issuer's keys and the runner API's
// rules, and hostile tokens refused with their reason.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AuthError, IssuerUnavailableError } from "../../generator/src/broker/oidc.ts";
import { IssuerRegistry } from "../../generator/src/broker/oidc/issuers.ts";
import { startSimulator, type Simulator } from "../simulator/simulator.ts";
import { kubernetesIssuer, type KubernetesIssuer } from "./kubernetes-issuer.ts";

const K8S = "https://kubernetes.default.svc.cluster.local";
const AUD = "ghapp-runner-broker";
let sim: Simulator;
let k8s: KubernetesIssuer;
let dir: string;
let audiences: Record<string, string[]>;

const registry = () => new IssuerRegistry({ audiencesOf: async (iss) => audiences[iss] ?? [], jwksFiles: new Map([[K8S, k8s.jwksFile]]), timeoutMs: 2000 });
async function outcome(r: IssuerRegistry, token: string): Promise<string> {
  try {
    const t = await r.verify(token);
    return `${t.issuer} ${t.subject}`;
  } catch (e) {
    if (e instanceof AuthError) return e.reason;
    if (e instanceof IssuerUnavailableError) return "issuer_unavailable";
    throw e;
  }
}
const actions = (extra: Record<string, unknown> = {}) => sim.oidc.mint({ sub: "repo:acme-org/api:ref:refs/heads/main", aud: AUD, ...extra });
const pod = () => k8s.token({ namespace: "team-a", sa: "deployer", aud: AUD });

beforeAll(async () => {
  sim = await startSimulator();
  dir = mkdtempSync(join(tmpdir(), "issuers-"));
  k8s = await kubernetesIssuer(K8S, join(dir, "jwks.json"));
});
afterAll(async () => {
  await sim.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("two issuers at once", () => {
  test("each issuer's tokens verify with its own keys: discovery for one, the JWKS file for the other", async () => {
    audiences = { [sim.oidc.issuer]: [AUD], [K8S]: [AUD] };
    const r = registry();
    expect(await outcome(r, await actions())).toBe(`${sim.oidc.issuer} repo:acme-org/api:ref:refs/heads/main`);
    expect(await outcome(r, await pod())).toBe(`${K8S} system:serviceaccount:team-a:deployer`);
    expect(sim.requests.filter((x) => x.path === "/oidc/.well-known/openid-configuration")).toHaveLength(1);
  });

  test("a token naming one issuer but signed by the other's key is refused", async () => {
    audiences = { [sim.oidc.issuer]: [AUD], [K8S]: [AUD] };
    expect(await outcome(registry(), await actions({ iss: K8S }))).toMatch(/^(unknown_key|bad_signature)$/);
  });

  test("an issuer no policy names is refused before anything is fetched from it", async () => {
    audiences = { [K8S]: [AUD] };
    const before = sim.requests.length;
    expect(await outcome(registry(), await actions())).toBe("wrong_issuer");
    expect(sim.requests.length).toBe(before);
  });

  test("an audience no policy of the issuer names is refused", async () => {
    audiences = { [K8S]: ["another-audience"] };
    expect(await outcome(registry(), await pod())).toBe("wrong_audience");
  });

  test("a verified token stops being accepted once no policy names its issuer", async () => {
    audiences = { [K8S]: [AUD] };
    const r = registry();
    const t = await pod();
    expect(await outcome(r, t)).toBe(`${K8S} system:serviceaccount:team-a:deployer`);
    audiences = {};
    expect(await outcome(r, t)).toBe("wrong_issuer");
  });
});

describe("hostile tokens, per issuer", () => {
  test("alg none, HMAC keyed with the public key, an unknown kid: refused with their reason", async () => {
    audiences = { [sim.oidc.issuer]: [AUD], [K8S]: [AUD] };
    const r = registry();
    expect(await outcome(r, await actions({ alg: "none" }))).toBe("bad_algorithm");
    expect(await outcome(r, await actions({ alg: "HS256-with-public-key" }))).toBe("bad_algorithm");
    expect(await outcome(r, await actions({ alg: "unknown-kid" }))).toBe("unknown_key");
    expect(await outcome(r, await k8s.token({ namespace: "team-a", sa: "deployer", aud: AUD, alg: "none" }))).toBe("bad_algorithm");
  });

  test("a token valid for more than a day is refused", async () => {
    audiences = { [K8S]: [AUD] };
    expect(await outcome(registry(), await k8s.token({ namespace: "team-a", sa: "deployer", aud: AUD, expiresIn: 25 * 3600 }))).toBe("bad_claims");
  });

  test("an issuer whose discovery names another issuer is unavailable, never trusted", async () => {
    // Discovery for "…/oidc/" is fetched from …/oidc/.well-known/openid-configuration, whose issuer is "…/oidc".
    const fake = `${sim.origin}/oidc/`;
    audiences = { [fake]: [AUD] };
    expect(await outcome(registry(), await actions({ iss: fake }))).toBe("issuer_unavailable");
  });
});

describe("a hostile issuer a policy names", () => {
  let hostile: ReturnType<typeof Bun.serve>;
  const base = () => `http://127.0.0.1:${hostile.port}`;
  beforeAll(() => {
    const huge = "x".repeat(10 * 1024 * 1024);
    hostile = Bun.serve({
      port: 0,
      fetch(req) {
        const { pathname } = new URL(req.url);
        const discovery = (name: string) => Response.json({ issuer: `${base()}/${name}`, jwks_uri: `${base()}/${name}/jwks` });
        if (pathname === "/huge-jwks/.well-known/openid-configuration") return discovery("huge-jwks");
        if (pathname === "/huge-jwks/jwks") return new Response(`{"keys":[],"pad":"${huge}"}`);
        if (pathname === "/redirecting/.well-known/openid-configuration") return discovery("redirecting");
        if (pathname === "/redirecting/jwks") return Response.redirect(`${sim.origin}/oidc/jwks`, 302);
        return new Response("not found", { status: 404 });
      },
    });
  });
  afterAll(() => hostile.stop(true));

  test("a 10 MiB JWKS is not taken in: the issuer is unavailable (503), never its keys", async () => {
    const iss = `${base()}/huge-jwks`;
    audiences = { [iss]: [AUD] };
    expect(await outcome(registry(), await actions({ iss }))).toBe("issuer_unavailable");
  });

  test("a JWKS that redirects elsewhere (to keys that would verify the token) is not followed", async () => {
    const iss = `${base()}/redirecting`;
    audiences = { [iss]: [AUD] };
    expect(await outcome(registry(), await actions({ iss }))).toBe("issuer_unavailable");
  });
});
