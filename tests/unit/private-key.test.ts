import { afterAll, describe, expect, test } from "bun:test";
import { generateKeyPairSync, createPublicKey } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { loadPrivateKey, loadPrivateKeyFile } from "../../generator/src/core/private-key.ts";
import { GhappError } from "../../generator/src/core/errors.ts";
import { tempDir } from "../helpers/generator.ts";

const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
const pkcs1 = privateKey.export({ type: "pkcs1", format: "pem" }) as string;
const pkcs8 = privateKey.export({ type: "pkcs8", format: "pem" }) as string;
const publicPem = createPublicKey(privateKey).export({ type: "spki", format: "pem" });
const tmp = tempDir();
afterAll(tmp.cleanup);

function samePublicKey(loaded: ReturnType<typeof loadPrivateKey>) {
  expect(createPublicKey(loaded.key).export({ type: "spki", format: "pem" })).toEqual(publicPem);
}

function expectConfigError(fn: () => unknown, input: string) {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(GhappError);
    const err = e as GhappError;
    expect(err.exitCode).toBe(2);
    expect(err.message).toContain("accepted shapes");
    // The message never repeats what was given: not even a fragment of it.
    for (const fragment of input.split(/\s+/).filter((f) => f.length >= 12)) expect(err.message).not.toContain(fragment);
    return;
  }
  throw new Error("expected a configuration error");
}

describe("private keys in every shape users paste", () => {
  const shapes: Array<[string, string]> = [
    ["PKCS#1 PEM as GitHub issues it", pkcs1],
    ["PKCS#8 PEM", pkcs8],
    ["PEM with literal \\n escapes", pkcs1.trim().replace(/\n/g, "\\n")],
    ["PEM with CRLF line ends", pkcs1.replace(/\n/g, "\r\n")],
    ["PEM with surrounding blanks and double quotes", `  "${pkcs1}"  \n`],
    ["PEM with single quotes and \\n escapes", `'${pkcs8.trim().replace(/\n/g, "\\n")}'`],
    ["base64 of the PEM", Buffer.from(pkcs1).toString("base64")],
    ["base64 of the PEM wrapped over lines", Buffer.from(pkcs8).toString("base64").replace(/(.{64})/g, "$1\n")],
  ];
  for (const [name, value] of shapes) {
    test(`loads ${name}`, () => samePublicKey(loadPrivateKey(value)));
  }

  test("loads a path given in PRIVATE_KEY", () => {
    const path = join(tmp.dir, "key.pem");
    writeFileSync(path, pkcs1);
    samePublicKey(loadPrivateKey(path));
  });

  test("loads PRIVATE_KEY_FILE with a trailing newline and CRLF", () => {
    const path = join(tmp.dir, "crlf.pem");
    writeFileSync(path, pkcs1.replace(/\n/g, "\r\n") + "\r\n");
    samePublicKey(loadPrivateKeyFile(path));
  });
});

describe("anything else is refused with exit 2, naming the accepted shapes, never echoing input", () => {
  test("refuses garbage", () => {
    const garbage = "this-is-definitely-not-a-private-key-value-0123456789";
    expectConfigError(() => loadPrivateKey(garbage), garbage);
  });
  test("refuses a truncated PEM", () => {
    const truncated = pkcs1.slice(0, pkcs1.length / 2);
    expectConfigError(() => loadPrivateKey(truncated), truncated);
  });
  test("refuses base64 of something that is not a PEM", () => {
    const b64 = Buffer.from("hello world, not a key at all, just text").toString("base64");
    expectConfigError(() => loadPrivateKey(b64), b64);
  });
  test("refuses a public key", () => {
    expectConfigError(() => loadPrivateKey(publicPem as string), publicPem as string);
  });
  test("refuses an EC key: GitHub Apps sign with RSA", () => {
    const ec = generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey.export({ type: "pkcs8", format: "pem" }) as string;
    expect(() => loadPrivateKey(ec)).toThrow(/RSA/);
  });
  test("a key that is a JSON document (an ExternalSecret without remoteRef.property) says so, as text or base64", () => {
    const blob = JSON.stringify({ appId: "1", privateKey: pkcs1 });
    for (const value of [blob, Buffer.from(blob).toString("base64")]) {
      const error = (() => {
        try {
          loadPrivateKey(value);
        } catch (e) {
          return e as GhappError;
        }
      })();
      expect(error?.exitCode).toBe(2);
      expect(error?.message).toMatch(/the secret holds JSON: set remoteRef\.property in the chart's values/);
      for (const line of pkcs1.split("\n").filter((l) => l.length > 20)) expect(error?.message).not.toContain(line);
    }
    const file = join(tmp.dir, "json-key");
    writeFileSync(file, blob);
    expect(() => loadPrivateKeyFile(file)).toThrow(/^PRIVATE_KEY_FILE is not a key: the secret holds JSON/);
  });
  test("a file far larger than a key is refused without reading it whole", () => {
    const file = join(tmp.dir, "huge-key");
    writeFileSync(file, Buffer.alloc(1024 * 1024, 0x41));
    expect(() => loadPrivateKeyFile(file)).toThrow(/^PRIVATE_KEY_FILE is far larger than a private key/);
  });
  test("says which file is missing and how to fix it", () => {
    expect(() => loadPrivateKeyFile(join(tmp.dir, "absent.pem"))).toThrow(/^PRIVATE_KEY_FILE does not exist: mount the app's privateKey there/);
  });
});

describe("wiping key material", () => {
  test("overwrites the Buffers that held the key", () => {
    const path = join(tmp.dir, "wipe.pem");
    writeFileSync(path, pkcs1);
    const loaded = loadPrivateKeyFile(path);
    loaded.wipe();
    loaded.wipe(); // idempotent
    // The KeyObject stays usable for what was already signed; the raw bytes are gone.
    expect(loaded.key.asymmetricKeyType).toBe("rsa");
  });
});
