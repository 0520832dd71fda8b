import { expect, test } from "bun:test";
import { generateKeyPairSync } from "node:crypto";
import jwt from "jsonwebtoken";
import { signAppJwt } from "../../generator/src/core/jwt.ts";

const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });

test("signs RS256 with iat 60 s back, exp 540 s ahead and iss as given, by the injected clock", () => {
  const now = Date.parse("2026-03-01T12:00:00Z");
  const token = signAppJwt("424242", privateKey, now);
  const header = JSON.parse(Buffer.from(token.split(".")[0]!, "base64url").toString());
  expect(header.alg).toBe("RS256");
  const claims = jwt.verify(token, publicKey, { algorithms: ["RS256"], clockTimestamp: now / 1000 }) as jwt.JwtPayload;
  expect(claims).toEqual({ iat: now / 1000 - 60, exp: now / 1000 + 540, iss: "424242" });
});

test("keeps a Client ID as the issuer", () => {
  const token = signAppJwt("Iv23liAbCdEf012345", privateKey, Date.now());
  expect((jwt.decode(token) as jwt.JwtPayload).iss).toBe("Iv23liAbCdEf012345");
});

test("stays inside GitHub's 10-minute ceiling", () => {
  const claims = jwt.decode(signAppJwt("1", privateKey, Date.now())) as jwt.JwtPayload;
  expect(claims.exp! - claims.iat!).toBeLessThanOrEqual(600);
});
