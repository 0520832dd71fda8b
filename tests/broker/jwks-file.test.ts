// An issuer's keys from a JWKS file (a mounted ConfigMap): read when needed, read again when the
// cluster rotates its key (a token names a kid the file did not have) no more often than the
// recheck interval, bounded in size, and the keys read before kept when the file turns bad.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AuthError, IssuerUnavailableError, OidcVerifier } from "../../generator/src/broker/oidc.ts";
import { kubernetesIssuer, type KubernetesIssuer } from "./kubernetes-issuer.ts";

const ISS = "https://kubernetes.default.svc.cluster.local";
const AUD = "ghapp-runner-broker";
let dir: string;
let k8s: KubernetesIssuer;
let clock = Date.now();
const verifier = () => new OidcVerifier({ issuer: ISS, audience: AUD, identityClaim: "sub", timeoutMs: 1000, jwksFile: k8s.jwksFile }, () => clock);
const token = () => k8s.token({ namespace: "team-a", sa: "deployer", aud: AUD });
async function outcome(v: OidcVerifier, t: string): Promise<string> {
  try {
    return (await v.verify(t)).identity;
  } catch (e) {
    if (e instanceof AuthError) return e.reason;
    if (e instanceof IssuerUnavailableError) return "issuer_unavailable";
    throw e;
  }
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "jwks-file-"));
  k8s = await kubernetesIssuer(ISS, join(dir, "jwks.json"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("a JWKS file", () => {
  test("verifies the cluster's tokens without any network", async () => {
    expect(await outcome(verifier(), await token())).toBe("system:serviceaccount:team-a:deployer");
  });

  test("a rotated key is picked up once the recheck interval has passed, not before", async () => {
    clock = Date.now();
    const v = verifier();
    expect(await outcome(v, await token())).toBe("system:serviceaccount:team-a:deployer");
    await k8s.rotate();
    const rotated = await token();
    expect(await outcome(v, rotated)).toBe("unknown_key");
    clock += 10_001;
    expect(await outcome(v, rotated)).toBe("system:serviceaccount:team-a:deployer");
  });

  test("a file turned bad keeps the keys read before; none read at all is issuer_unavailable, never a bad token", async () => {
    clock = Date.now();
    const v = verifier();
    const t = await token();
    expect(await outcome(v, t)).toBe("system:serviceaccount:team-a:deployer");
    const good = await Bun.file(k8s.jwksFile).text();
    writeFileSync(k8s.jwksFile, "not json");
    clock += 60_000;
    expect(await outcome(v, t)).toBe("system:serviceaccount:team-a:deployer");
    expect(await outcome(verifier(), t)).toBe("issuer_unavailable");
    writeFileSync(k8s.jwksFile, good);
  });

  test("a file larger than 256 KiB is not read", async () => {
    const big = join(dir, "big.json");
    writeFileSync(big, JSON.stringify({ keys: [] }) + " ".repeat(300 * 1024));
    const v = new OidcVerifier({ issuer: ISS, audience: AUD, identityClaim: "sub", timeoutMs: 1000, jwksFile: big }, () => clock);
    expect(await outcome(v, await token())).toBe("issuer_unavailable");
  });
});
