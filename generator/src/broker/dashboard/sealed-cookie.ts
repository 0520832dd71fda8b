// Cookie values sealed with AES-256-GCM: what the browser holds (a session, a sign-in in progress)
// can be neither read nor altered by it, and an expired one is refused by its own `exp`. The key
// comes from DASHBOARD_SESSION_KEY_FILE (every replica the same) or is random per process.
import { createCipheriv, createDecipheriv, createHash, randomBytes } from "node:crypto";

export class CookieSealer {
  private readonly key: Buffer;

  /** `secret`: the key file's content (any length of 32 or more bytes), or undefined for a random key. */
  constructor(secret?: string) {
    this.key = createHash("sha256").update("ghapp-runner-broker dashboard cookies\0").update(secret ?? randomBytes(32)).digest();
  }

  /** `purpose` is bound in (a sign-in cookie is never accepted as a session). */
  seal(purpose: string, value: object): string {
    const iv = randomBytes(12);
    const c = createCipheriv("aes-256-gcm", this.key, iv);
    c.setAAD(Buffer.from(purpose));
    const body = Buffer.concat([c.update(JSON.stringify(value), "utf8"), c.final()]);
    return Buffer.concat([iv, body, c.getAuthTag()]).toString("base64url");
  }

  /** The value, or undefined when it was not sealed here for this purpose (or is garbage). */
  open<T extends { exp: number }>(purpose: string, text: string | undefined, nowMs: number): T | undefined {
    if (!text || text.length > 4096 || !/^[A-Za-z0-9_-]+$/.test(text)) return undefined;
    const raw = Buffer.from(text, "base64url");
    if (raw.length < 12 + 16 + 2) return undefined;
    try {
      const d = createDecipheriv("aes-256-gcm", this.key, raw.subarray(0, 12));
      d.setAAD(Buffer.from(purpose));
      d.setAuthTag(raw.subarray(raw.length - 16));
      const plain = Buffer.concat([d.update(raw.subarray(12, raw.length - 16)), d.final()]).toString("utf8");
      const v = JSON.parse(plain) as T;
      return typeof v.exp === "number" && v.exp > nowMs ? v : undefined;
    } catch {
      return undefined;
    }
  }
}
