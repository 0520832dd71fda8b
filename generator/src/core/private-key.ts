// Loads the App's private key from every shape users actually paste into a secret store:
// PEM PKCS#1 (what GitHub issues) or PKCS#8, with literal "\n" escapes or CRLF line ends,
// surrounded by blanks or quotes, base64-encoded PEM, or a path to a PEM file. Anything else is
// a configuration error (exit 2) that lists the accepted shapes and never echoes the input.
//
// Key bytes are kept in Buffers that `wipe()` overwrites with zeros once the JWT is signed;
// see the README ("What a JavaScript runtime cannot guarantee") for the limits of that.
import { createPrivateKey, type KeyObject } from "node:crypto";
import { existsSync, readFileSync, statSync } from "node:fs";
import { configError } from "./errors.ts";

export interface LoadedKey {
  key: KeyObject;
  /** Overwrites every Buffer that held key material. Idempotent. */
  wipe(): void;
}

const ACCEPTED =
  "accepted shapes: a PEM key (PKCS#1 \"BEGIN RSA PRIVATE KEY\" as GitHub issues it, or PKCS#8 \"BEGIN PRIVATE KEY\"), " +
  "the same with literal \\n escapes or CRLF line ends or surrounding quotes, base64 of the PEM, or a path to the PEM file";

const BEGIN = Buffer.from("-----BEGIN");
/** An RSA key's PEM is under 4 KiB; anything past this is not a key, and is not read whole. */
const MAX_KEY_FILE_BYTES = 64 * 1024;
const HOLDS_JSON = "is not a key: the secret holds JSON: set remoteRef.property in the chart's values (the JSON field that holds the PEM), so that only the key reaches the pod";

/** Reads a key from PRIVATE_KEY_FILE (`name`: the setting messages name, e.g. the broker's GITHUB_APP_PRIVATE_KEY_FILE). */
export function loadPrivateKeyFile(path: string, name = "PRIVATE_KEY_FILE"): LoadedKey {
  let raw: Buffer;
  try {
    const st = statSync(path);
    if (!st.isFile()) throw new Error("not a file");
    if (st.size > MAX_KEY_FILE_BYTES) throw Object.assign(new Error("too large"), { code: "EFBIG" });
    raw = readFileSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why =
      code === "ENOENT" ? "does not exist" : code === "EACCES" ? "is not readable by this user (check the secret volume's defaultMode and fsGroup)" : code === "EFBIG" ? "is far larger than a private key" : "is not a readable file";
    // The path is not repeated: it is the variable's value, and the user knows it.
    throw configError(`${name} ${why}: mount the app's privateKey there`);
  }
  return parseKey(raw, name);
}

/** Reads a key from PRIVATE_KEY (the key itself, or a path to it). */
export function loadPrivateKey(value: string): LoadedKey {
  const trimmed = value.trim();
  if (/^(\/|\.\/|\.\.\/|~\/)[^\n]*$/.test(trimmed) && !trimmed.includes("-----")) {
    if (!existsSync(trimmed)) throw configError(`PRIVATE_KEY looks like a path but no file is there: mount the key file, or set PRIVATE_KEY_FILE`);
    return loadPrivateKeyFile(trimmed);
  }
  return parseKey(Buffer.from(value, "utf8"), "PRIVATE_KEY");
}

function parseKey(raw: Buffer, source: string): LoadedKey {
  const held: Buffer[] = [raw];
  const wipe = () => {
    for (const b of held) b.fill(0);
  };
  try {
    let pem = normalise(raw, held);
    if (pem[0] === 0x7b /* { */) throw configError(`${source} ${HOLDS_JSON}`);
    if (!pem.includes(BEGIN)) {
      // Not PEM: maybe the whole PEM was base64-encoded (a common way to fit it on one line).
      const compact = Buffer.from(pem.toString("latin1").replace(/\s+/g, ""), "latin1");
      held.push(compact);
      if (!/^[A-Za-z0-9+/=_-]+$/.test(compact.toString("latin1"))) throw configError(`${source} is not a private key; ${ACCEPTED}`);
      const decoded = Buffer.from(compact.toString("latin1"), "base64");
      held.push(decoded);
      pem = normalise(decoded, held);
      if (pem[0] === 0x7b /* { */) throw configError(`${source} ${HOLDS_JSON}`);
      if (!pem.includes(BEGIN)) throw configError(`${source} is not a private key; ${ACCEPTED}`);
    }
    if (pem.includes(Buffer.from("ENCRYPTED"))) {
      throw configError(`${source} is an encrypted private key: GitHub issues unencrypted keys; store the key as downloaded from the App's settings`);
    }
    let key: KeyObject;
    try {
      key = createPrivateKey({ key: pem, format: "pem" });
    } catch {
      throw configError(`${source} is not a valid private key (the PEM does not parse); ${ACCEPTED}`);
    }
    if (key.asymmetricKeyType !== "rsa") {
      throw configError(`${source} is a ${key.asymmetricKeyType ?? "non-RSA"} key: GitHub Apps sign with RSA (RS256); download a new key from the App's settings`);
    }
    return { key, wipe };
  } catch (e) {
    wipe();
    throw e;
  }
}

/** Trims blanks and quotes, turns literal \n escapes and CRLF into newlines. */
function normalise(input: Buffer, held: Buffer[]): Buffer {
  let text = input.toString("latin1").trim();
  for (let i = 0; i < 2 && /^(["'`]).*\1$/s.test(text); i++) text = text.slice(1, -1).trim();
  text = text.replace(/\\r\\n|\\n|\\r/g, "\n").replace(/\r\n?/g, "\n");
  const out = Buffer.from(text, "latin1");
  held.push(out);
  return out;
}
