// An issuer's keys from a JWKS file, for an issuer the broker cannot reach: a Kubernetes cluster's
// API server serves its service-account signing keys at /openid/v1/jwks
// (https://kubernetes.io/docs/tasks/configure-pod-container/configure-service-account/#service-account-issuer-discovery),
// and an operator copies them into a ConfigMap mounted beside the broker.
//
// The file is read when first needed, bounded in size, and read again when it changed (a ConfigMap
// update swaps the mounted file): checked at most once per `recheckMs`, and at once, within the same
// bound, when a token names a key the file did not have (the cluster rotated its key). A file that
// cannot be read or parsed keeps the keys read before; with none, verification is "issuer
// unavailable" (503), never "bad token".
import { statSync, readFileSync } from "node:fs";
import { createLocalJWKSet, type JSONWebKeySet, type JWTVerifyGetKey } from "jose";
import { IssuerUnavailableError } from "../oidc.ts";

export type FileKeySet = JWTVerifyGetKey;

export const JWKS_FILE_RECHECK_MS = 10_000;
/** Keys one file may hold: a cluster publishes one or two (during a rotation). */
export const MAX_FILE_KEYS = 100;

/**
 * Why a JWKS file cannot be used, or null: checked at start (exit 2), since a file that is missing
 * then is a mount or a name gone wrong, not a cluster rotating its key.
 */
export function jwksFileProblem(path: string, maxBytes: number): string | null {
  let text: string;
  try {
    if (statSync(path).size > maxBytes) return `is larger than ${Math.round(maxBytes / 1024)} KiB`;
    text = readFileSync(path, "utf8");
  } catch {
    return "cannot be read: check the path and the mounted ConfigMap";
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return "is not JSON: it holds what the API server serves at /openid/v1/jwks";
  }
  const keys = (doc as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(keys) || keys.length === 0 || keys.length > MAX_FILE_KEYS) return `is not a key set with 1..${MAX_FILE_KEYS} keys: it holds what the API server serves at /openid/v1/jwks`;
  return null;
}

export function jwksFromFile(path: string, o: { now: () => number; maxBytes: number; recheckMs?: number }): FileKeySet {
  const recheckMs = o.recheckMs ?? JWKS_FILE_RECHECK_MS;
  let keys: ReturnType<typeof createLocalJWKSet> | undefined;
  let mtimeMs = -1;
  let size = -1;
  let checkedAt = -Infinity;

  const load = (): void => {
    checkedAt = o.now();
    let st;
    try {
      st = statSync(path);
    } catch {
      return;
    }
    if (st.mtimeMs === mtimeMs && st.size === size) return;
    if (st.size > o.maxBytes) return;
    let doc: unknown;
    try {
      doc = JSON.parse(readFileSync(path, "utf8"));
    } catch {
      return;
    }
    const list = (doc as { keys?: unknown } | null)?.keys;
    if (!Array.isArray(list) || list.length > MAX_FILE_KEYS) return;
    try {
      keys = createLocalJWKSet(doc as JSONWebKeySet);
      mtimeMs = st.mtimeMs;
      size = st.size;
    } catch {
      // not a key set jose accepts: keep what was read before
    }
  };

  return async (header, token) => {
    if (!keys || o.now() - checkedAt >= recheckMs) load();
    if (!keys) throw new IssuerUnavailableError(`the issuer's JWKS file cannot be read or is not a key set: check ISSUER_JWKS_FILES and the mounted ConfigMap`);
    try {
      return await keys(header, token);
    } catch (e) {
      // An unknown kid: the cluster may have rotated its key and the ConfigMap followed.
      if (o.now() - checkedAt < recheckMs) throw e;
      load();
      return keys(header, token);
    }
  };
}
