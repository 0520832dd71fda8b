// Brokered mode (issue 21) against a broker that lies, stalls, redirects or is down: the compiled
// ghapp-token treats the broker's answer as untrusted input. Each case checks the exit code, that
// nothing was written, and that the OIDC token never reaches the log. The real broker's answers
// are proved in tests/e2e/brokered.test.ts; this server only plays what a real one must never do.
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { generateKeyPairSync } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fakeToken } from "../helpers/hostile-server.ts";
import { runGenerator, tempDir } from "../helpers/generator.ts";
import { makeSelfSignedCert } from "../simulator/tls.ts";

type Answer = { status: number; body?: unknown; raw?: string; headers?: Record<string, string>; redirect?: string; stallMs?: number };

const tmp = tempDir();
let server: ReturnType<typeof Bun.serve>;
let tlsServer: ReturnType<typeof Bun.serve>;
let caFile = "";
let queue: Answer[] = [];
const seen: Array<{ path: string; auth: string | null; body: unknown }> = [];
// A projected token's shape; its signature part is what must never be logged.
const OIDC = `eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0.${Buffer.from(JSON.stringify({ sub: "system:serviceaccount:ci:builder", aud: ["ghapp-runner-broker"] })).toString("base64url")}.c2lnbmF0dXJlLXRoYXQtbXVzdC1uZXZlci1iZS1sb2dnZWQ`;
const GOOD = () => ({ token: fakeToken(), expires_at: new Date(Date.now() + 3600_000).toISOString(), owner: "acme-org", installation_id: 42, permissions: { contents: "read" }, repositories: ["acme-org/api"], repository_selection: "selected" });

const handler = async (req: Request) => {
  const url = new URL(req.url);
  seen.push({ path: url.pathname, auth: req.headers.get("authorization"), body: await req.json().catch(() => undefined) });
  const a = queue.shift() ?? { status: 201, body: GOOD() };
  if (a.stallMs) await Bun.sleep(a.stallMs);
  if (a.redirect) return new Response(null, { status: 307, headers: { location: a.redirect } });
  const body = a.raw ?? JSON.stringify(a.body);
  const type = a.status >= 400 ? "application/problem+json" : "application/json";
  return new Response(body, { status: a.status, headers: { "content-type": type, ...(a.headers ?? {}) } });
};

beforeAll(() => {
  server = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: handler });
  const tls = makeSelfSignedCert(tmp.dir);
  caFile = tls.caFile;
  tlsServer = Bun.serve({ port: 0, hostname: "127.0.0.1", tls: { cert: tls.cert, key: tls.key }, fetch: handler });
  writeFileSync(join(tmp.dir, "oidc-token"), OIDC);
});
afterAll(() => {
  server.stop(true);
  tlsServer.stop(true);
  tmp.cleanup();
});
beforeEach(() => {
  queue = [];
  seen.length = 0;
});

function env(extra: Record<string, string> = {}) {
  const out = join(tmp.dir, `out-${Math.random().toString(36).slice(2)}`);
  mkdirSync(out);
  return { BROKER_URL: `http://127.0.0.1:${server.port}`, OIDC_TOKEN_FILE: join(tmp.dir, "oidc-token"), OUTPUT_PATH: join(out, "token"), LOG_FORMAT: "json", MAX_RETRY_WAIT: "5s", REQUEST_TIMEOUT: "1s", ...extra };
}

async function refused(e: Record<string, string>, code: number) {
  const r = await runGenerator(["mint"], e);
  expect(r.code).toBe(code);
  expect(existsSync(e.OUTPUT_PATH!)).toBe(false);
  expect(existsSync(`${e.OUTPUT_PATH}.json`)).toBe(false);
  expect(r.stderr).not.toContain("c2lnbmF0dXJl");
  return r;
}

describe("brokered mint", () => {
  test("sends the projected token as a bearer token and OWNER, REPOSITORIES, PERMISSIONS as asked; writes the token 0600 and its metadata", async () => {
    const e = env({ OWNER: "acme-org", REPOSITORIES: "api,acme-org/web", PERMISSIONS: "contents=read,issues=write" });
    const answer = GOOD();
    queue.push({ status: 201, body: answer });
    const r = await runGenerator([], e);
    expect(r.code).toBe(0);
    expect(seen).toHaveLength(1);
    expect(seen[0]!.path).toBe("/api/v1/tokens");
    expect(seen[0]!.auth).toBe(`Bearer ${OIDC}`);
    expect(seen[0]!.body).toEqual({ owner: "acme-org", repositories: ["api", "acme-org/web"], permissions: { contents: "read", issues: "write" } });
    expect(readFileSync(e.OUTPUT_PATH, "utf8")).toBe(answer.token);
    expect(statSync(e.OUTPUT_PATH).mode & 0o777).toBe(0o600);
    const meta = JSON.parse(readFileSync(`${e.OUTPUT_PATH}.json`, "utf8"));
    expect(meta).toMatchObject({ installation_id: 42, owner: "acme-org", permissions: { contents: "read" }, repositories: ["acme-org/api"], broker: `127.0.0.1:${server.port}` });
    expect(JSON.stringify(meta)).not.toContain(answer.token);
    expect(r.stderr).not.toContain("c2lnbmF0dXJl");
    expect(r.stderr).not.toContain(answer.token);
  });

  test("trusts the broker's private CA through BROKER_CA_FILE, and refuses it without (exit 2, no retry)", async () => {
    const ok = env({ BROKER_URL: `https://localhost:${tlsServer.port}`, BROKER_CA_FILE: caFile });
    expect((await runGenerator([], ok)).code).toBe(0);
    const r = await refused(env({ BROKER_URL: `https://localhost:${tlsServer.port}` }), 2);
    expect(r.stderr).toContain("BROKER_CA_FILE");
  });

  test("a 401 is exit 3 and quotes the broker's detail", async () => {
    queue.push({ status: 401, body: { type: "urn:ghapp-runner-broker:problem:unauthenticated", title: "Unauthenticated", status: 401, detail: "the token has expired" } });
    const r = await refused(env(), 3);
    expect(r.stderr).toContain("the token has expired");
    expect(seen).toHaveLength(1);
  });

  test("a 403 without a refusal (no matching policy) is exit 3; one naming what was refused is exit 4", async () => {
    queue.push({ status: 403, body: { type: "urn:ghapp-runner-broker:problem:no_trust_policy", title: "No trust policy matches", status: 403, detail: "no trust policy matches this identity" } });
    await refused(env(), 3);
    queue.push({ status: 403, body: { type: "urn:ghapp-runner-broker:problem:policy_denied", title: "Refused by policy", status: 403, detail: "not granted: permissions administration=write", policy: "builders", refused: { permissions: { administration: "write" } } } });
    const r = await refused(env({ PERMISSIONS: "administration=write" }), 4);
    expect(r.stderr).toContain("administration=write");
  });

  test("a 502 github_misconfigured (the App not installed on OWNER) is exit 4 at once, not retried", async () => {
    queue.push({ status: 502, body: { type: "urn:ghapp-runner-broker:problem:github_misconfigured", title: "GitHub refused the broker", status: 502, detail: "the App is not installed on nobody-org" } });
    const r = await refused(env({ OWNER: "nobody-org" }), 4);
    expect(r.stderr).toContain("OWNER");
    expect(seen).toHaveLength(1);
  });

  test("503 with Retry-After is waited out as asked, then the token is written", async () => {
    queue.push({ status: 503, body: { type: "urn:ghapp-runner-broker:problem:github_unavailable", title: "GitHub unavailable", status: 503, detail: "GitHub does not answer" }, headers: { "retry-after": "1" } });
    const e = env();
    const r = await runGenerator([], e);
    expect(r.code).toBe(0);
    expect(seen).toHaveLength(2);
    expect(r.ms).toBeGreaterThan(900);
    expect(existsSync(e.OUTPUT_PATH)).toBe(true);
  });

  test("a Retry-After longer than MAX_RETRY_WAIT is exit 5 at once, nothing written", async () => {
    queue.push({ status: 429, body: { type: "urn:ghapp-runner-broker:problem:rate_limited", title: "Too many requests", status: 429, detail: "slow down" }, headers: { "retry-after": "600" } });
    const r = await refused(env(), 5);
    expect(r.stderr).toContain("MAX_RETRY_WAIT");
    expect(seen).toHaveLength(1);
  });

  test("a broker that stays down is exit 5 after the retries", async () => {
    for (let i = 0; i < 5; i++) queue.push({ status: 503, body: { type: "urn:ghapp-runner-broker:problem:github_unavailable", title: "GitHub unavailable", status: 503, detail: "down" }, headers: { "retry-after": "0" } });
    await refused(env(), 5);
    expect(seen).toHaveLength(5);
  }, 30_000);

  test("nothing listening is exit 5", async () => {
    await refused(env({ BROKER_URL: "http://127.0.0.1:1" }), 5);
  }, 30_000);

  test.each([
    ["an HTML page", { status: 201, raw: "<html>login</html>" }],
    ["a token answer without a token", { status: 201, body: { ...GOOD(), token: "" } }],
    ["a token with spaces", { status: 201, body: { ...GOOD(), token: "ghs_ not a token at all, sorry" } }],
    ["an expiry in the past", { status: 201, body: { ...GOOD(), expires_at: "2001-01-01T00:00:00Z" } }],
    ["an expiry a week ahead", { status: 201, body: { ...GOOD(), expires_at: new Date(Date.now() + 7 * 86400_000).toISOString() } }],
    ["no installation_id", { status: 201, body: { ...GOOD(), installation_id: "42" } }],
    ["malformed permissions", { status: 201, body: { ...GOOD(), permissions: { contents: "all" } } }],
    ["malformed repositories", { status: 201, body: { ...GOOD(), repositories: ["../../etc"] } }],
  ] as Array<[string, Answer]>)("%s is exit 5, nothing written", async (_what, answer) => {
    queue.push(answer);
    await refused(env(), 5);
  });

  test("a redirect to another host is not followed (exit 5): the OIDC token goes nowhere else", async () => {
    const other = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => new Response(JSON.stringify(GOOD()), { status: 201 }) });
    try {
      queue.push({ status: 307, redirect: `http://127.0.0.1:${other.port}/api/v1/tokens` });
      await refused(env(), 5);
      expect(seen).toHaveLength(1);
    } finally {
      other.stop(true);
    }
  });

  test("a huge answer is refused without being read whole (exit 5)", async () => {
    queue.push({ status: 201, raw: JSON.stringify({ ...GOOD(), padding: "x".repeat(2 * 1024 * 1024) }) });
    await refused(env(), 5);
  });

  test("a broker that stalls past REQUEST_TIMEOUT is retried, then exit 5", async () => {
    for (let i = 0; i < 5; i++) queue.push({ status: 201, body: GOOD(), stallMs: 1500 });
    await refused(env(), 5);
  }, 30_000);

  test("a 404 that is not the broker's problem document is exit 2: BROKER_URL is wrong", async () => {
    queue.push({ status: 404, raw: "not found", headers: { "content-type": "text/plain" } });
    const r = await refused(env(), 2);
    expect(r.stderr).toContain("BROKER_URL");
  });
});

describe("brokered settings", () => {
  test.each([
    ["APP_ID", { APP_ID: "123" }],
    ["PRIVATE_KEY_FILE", { PRIVATE_KEY_FILE: "/key.pem" }],
    ["INSTALLATION_ID", { INSTALLATION_ID: "7" }],
  ])("BROKER_URL with %s is exit 2 naming both, before any request", async (name, extra) => {
    const r = await refused(env(extra), 2);
    expect(r.stderr).toContain(name);
    expect(r.stderr).toContain("BROKER_URL");
    expect(seen).toHaveLength(0);
  });

  test("OIDC_TOKEN_FILE without BROKER_URL is exit 2", async () => {
    const e = env();
    const r = await refused({ ...e, BROKER_URL: "" }, 2);
    expect(r.stderr).toContain("BROKER_URL");
  });

  test("a missing token file is exit 2, before any request", async () => {
    const r = await refused(env({ OIDC_TOKEN_FILE: join(tmp.dir, "nope") }), 2);
    expect(r.stderr).toContain("OIDC_TOKEN_FILE does not exist");
    expect(seen).toHaveLength(0);
  });

  test("a token file holding a key rather than a JWT is exit 2 and its content is not shown", async () => {
    const f = join(tmp.dir, "not-a-jwt");
    // A key made now (no key material in the repository), as a careless mount would put there.
    const pem = generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey.export({ type: "pkcs8", format: "pem" }).toString();
    writeFileSync(f, pem);
    const r = await refused(env({ OIDC_TOKEN_FILE: f }), 2);
    expect(r.stderr).toContain("does not hold a JWT");
    expect(r.stderr).not.toContain(pem.split("\n")[1]!.slice(0, 24));
  });

  test("a plain-http BROKER_URL to another host is exit 2: the OIDC token never crosses a network in clear", async () => {
    const r = await refused(env({ BROKER_URL: "http://broker.example.com" }), 2);
    expect(r.stderr).toContain("https");
  });
});

describe("brokered refresh", () => {
  test("re-reads the rotated projected token at every refresh and schedules from the answer's expires_at", async () => {
    const e = env({ LISTEN_ADDR: "127.0.0.1:0" });
    const file = join(tmp.dir, "rotating-token");
    writeFileSync(file, OIDC.replace("c2ln", "Zmlyc3Q"));
    const short = () => ({ ...GOOD(), token: fakeToken(), expires_at: new Date(Date.now() + 5_000).toISOString() });
    for (let i = 0; i < 4; i++) queue.push({ status: 201, body: short() });
    const proc = Bun.spawn([require("../helpers/generator.ts").BINARY, "refresh"], { env: { ...e, OIDC_TOKEN_FILE: file }, stderr: "pipe", stdout: "ignore" });
    try {
      const deadline = Date.now() + 8000;
      while (seen.length < 1 && Date.now() < deadline) await Bun.sleep(50);
      writeFileSync(file, OIDC.replace("c2ln", "c2Vjb25k"));
      while (seen.length < 2 && Date.now() < deadline) await Bun.sleep(50);
      // 80% of a 5 s lifetime: the second exchange comes about 4 s after the first, with the new token.
      expect(seen.length).toBeGreaterThanOrEqual(2);
      expect(seen[0]!.auth).toContain("Zmlyc3Q");
      expect(seen[1]!.auth).toContain("c2Vjb25k");
      expect(readFileSync(e.OUTPUT_PATH, "utf8")).toMatch(/^ghs_/);
    } finally {
      proc.kill("SIGTERM");
      await proc.exited;
    }
    const log = await new Response(proc.stderr).text();
    expect(log).not.toContain("Zmlyc3Q");
    expect(log).not.toContain("c2Vjb25k");
  }, 20_000);

  test("a refused first exchange ends the sidecar with the same exit code as mint (4), nothing written", async () => {
    queue.push({ status: 403, body: { type: "urn:ghapp-runner-broker:problem:policy_denied", title: "Refused by policy", status: 403, detail: "not granted: repositories secret", policy: "builders", refused: { repositories: ["secret"] } } });
    const e = env({ LISTEN_ADDR: "127.0.0.1:0", REPOSITORIES: "secret" });
    const r = await runGenerator(["refresh"], e);
    expect(r.code).toBe(4);
    expect(existsSync(e.OUTPUT_PATH)).toBe(false);
  });
});
