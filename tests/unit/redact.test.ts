import { expect, test } from "bun:test";
import { PassThrough } from "node:stream";
import { generateKeyPairSync } from "node:crypto";
import jwt from "jsonwebtoken";
import { redact, redactString } from "../../generator/src/core/redact.ts";
import { createLogger } from "../../generator/src/core/logger.ts";

const ghs = "ghs_16C7e42F292c6912E7710c838347Ae178B4a";
const pat = "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJ";
const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
const pem = privateKey.export({ type: "pkcs1", format: "pem" }) as string;
const token = jwt.sign({ iss: "1" }, privateKey, { algorithm: "RS256" });

test("masks GitHub tokens, JWTs and PEM blocks in text", () => {
  const out = redactString(`a ${ghs} b ${pat} c ${token} d ${pem} e`);
  for (const secret of [ghs, pat, token, pem.split("\n")[1]!]) expect(out).not.toContain(secret);
  expect(out).toContain("[REDACTED]");
  expect(out.startsWith("a ")).toBe(true);
});

test("masks secrets in nested fields and arrays", () => {
  const out = JSON.stringify(redact({ a: { b: [ghs, { c: token }] }, n: 3 }));
  expect(out).not.toContain(ghs);
  expect(out).not.toContain(token);
  expect(out).toContain('"n":3');
});

test("the logger writes one JSON object per line with secrets masked in message and fields", async () => {
  const stream = new PassThrough();
  let text = "";
  stream.on("data", (c) => (text += c));
  const logger = createLogger("debug", { correlation_id: "cid-1" }, { stream });
  logger.info(`got ${ghs}`, { nested: { jwt: token, key: pem } });
  await logger.flush();
  const lines = text.trim().split("\n");
  expect(lines.length).toBe(1);
  const line = JSON.parse(lines[0]!);
  expect(line.level).toBe("info");
  expect(line.correlation_id).toBe("cid-1");
  expect(line.timestamp).toBeTruthy();
  expect(text).not.toContain(ghs);
  expect(text).not.toContain(token);
  expect(text).not.toContain("BEGIN RSA PRIVATE KEY");
});

test("masks both installation-token forms whole, wherever they sit in text", () => {
  const part = (o: unknown) => Buffer.from(JSON.stringify(o)).toString("base64url");
  const jwtForm = `ghs_424242_${part({ alg: "RS256", typ: "JWT" })}.${part({ sub: "1001", exp: 1_900_000_000 })}.${Buffer.alloc(256, 9).toString("base64url")}`;
  for (const secret of [ghs, jwtForm]) {
    for (const text of [`token ${secret} end`, `x-access-token:${secret}@github.com`, `"${secret}"`, `${secret}.`]) {
      const out = redactString(text);
      expect(out).not.toContain(secret.slice(4, 24));
      expect(out).not.toContain(secret.slice(-30));
      expect(out).toContain("[REDACTED]");
    }
  }
  // the JWT part alone, behind ghs_<appid>_ (no word boundary before "eyJ"), is masked too
  expect(redactString(`id_${jwtForm.slice(11)}`)).not.toContain(jwtForm.slice(-30));
});
