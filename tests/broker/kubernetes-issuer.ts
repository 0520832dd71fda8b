// A Kubernetes cluster's service-account token issuer, as the token exchange meets it: projected
// tokens with a custom audience, `sub` system:serviceaccount:NS:NAME and the nested `kubernetes.io`
// claims (namespace, serviceaccount, and for a pod-bound token the pod's name and uid), signed
// RS256 by a key whose public half the API server serves at /openid/v1/jwks
// (https://kubernetes.io/docs/reference/access-authn-authz/service-accounts-admin/#bound-service-account-tokens,
// https://kubernetes.io/docs/tasks/configure-pod-container/configure-service-account/#service-account-issuer-discovery).
// The issuer is not reachable from the broker here, as in a private cluster: its keys reach the
// broker as a JWKS file (ISSUER_JWKS_FILES), written by this helper.
import { calculateJwkThumbprint, exportJWK, generateKeyPair, SignJWT, type JWK } from "jose";
import { randomUUID } from "node:crypto";
import { writeFileSync } from "node:fs";

export interface KubernetesIssuer {
  issuer: string;
  jwksFile: string;
  /** A projected token for service account `sa` in `namespace`, bound to a pod unless `pod: null`. */
  token(o: { namespace: string; sa: string; aud: string; pod?: { name: string; uid: string } | null; claims?: Record<string, unknown>; expiresIn?: number; alg?: "RS256" | "none" }): Promise<string>;
  /** A new signing key, written to the JWKS file beside the old one (as during a rotation). */
  rotate(): Promise<void>;
}

export async function kubernetesIssuer(issuer: string, jwksFile: string): Promise<KubernetesIssuer> {
  const keys: Array<{ kid: string; privateKey: CryptoKey; jwk: JWK }> = [];
  const addKey = async () => {
    const { privateKey, publicKey } = await generateKeyPair("RS256", { extractable: true });
    const jwk = await exportJWK(publicKey);
    const kid = await calculateJwkThumbprint(jwk);
    keys.push({ kid, privateKey, jwk: { ...jwk, kid, alg: "RS256", use: "sig" } });
    writeFileSync(jwksFile, JSON.stringify({ keys: keys.map((k) => k.jwk) }));
  };
  await addKey();
  return {
    issuer,
    jwksFile,
    async token(o) {
      const now = Math.floor(Date.now() / 1000);
      const pod = o.pod === undefined ? { name: `${o.sa}-7d9f8-abcde`, uid: randomUUID() } : o.pod;
      const payload: Record<string, unknown> = {
        aud: [o.aud],
        exp: now + (o.expiresIn ?? 3600),
        iat: now,
        nbf: now,
        iss: issuer,
        jti: randomUUID(),
        sub: `system:serviceaccount:${o.namespace}:${o.sa}`,
        "kubernetes.io": {
          namespace: o.namespace,
          ...(pod ? { pod, node: { name: "worker-1", uid: randomUUID() } } : {}),
          serviceaccount: { name: o.sa, uid: randomUUID() },
        },
        ...(o.claims ?? {}),
      };
      const k = keys[keys.length - 1]!;
      if (o.alg === "none") {
        const part = (v: unknown) => Buffer.from(JSON.stringify(v)).toString("base64url");
        return `${part({ alg: "none", kid: k.kid })}.${part(payload)}.`;
      }
      return new SignJWT(payload).setProtectedHeader({ alg: "RS256", kid: k.kid }).sign(k.privateKey);
    },
    rotate: addKey,
  };
}
