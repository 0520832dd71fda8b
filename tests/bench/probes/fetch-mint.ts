// Probe: a whole mint with no libraries (WebCrypto RS256, fetch, one file write): what the runtime
// costs for the same work, the floor for ghapp-token's own mint.
import { writeFileSync } from "node:fs";

const env = process.env;
const b64url = (data: string | ArrayBuffer) => Buffer.from(typeof data === "string" ? data : new Uint8Array(data)).toString("base64url");
const pem = await Bun.file(env.PRIVATE_KEY_FILE!).text();
const now = Math.floor(Date.now() / 1000);
const unsigned = `${b64url(JSON.stringify({ alg: "RS256", typ: "JWT" }))}.${b64url(JSON.stringify({ iat: now - 60, exp: now + 540, iss: env.APP_ID }))}`;
const { createPrivateKey } = await import("node:crypto");
const der = createPrivateKey(pem).export({ format: "der", type: "pkcs8" });
const key = await crypto.subtle.importKey("pkcs8", der, { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" }, false, ["sign"]);
const jwt = `${unsigned}.${b64url(await crypto.subtle.sign("RSASSA-PKCS1-v1_5", key, new TextEncoder().encode(unsigned)))}`;
const res = await fetch(`${env.GITHUB_API_URL}/app/installations/${env.INSTALLATION_ID}/access_tokens`, {
  method: "POST",
  headers: { authorization: `Bearer ${jwt}`, accept: "application/vnd.github+json" },
});
const { token } = (await res.json()) as { token: string };
writeFileSync(env.OUTPUT_PATH!, token, { mode: 0o600 });
