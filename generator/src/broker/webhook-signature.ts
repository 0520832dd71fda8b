// GitHub's webhook signature: X-Hub-Signature-256 is "sha256=" and the hex HMAC-SHA256 of the
// delivery's raw body, keyed with the webhook secret. Checked over the bytes as received, before
// any parsing, and compared in constant time, as octokit/webhooks does.
// https://docs.github.com/webhooks/using-webhooks/validating-webhook-deliveries
import { createHmac, timingSafeEqual } from "node:crypto";

export type SignatureCheck = "ok" | "unsigned" | "bad_signature";

const HEADER = /^sha256=([0-9a-fA-F]{64})$/;

export function signWebhook(secret: string, body: Uint8Array | string): string {
  return `sha256=${createHmac("sha256", secret).update(body).digest("hex")}`;
}

/** "unsigned" without a header; "bad_signature" for a malformed header or a wrong HMAC. */
export function checkWebhookSignature(secret: string, body: Uint8Array, header: string | undefined | null): SignatureCheck {
  if (header === undefined || header === null || header.trim() === "") return "unsigned";
  const m = HEADER.exec(header.trim());
  const expected = createHmac("sha256", secret).update(body).digest();
  // A malformed header is compared against the expected value too, so timing says nothing either way.
  const given = m ? Buffer.from(m[1]!, "hex") : Buffer.alloc(expected.length);
  const equal = timingSafeEqual(given, expected);
  return m && equal ? "ok" : "bad_signature";
}
