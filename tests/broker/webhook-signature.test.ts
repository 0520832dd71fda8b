// X-Hub-Signature-256 as GitHub computes it, and the broker's check of it. The vector is GitHub's
// own, from https://docs.github.com/webhooks/using-webhooks/validating-webhook-deliveries#testing-the-webhook-payload-validation
import { describe, expect, test } from "bun:test";
import { checkWebhookSignature, signWebhook } from "../../generator/src/broker/webhook-signature.ts";

const SECRET = "It's a Secret to Everybody";
const BODY = new TextEncoder().encode("Hello, World!");
const GITHUB_SIGNATURE = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

describe("webhook signatures", () => {
  test("GitHub's documented test vector is signed and accepted", () => {
    expect(signWebhook(SECRET, BODY)).toBe(GITHUB_SIGNATURE);
    expect(checkWebhookSignature(SECRET, BODY, GITHUB_SIGNATURE)).toBe("ok");
  });

  test("a missing or empty header is unsigned; anything else that does not match is a bad signature", () => {
    expect(checkWebhookSignature(SECRET, BODY, undefined)).toBe("unsigned");
    expect(checkWebhookSignature(SECRET, BODY, "  ")).toBe("unsigned");
    expect(checkWebhookSignature("another secret entirely", BODY, GITHUB_SIGNATURE)).toBe("bad_signature");
    expect(checkWebhookSignature(SECRET, new TextEncoder().encode("Hello, World?"), GITHUB_SIGNATURE)).toBe("bad_signature");
    expect(checkWebhookSignature(SECRET, BODY, GITHUB_SIGNATURE.replace("sha256=", "sha1="))).toBe("bad_signature");
    expect(checkWebhookSignature(SECRET, BODY, GITHUB_SIGNATURE.slice(0, -2))).toBe("bad_signature");
    expect(checkWebhookSignature(SECRET, BODY, `${GITHUB_SIGNATURE}00`)).toBe("bad_signature");
  });

  test("the hex digest is compared case-insensitively, as a hex value", () => {
    expect(checkWebhookSignature(SECRET, BODY, GITHUB_SIGNATURE.toUpperCase().replace("SHA256=", "sha256="))).toBe("ok");
  });
});
