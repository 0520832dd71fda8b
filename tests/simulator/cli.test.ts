// The simulator's command line, run the way ci/kind-e2e.sh runs it in a pod: bundled into one
// file, listening on 0.0.0.0 behind a public https URL, with a certificate from a private CA
// (ci/e2e-certs.sh) and an app id and key that exist before it starts.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from "jose";
import jwt from "jsonwebtoken";
import { copyFileSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { request } from "node:https";
import { dirname, join, resolve } from "node:path";
import type { Subprocess } from "bun";
import { tempDir } from "../helpers/generator.ts";
import { runCommand } from "../helpers/run.ts";
import { generateAppKey } from "./simulator.ts";

const ROOT = resolve(import.meta.dir, "../..");
const HOST = "github-sim.e2e.svc";
const work = tempDir("ghapp-sim-cli-");
const certs = join(work.dir, "certs");
const appKey = generateAppKey().privateKeyPem;
const keyFile = join(work.dir, "app.pem");

const run = (cmd: string[], env: Record<string, string> = {}) => runCommand(cmd, { cwd: ROOT, env: { ...process.env, ...env } });

/** Starts the CLI and waits until it has written simulator.json. */
async function start(cmd: string[], stateDir: string): Promise<{ proc: Subprocess; state: Record<string, unknown> }> {
  const proc = Bun.spawn(cmd, { cwd: work.dir, stdout: "pipe", stderr: "pipe" });
  const file = join(stateDir, "simulator.json");
  for (let i = 0; i < 100 && !existsSync(file); i++) await Bun.sleep(50);
  try {
    if (!existsSync(file)) throw new Error(`the simulator did not start: ${await new Response(proc.stderr).text()}`);
    return { proc, state: JSON.parse(readFileSync(file, "utf8")) as Record<string, unknown> };
  } catch (e) {
    // Never leave a simulator running behind a failed test.
    proc.kill();
    throw e;
  }
}

/** An HTTPS GET to 127.0.0.1:port as if to HOST, trusting only the e2e CA (as a pod given ca.crt). */
function getAsHost(port: number, path: string, authorization: string): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((done, failed) => {
    const req = request(
      { host: "127.0.0.1", port, path, servername: HOST, headers: { host: HOST, authorization, accept: "application/vnd.github+json" }, ca: readFileSync(join(certs, "ca.crt")) },
      (res) => {
        let body = "";
        res.on("data", (c) => (body += c));
        res.on("end", () => done({ status: res.statusCode ?? 0, headers: res.headers, body }));
      },
    );
    req.on("error", failed);
    req.end();
  });
}

const appJwt = (id: number) => jwt.sign({ iat: Math.floor(Date.now() / 1000) - 60, exp: Math.floor(Date.now() / 1000) + 540, iss: String(id) }, appKey, { algorithm: "RS256" });

beforeAll(async () => {
  writeFileSync(keyFile, appKey, { mode: 0o600 });
  const made = await run(["bash", "ci/e2e-certs.sh", certs, HOST]);
  if (made.code !== 0) throw new Error(made.stderr);
});
afterAll(() => work.cleanup());

describe("simulator CLI in a pod's shape", () => {
  test("serves the given certificate, app id and key on 0.0.0.0 and writes its public URL everywhere", async () => {
    const stateDir = join(work.dir, "state-pod");
    const { proc, state } = await start(
      [process.execPath, join(ROOT, "tests/simulator/cli.ts"), "--state-dir", stateDir, "--listen", "0.0.0.0:0", "--prefix", "/api/v3",
        "--tls-cert", join(certs, "tls.crt"), "--tls-key", join(certs, "tls.key"), "--public-url", `https://${HOST}/api/v3`,
        "--app-id", "31337", "--app-key-file", keyFile],
      stateDir,
    );
    try {
      expect(state.url).toBe(`https://${HOST}/api/v3`);
      expect(state.appId).toBe(31337);
      expect(state.caFile).toBeUndefined();
      expect(readFileSync(join(stateDir, "app.pem"), "utf8")).toBe(appKey);

      // The certificate verifies against the private CA for HOST, and the key we hold signs valid JWTs.
      const app = await getAsHost(state.port as number, "/api/v3/app", `Bearer ${appJwt(31337)}`);
      expect(app.status).toBe(200);
      expect(JSON.parse(app.body).id).toBe(31337);
      // Absolute URLs point at the public name, not at 0.0.0.0, so clients can follow them.
      const page = await getAsHost(state.port as number, "/api/v3/app/installations?per_page=1", `Bearer ${appJwt(31337)}`);
      expect(page.headers.link).toContain(`<https://${HOST}/api/v3/app/installations?per_page=1&page=2>; rel="next"`);
      expect(JSON.parse(page.body)[0].access_tokens_url).toBe(`https://${HOST}/api/v3/app/installations/1001/access_tokens`);
    } finally {
      proc.kill();
      await proc.exited;
    }
  }, 20_000);

  test("bundled into one file, runs with no node_modules and no package installs (the pod's ConfigMap)", async () => {
    const bundle = join(work.dir, "bundle", "github-sim.js");
    const built = await run([process.execPath, "build", "tests/simulator/cli.ts", "--target=bun", "--outfile", bundle]);
    expect(built.stderr).toBe("");
    expect(built.code).toBe(0);
    // A folder with nothing around it: no node_modules to resolve from.
    const lonely = tempDir("ghapp-sim-alone-");
    const alone = join(lonely.dir, "github-sim.js");
    copyFileSync(bundle, alone);
    const stateDir = join(work.dir, "state-bundle");
    const { proc, state } = await start([process.execPath, "--no-install", alone, "--state-dir", stateDir, "--app-id", "7", "--app-key-file", keyFile], stateDir);
    try {
      const res = await fetch(`${state.url}/app`, { headers: { authorization: `Bearer ${appJwt(7)}` } });
      expect(res.status).toBe(200);
    } finally {
      proc.kill();
      await proc.exited;
      lonely.cleanup();
    }
  }, 30_000);

  test("refuses a public URL whose path is not the prefix, and a certificate without its key", async () => {
    const wrongPath = await run([process.execPath, "tests/simulator/cli.ts", "--state-dir", join(work.dir, "s1"), "--public-url", `https://${HOST}/api/v3`]);
    expect(wrongPath.code).toBe(2);
    expect(wrongPath.stderr).toContain(`--public-url's path "/api/v3" differs from --prefix ""`);
    const halfTls = await run([process.execPath, "tests/simulator/cli.ts", "--state-dir", join(work.dir, "s2"), "--tls-cert", join(certs, "tls.crt")]);
    expect(halfTls.code).toBe(2);
    expect(halfTls.stderr).toContain("--tls-cert and --tls-key go together");
  });
});

describe("simulator CLI for people", () => {
  test("npm run simulator -- --help works with no bun on PATH, exits 0 and lists the options", async () => {
    // Only node and npm on PATH, as on a fresh machine: npm finds the project's own bun.
    const npm = Bun.which("npm");
    expect(npm).toBeTruthy();
    const path = [dirname(npm!), "/usr/bin", "/bin"].join(":");
    expect(Bun.which("bun", { PATH: path })).toBeNull();
    const r = await run(["npm", "run", "--silent", "simulator", "--", "--help"], { PATH: path });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("usage: npm run simulator -- --state-dir DIR");
    expect(r.stdout).toContain("oidc-token --url ORIGIN --sub SUBJECT --aud AUDIENCE");
    expect(r.stdout).toContain("--token-ttl SECONDS");
  });

  test("an unknown option or a missing --state-dir is exit 2 with the usage, not a stack trace", async () => {
    const unknown = await run([process.execPath, "tests/simulator/cli.ts", "--state-dir", join(work.dir, "s3"), "--bogus"]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("Unknown option '--bogus'");
    expect(unknown.stderr).toContain("usage: npm run simulator");
    for (const ttl of ["soon", "0", "-5", "1e3"]) {
      const badTtl = await run([process.execPath, "tests/simulator/cli.ts", "--state-dir", join(work.dir, "s4"), `--token-ttl=${ttl}`]);
      expect([badTtl.code, badTtl.stderr.includes("--token-ttl is a whole number of seconds")]).toEqual([2, true]);
    }
    const missing = await run([process.execPath, "tests/simulator/cli.ts"]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("--state-dir is required");
  });

  test("oidc-token prints a token from the running simulator that verifies against its JWKS", async () => {
    const stateDir = join(work.dir, "state-oidc");
    const { proc, state } = await start([process.execPath, join(ROOT, "tests/simulator/cli.ts"), "--state-dir", stateDir, "--prefix", "/api/v3"], stateDir);
    try {
      const origin = state.origin as string;
      expect(state.oidcIssuer).toBe(`${origin}/oidc`);
      // The API URL works too: only its origin counts.
      const r = await run([process.execPath, "tests/simulator/cli.ts", "oidc-token", "--url", `${origin}/api/v3`, "--sub", "team-a", "--aud", "runner-broker", "--claim", "environment=prod", "--claim", "run_id=42"]);
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+\n$/);
      const { payload } = await jwtVerify(r.stdout.trim(), createRemoteJWKSet(new URL(`${origin}/oidc/jwks`)), { issuer: `${origin}/oidc`, audience: "runner-broker" });
      expect(payload).toMatchObject({ sub: "team-a", environment: "prod", run_id: "42", repository: "acme-org/api" });

      const forged = await run([process.execPath, "tests/simulator/cli.ts", "oidc-token", "--url", origin, "--sub", "s", "--aud", "a", "--alg", "none", "--expires-in=-5"]);
      expect(forged.code).toBe(0);
      expect(decodeProtectedHeader(forged.stdout.trim()).alg).toBe("none");
      const exp = JSON.parse(Buffer.from(forged.stdout.split(".")[1]!, "base64url").toString()).exp as number;
      expect(exp).toBeLessThan(Date.now() / 1000);
    } finally {
      proc.kill();
      await proc.exited;
    }
  }, 20_000);

  test("oidc-token: --help is exit 0; bad arguments exit 2; no simulator exits 3, each saying why", async () => {
    const oidc = (...args: string[]) => run([process.execPath, "tests/simulator/cli.ts", "oidc-token", ...args]);
    const help = await oidc("--help");
    expect([help.code, help.stdout.includes("--claim NAME=VALUE")]).toEqual([0, true]);
    for (const [args, message] of [
      [["--sub", "s", "--aud", "a"], "--url is required"],
      [["--url", "http://127.0.0.1:1", "--aud", "a"], "--sub is required"],
      [["--url", "http://127.0.0.1:1", "--sub", "s"], "--aud is required"],
      [["--url", "file:///etc/passwd", "--sub", "s", "--aud", "a"], "--url is not an http(s) URL"],
      [["--url", "http://127.0.0.1:1", "--sub", "s", "--aud", "a", "--claim", "novalue"], "--claim wants NAME=VALUE"],
      [["--url", "http://127.0.0.1:1", "--sub", "s", "--aud", "a", "--alg", "HS512"], "--alg must be one of"],
      [["--url", "http://127.0.0.1:1", "--sub", "s", "--aud", "a", "--expires-in", "5m"], "--expires-in is a whole number"],
    ] as const) {
      const r = await oidc(...args);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(message);
      expect(r.stdout).toBe("");
    }
    // Port 1 on loopback: nothing listens there.
    const down = await oidc("--url", "http://127.0.0.1:1", "--sub", "s", "--aud", "a");
    expect(down.code).toBe(3);
    expect(down.stderr).toContain("cannot reach the simulator at http://127.0.0.1:1");
    expect(down.stdout).toBe("");
  });
});

describe("simulator CLI token formats", () => {
  test("issues ghs_<appid>_<JWT> tokens by default and 40-character ones with --token-format classic", async () => {
    for (const [args, shape] of [[[], /^ghs_\d+_eyJ[A-Za-z0-9_.-]{400,}$/], [["--token-format", "classic"], /^ghs_[A-Za-z0-9]{36}$/]] as const) {
      const stateDir = join(work.dir, `format-${args.length}`);
      const { proc, state } = await start([process.execPath, join(ROOT, "tests/simulator/cli.ts"), "--state-dir", stateDir, "--app-key-file", keyFile, ...args], stateDir);
      try {
        const res = await fetch(`${state.url}/app/installations/1001/access_tokens`, { method: "POST", headers: { authorization: `Bearer ${appJwt(Number(state.appId))}` } });
        expect(((await res.json()) as { token: string }).token).toMatch(shape);
      } finally {
        proc.kill();
        await proc.exited;
      }
    }
    const bad = await run([process.execPath, "tests/simulator/cli.ts", "--state-dir", join(work.dir, "s3"), "--token-format", "long"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("--token-format is jwt or classic");
  });
});

describe("simulator CLI with the App's webhook", () => {
  test("--webhook-url and --webhook-secret-file send a signed ping at start; one without the other is exit 2", async () => {
    const secret = "cli-webhook-secret-0123456789abcdef";
    const secretFile = join(work.dir, "webhook-secret");
    writeFileSync(secretFile, `${secret}\n`, { mode: 0o600 });
    const got: { headers: Headers; body: string }[] = [];
    const receiver = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: async (req) => (got.push({ headers: req.headers, body: await req.text() }), new Response(null, { status: 204 })) });
    const stateDir = join(work.dir, "s-webhook");
    const { proc } = await start([process.execPath, join(ROOT, "tests/simulator/cli.ts"), "--state-dir", stateDir, "--webhook-url", `http://127.0.0.1:${receiver.port}/hook`, "--webhook-secret-file", secretFile, "--actions-permission"], stateDir);
    try {
      for (let i = 0; i < 100 && got.length === 0; i++) await Bun.sleep(50);
      expect(got).toHaveLength(1);
      expect(got[0]!.headers.get("x-github-event")).toBe("ping");
      const { createHmac } = await import("node:crypto");
      expect(got[0]!.headers.get("x-hub-signature-256")).toBe(`sha256=${createHmac("sha256", secret).update(got[0]!.body).digest("hex")}`);
    } finally {
      proc.kill();
      receiver.stop(true);
    }
    const half = await run([process.execPath, "tests/simulator/cli.ts", "--state-dir", join(work.dir, "s-half"), "--webhook-url", "http://127.0.0.1:1/hook"]);
    expect(half.code).toBe(2);
    expect(half.stderr).toContain("--webhook-url and --webhook-secret-file go together");
  });
});
