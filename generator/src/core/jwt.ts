// The app's JSON Web Token: RS256, iat 60 s in the past (GitHub's advice for clock drift) and
// exp 9 minutes ahead, inside GitHub's 10-minute ceiling.
// https://docs.github.com/en/apps/creating-github-apps/authenticating-with-a-github-app/generating-a-json-web-token-jwt-for-a-github-app
//
// Only jsonwebtoken's sign is imported: its package index also loads verify and decode, which
// the generator never runs (tests/bench/import-probes.ts measures both ways).
import sign from "jsonwebtoken/sign.js";
import type { KeyObject } from "node:crypto";

export const JWT_BACKDATE_SECONDS = 60;
export const JWT_LIFETIME_SECONDS = 540;

/** Signs the app JWT. `nowMs` is the (skew-corrected) clock. */
export function signAppJwt(appId: string, key: KeyObject, nowMs: number): string {
  const now = Math.floor(nowMs / 1000);
  return sign({ iat: now - JWT_BACKDATE_SECONDS, exp: now + JWT_LIFETIME_SECONDS, iss: appId }, key, { algorithm: "RS256" });
}
