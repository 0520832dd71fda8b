// The compiled binary against the simulator: what a pod sees (exit code, token file, mode,
// logs) and what GitHub sees (requests, bodies, headers, retries, waits).
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { generateAppKey, manyInstallations, startSimulator, type Simulator } from "../simulator/simulator.ts";
import { logLines, runGenerator, tempDir } from "../helpers/generator.ts";
import { expectNoSecrets, keyFragments } from "../helpers/secrets.ts";

let sim: Simulator;
let tmp: ReturnType<typeof tempDir>;
let keyFile: string;
let out: string;

beforeAll(async () => {
  sim = await startSimulator();
  tmp = tempDir();
  keyFile = join(tmp.dir, "privateKey");
  writeFileSync(keyFile, sim.app.privateKeyPem, { mode: 0o600 });
});
afterAll(async () => {
  await sim.close();
  tmp.cleanup();
});
let n = 0;
afterEach(() => {
  sim.reset();
});

/** A fresh output folder per run, and the env a pod would give. */
function podEnv(extra: Record<string, string> = {}, s: Simulator = sim) {
  out = join(tmp.dir, `out-${++n}`);
  require("node:fs").mkdirSync(out);
  return { APP_ID: String(s.app.id), PRIVATE_KEY_FILE: keyFile, GITHUB_API_URL: s.url, OUTPUT_PATH: join(out, "token"), ...extra };
}
const tokenPath = () => join(out, "token");
const calls = (path: string, s: Simulator = sim) => s.requests.filter((r) => r.path.split("?")[0] === path);

describe("minting", () => {
  test("writes the installation token alone, with mode 0600, and metadata without the token", async () => {
    const r = await runGenerator([], podEnv({ INSTALLATION_ID: "1001" }));
    expect(r.code).toBe(0);
    const token = readFileSync(tokenPath(), "utf8");
    // GitHub's form since April 2026 (the simulator's default): ghs_<appid>_<JWT>
    expect(token).toMatch(new RegExp(`^ghs_${sim.app.id}_eyJ[A-Za-z0-9_.-]{400,}$`));
    expect(sim.tokens.has(token)).toBe(true);
    expect(statSync(tokenPath()).mode & 0o777).toBe(0o600);
    const meta = JSON.parse(readFileSync(join(out, "token.json"), "utf8"));
    expect(meta.installation_id).toBe(1001);
    expect(Date.parse(meta.expires_at)).toBeGreaterThan(Date.now() + 3500_000);
    expect(JSON.stringify(meta)).not.toContain(token);
    const written = logLines(r.stderr).find((l) => l.message === "token written");
    expect(written?.expires_at).toBe(meta.expires_at);
    expect(r.stdout).toBe("");
  });

  test("sends GitHub's headers on every request", async () => {
    await runGenerator(["mint"], podEnv({ OWNER: "acme-org" }));
    expect(sim.requests.length).toBe(2);
    for (const req of sim.requests) {
      expect(req.headers.accept).toBe("application/vnd.github+json");
      expect(req.headers["x-github-api-version"]).toBe("2022-11-28");
      expect(req.headers["user-agent"]).toMatch(/^ghapp-token\/\d+\.\d+\.\d+/);
    }
  });

  test("writes mode 0640 for a reader in the shared group", async () => {
    expect((await runGenerator([], podEnv({ INSTALLATION_ID: "1001", TOKEN_FILE_MODE: "0640" }))).code).toBe(0);
    expect(statSync(tokenPath()).mode & 0o777).toBe(0o640);
  });

  test("replaces an existing token by rename and leaves no temporary file", async () => {
    const env = podEnv({ INSTALLATION_ID: "1001" });
    await runGenerator([], env);
    const first = statSync(tokenPath()).ino;
    await runGenerator([], env);
    expect(statSync(tokenPath()).ino).not.toBe(first);
    expect(readdirSync(out).sort()).toEqual(["token", "token.json"]);
  });

  test("scopes the token: repository names only and permissions go to GitHub", async () => {
    const r = await runGenerator([], podEnv({ REPOSITORIES: "acme-org/api,web", PERMISSIONS: "contents=read,pull_requests=write" }));
    expect(r.code).toBe(0);
    expect(calls("/repos/acme-org/api/installation").length).toBe(1);
    const post = calls("/app/installations/1001/access_tokens")[0]!;
    expect(post.body).toEqual({ repositories: ["api", "web"], permissions: { contents: "read", pull_requests: "write" } });
    const issued = sim.tokens.get(readFileSync(tokenPath(), "utf8"))!;
    expect(issued.repositories!.map((x) => x.full_name)).toEqual(["acme-org/api", "acme-org/web"]);
  });

  test("flags beat environment variables", async () => {
    const r = await runGenerator(["mint", "--installation-id", "1002"], podEnv({ INSTALLATION_ID: "1001" }));
    expect(r.code).toBe(0);
    expect(calls("/app/installations/1002/access_tokens").length).toBe(1);
  });
});

describe("finding the installation", () => {
  test("selects by OWNER, case-insensitively", async () => {
    const r = await runGenerator([], podEnv({ OWNER: "OCTO-user" }));
    expect(r.code).toBe(0);
    expect(calls("/users/OCTO-user/installation").length).toBe(1);
    expect(calls("/app/installations/1002/access_tokens").length).toBe(1);
  });

  test("uses the app's only installation when nothing selects one", async () => {
    const single = await startSimulator({ installations: manyInstallations(1) });
    try {
      writeFileSync(join(tmp.dir, "single.pem"), single.app.privateKeyPem);
      const r = await runGenerator([], podEnv({ PRIVATE_KEY_FILE: join(tmp.dir, "single.pem") }, single));
      expect(r.code).toBe(0);
      expect(calls("/app/installations/20000/access_tokens", single).length).toBe(1);
    } finally {
      await single.close();
    }
  });

  test("several installations and no selector: exit 2 listing every login, through all pages", async () => {
    const many = await startSimulator({ installations: manyInstallations(150) });
    try {
      writeFileSync(join(tmp.dir, "many.pem"), many.app.privateKeyPem);
      const r = await runGenerator([], podEnv({ PRIVATE_KEY_FILE: join(tmp.dir, "many.pem") }, many));
      expect(r.code).toBe(2);
      expect(calls("/app/installations", many).length).toBe(2); // followed Link rel="next"
      const error = logLines(r.stderr).find((l) => l.level === "error")!;
      expect(error.message).toContain("150 installations");
      expect(error.message).toContain("org-149");
      expect(error.message).toContain("set OWNER");
      expect(existsSync(tokenPath())).toBe(false);
    } finally {
      await many.close();
    }
  });

  test("no installation for the owner: exit 4", async () => {
    const r = await runGenerator([], podEnv({ OWNER: "nobody-here" }));
    expect(r.code).toBe(4);
    expect(logLines(r.stderr).at(-1)!.message).toContain('no installation for the account "nobody-here"');
  });

  test("unknown installation id: exit 4", async () => {
    expect((await runGenerator([], podEnv({ INSTALLATION_ID: "999" }))).code).toBe(4);
  });

  test("repositories outside the installation: exit 4 with GitHub's message", async () => {
    const r = await runGenerator([], podEnv({ INSTALLATION_ID: "1001", REPOSITORIES: "secret-repo" }));
    expect(r.code).toBe(4);
    expect(logLines(r.stderr).at(-1)!.message).toContain("not accessible to the parent installation");
  });
});

describe("credentials", () => {
  test("a key GitHub does not know: exit 3 at once, no retry", async () => {
    const wrong = join(tmp.dir, "wrong.pem");
    writeFileSync(wrong, generateAppKey().privateKeyPem);
    const r = await runGenerator([], podEnv({ INSTALLATION_ID: "1001", PRIVATE_KEY_FILE: wrong }));
    expect(r.code).toBe(3);
    expect(sim.requests.length).toBe(1);
    expect(logLines(r.stderr).at(-1)!.message).toContain("A JSON web token could not be decoded");
  });

  test("a suspended installation: exit 3", async () => {
    const s = await startSimulator();
    try {
      s.suspend(1001);
      writeFileSync(join(tmp.dir, "s.pem"), s.app.privateKeyPem);
      const r = await runGenerator([], podEnv({ INSTALLATION_ID: "1001", PRIVATE_KEY_FILE: join(tmp.dir, "s.pem") }, s));
      expect(r.code).toBe(3);
      expect(logLines(r.stderr).at(-1)!.message).toContain("This installation has been suspended");
    } finally {
      await s.close();
    }
  });

  test("a key that is not a key: exit 2 before any request, without echoing it", async () => {
    const r = await runGenerator([], { ...podEnv({ INSTALLATION_ID: "1001" }), PRIVATE_KEY_FILE: "", PRIVATE_KEY: "not-a-key-but-a-long-secret-looking-string" });
    expect(r.code).toBe(2);
    expect(sim.requests.length).toBe(0);
    expect(r.stderr).not.toContain("not-a-key-but-a-long-secret-looking-string");
    expect(r.stderr).toContain("accepted shapes");
  });

  test("a read-only output folder: exit 2 before any request", async () => {
    const env = podEnv({ INSTALLATION_ID: "1001" });
    const proc = Bun.spawn(["bwrap", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--", (await import("../helpers/generator.ts")).BINARY], { env, stdout: "pipe", stderr: "pipe" });
    const [stderr, code] = await Promise.all([new Response(proc.stderr).text(), proc.exited]);
    expect(code).toBe(2);
    expect(sim.requests.length).toBe(0);
    expect(logLines(stderr).at(-1)!.message).toContain("is not writable (EROFS)");
  });

  test("a missing output folder: exit 2 before any request", async () => {
    const r = await runGenerator([], { ...podEnv({ INSTALLATION_ID: "1001" }), OUTPUT_PATH: join(tmp.dir, "no-such-folder", "token") });
    expect(r.code).toBe(2);
    expect(sim.requests.length).toBe(0);
    expect(logLines(r.stderr).at(-1)!.message).toContain("does not exist: mount a volume there");
  });
});

describe("when GitHub misbehaves", () => {
  test("retries 5xx with back-off and succeeds", async () => {
    sim.inject({ kind: "status", status: 502, times: 2 });
    const r = await runGenerator([], podEnv({ INSTALLATION_ID: "1001" }));
    expect(r.code).toBe(0);
    expect(sim.requests.length).toBe(3);
    expect(r.ms).toBeGreaterThan(250 + 500); // jittered 500 ms then 1 s, at least half of each
  });

  test("gives up after 5 attempts with exit 5 and writes nothing", async () => {
    sim.inject({ kind: "status", status: 503, times: 10 });
    const r = await runGenerator([], podEnv({ INSTALLATION_ID: "1001" }));
    expect(r.code).toBe(5);
    expect(sim.requests.length).toBe(5);
    expect(existsSync(tokenPath())).toBe(false);
    expect(logLines(r.stderr).filter((l) => l.message === "retrying GitHub request").length).toBe(4);
  }, 20_000);

  test("retries dropped connections", async () => {
    sim.inject({ kind: "drop", times: 2 });
    const r = await runGenerator([], podEnv({ INSTALLATION_ID: "1001" }));
    expect(r.code).toBe(0);
    expect(sim.requests.length).toBeGreaterThanOrEqual(3);
  });

  test("retries a request that times out", async () => {
    sim.inject({ kind: "delay", ms: 2500, times: 1 });
    const r = await runGenerator([], podEnv({ INSTALLATION_ID: "1001", REQUEST_TIMEOUT: "1s" }));
    expect(r.code).toBe(0);
    expect(logLines(r.stderr).some((l) => l.reason === "timeout")).toBe(true);
  });

  test("waits what Retry-After says on 429", async () => {
    sim.inject({ kind: "retry-after", retryAfter: 1 });
    const r = await runGenerator([], podEnv({ INSTALLATION_ID: "1001" }));
    expect(r.code).toBe(0);
    const [first, second] = sim.requests;
    expect(second!.at - first!.at).toBeGreaterThanOrEqual(950);
  });

  test("waits out a secondary rate limit", async () => {
    sim.inject({ kind: "secondary-rate-limit", retryAfter: 1 });
    const r = await runGenerator([], podEnv({ INSTALLATION_ID: "1001" }));
    expect(r.code).toBe(0);
    expect(sim.requests[1]!.at - sim.requests[0]!.at).toBeGreaterThanOrEqual(950);
    expect(logLines(r.stderr).find((l) => l.message === "rate limited by GitHub, waiting")?.kind).toBe("secondary");
  });

  test("waits until x-ratelimit-reset when the primary limit is used up", async () => {
    sim.inject({ kind: "primary-rate-limit", resetIn: 1 });
    const r = await runGenerator([], podEnv({ INSTALLATION_ID: "1001" }));
    expect(r.code).toBe(0);
    expect(sim.requests[1]!.at - sim.requests[0]!.at).toBeGreaterThanOrEqual(950);
  });

  test("a wait longer than MAX_RETRY_WAIT fails at once with exit 5", async () => {
    sim.inject({ kind: "retry-after", retryAfter: 600 });
    const r = await runGenerator([], podEnv({ INSTALLATION_ID: "1001", MAX_RETRY_WAIT: "5s" }));
    expect(r.code).toBe(5);
    expect(r.ms).toBeLessThan(5000);
    expect(logLines(r.stderr).at(-1)!.message).toContain("longer than MAX_RETRY_WAIT");
  });

  test("corrects a skewed clock from GitHub's Date header and retries once", async () => {
    sim.setClockOffset(-900);
    try {
      const r = await runGenerator([], podEnv({ INSTALLATION_ID: "1001" }));
      expect(r.code).toBe(0);
      expect(calls("/app/installations/1001/access_tokens").map((c) => c.status)).toEqual([401, 201]);
      const warning = logLines(r.stderr).find((l) => String(l.message).startsWith("clock skew"))!;
      expect(Math.abs(Number(warning.skewSeconds) + 900)).toBeLessThanOrEqual(2);
    } finally {
      sim.setClockOffset(0);
    }
  });
});

describe("secrets", () => {
  test("no token, key or JWT appears in any output, even at debug", async () => {
    const ok = await runGenerator([], podEnv({ OWNER: "acme-org", LOG_LEVEL: "debug" }));
    expect(ok.code).toBe(0);
    const token = readFileSync(tokenPath(), "utf8");
    const jwts = sim.requests.map((r) => r.headers.authorization!.replace(/^Bearer /, ""));
    const failing = await runGenerator([], podEnv({ INSTALLATION_ID: "999", LOG_LEVEL: "debug" }));
    for (const output of [ok.stdout + ok.stderr, failing.stdout + failing.stderr]) {
      expectNoSecrets(output, [token, ...jwts, ...keyFragments(sim.app.privateKeyPem)]);
    }
    expect(logLines(ok.stderr).filter((l) => l.level === "debug").length).toBeGreaterThan(0);
  });

  test("a key passed as a flag still works but is flagged, since argv is visible to every process on the node", async () => {
    const env = podEnv({ INSTALLATION_ID: "1001" });
    delete (env as Record<string, string | undefined>).PRIVATE_KEY_FILE;
    const r = await runGenerator(["--private-key", sim.app.privateKeyPem], env);
    expect(r.code).toBe(0);
    const warning = logLines(r.stderr).find((l) => l.level === "warn");
    expect(String(warning?.message)).toContain("use PRIVATE_KEY_FILE");
    expectNoSecrets(r.stdout + r.stderr, [readFileSync(tokenPath(), "utf8"), ...keyFragments(sim.app.privateKeyPem)]);
  });

  test("ignores a .env file in the working directory: configuration comes from the pod spec only", async () => {
    const cwd = join(tmp.dir, `dotenv-${++n}`);
    require("node:fs").mkdirSync(cwd);
    writeFileSync(join(cwd, ".env"), `APP_ID=${sim.app.id}\nPRIVATE_KEY_FILE=${keyFile}\n`);
    const env = podEnv({ INSTALLATION_ID: "1001" });
    delete (env as Record<string, string | undefined>).APP_ID;
    const r = await runGenerator([], env, { cwd });
    expect(r.code).toBe(2);
    expect(String(logLines(r.stderr).at(-1)?.message)).toContain("APP_ID is not set");
    expect(sim.requests.length).toBe(0);
  });

  test("a mistyped flag or a stray value is exit 2 naming the flag, never repeating the value", async () => {
    const token = `ghs_${"A1b2C3d4E5".repeat(4).slice(0, 36)}`;
    for (const args of [["--privat-key", sim.app.privateKeyPem], ["revoke", token], [sim.app.privateKeyPem]]) {
      const r = await runGenerator(args, podEnv({ INSTALLATION_ID: "1001" }));
      expect(r.code).toBe(2);
      const error = logLines(r.stderr).find((l) => l.level === "error");
      expect(String(error?.message)).toContain("see `ghapp-token --help`");
      if (args[0] === "--privat-key") expect(String(error?.message)).toContain("unknown option --privat-key");
      expect(existsSync(tokenPath())).toBe(false);
      expectNoSecrets(r.stdout + r.stderr, [token, ...keyFragments(sim.app.privateKeyPem)]);
      expect(r.stderr).not.toContain("BEGIN RSA");
    }
    expect(sim.requests.length).toBe(0);
  });
});

describe("token forms and metadata", () => {
  test("mints, records and revokes a 40-character token as well as the ~520-character form", async () => {
    const classic = await startSimulator({ tokenFormat: "classic" });
    try {
      writeFileSync(join(tmp.dir, "classic.pem"), classic.app.privateKeyPem);
      for (const s of [classic, sim]) {
        const env = podEnv({ INSTALLATION_ID: "1001", PRIVATE_KEY_FILE: join(tmp.dir, s === sim ? "privateKey" : "classic.pem"), LOG_LEVEL: "debug" }, s);
        const r = await runGenerator([], env);
        expect(r.code).toBe(0);
        const token = readFileSync(tokenPath(), "utf8");
        expect(token).toMatch(s === sim ? /^ghs_\d+_eyJ[A-Za-z0-9_.-]{400,}$/ : /^ghs_[A-Za-z0-9]{36}$/);
        expect(JSON.parse(readFileSync(join(out, "token.json"), "utf8")).expires_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
        const revoked = await runGenerator(["revoke"], { GITHUB_API_URL: s.url, OUTPUT_PATH: tokenPath() });
        expect(revoked.code).toBe(0);
        expect(logLines(revoked.stderr).at(-1)!.message).toBe("token revoked");
        expect(s.tokens.get(token)!.revoked).toBe(true);
        expectNoSecrets(r.stderr + revoked.stderr, [token]);
      }
    } finally {
      await classic.close();
    }
  });

  test("the log and the metadata file say the same about repositories and permissions", async () => {
    for (const extra of [{}, { REPOSITORIES: "api,web", PERMISSIONS: "contents=read" }] as Array<Record<string, string>>) {
      const r = await runGenerator([], podEnv({ INSTALLATION_ID: "1001", ...extra }));
      expect(r.code).toBe(0);
      const meta = JSON.parse(readFileSync(join(out, "token.json"), "utf8"));
      const written = logLines(r.stderr).find((l) => l.message === "token written")!;
      for (const key of ["repositories", "repository_selection", "permissions", "expires_at", "installation_id"]) expect(written[key]).toEqual(meta[key]);
    }
  });
});

describe("answers that would mislead", () => {
  test("an INSTALLATION_ID of another account than OWNER: exit 2 naming both, no token", async () => {
    const other = sim.installations.find((i) => i.account.login !== "acme-org")!;
    const r = await runGenerator([], podEnv({ INSTALLATION_ID: String(other.id), OWNER: "acme-org" }));
    expect(r.code).toBe(2);
    const message = String(logLines(r.stderr).at(-1)?.message);
    expect(message).toContain(`INSTALLATION_ID ${other.id} is the App's installation on "${other.account.login}", but OWNER names "acme-org"`);
    expect(existsSync(tokenPath())).toBe(false);
    expect(calls(`/app/installations/${other.id}/access_tokens`)).toEqual([]);
  });

  test("an INSTALLATION_ID of another account than REPOSITORIES' owner: exit 2 naming REPOSITORIES", async () => {
    const other = sim.installations.find((i) => i.account.login !== "acme-org")!;
    const r = await runGenerator([], podEnv({ INSTALLATION_ID: String(other.id), REPOSITORIES: "acme-org/api" }));
    expect(r.code).toBe(2);
    expect(String(logLines(r.stderr).at(-1)?.message)).toContain(`but REPOSITORIES names "acme-org"`);
    expect(existsSync(tokenPath())).toBe(false);
  });

  test("an INSTALLATION_ID that agrees with OWNER mints, whatever the case of the login", async () => {
    const r = await runGenerator([], podEnv({ INSTALLATION_ID: "1001", OWNER: "ACME-org" }));
    expect(r.code).toBe(0);
    expect(sim.requests.map((x) => x.path)).toEqual(["/app/installations/1001", "/app/installations/1001/access_tokens"]);
  });

  test("GITHUB_API_URL ending in /api/v3 on a host that is not GitHub Enterprise Server: exit 2 saying so, not 'install the App there'", async () => {
    for (const extra of [{ OWNER: "acme-org" }, { INSTALLATION_ID: "1001" }, {}] as Array<Record<string, string>>) {
      const r = await runGenerator([], podEnv({ ...extra, GITHUB_API_URL: `${sim.url}/api/v3` }));
      expect(r.code).toBe(2);
      const message = String(logLines(r.stderr).at(-1)?.message);
      expect(message).toContain(`GITHUB_API_URL ends in /api/v3, the form of a GitHub Enterprise Server's API, but 127.0.0.1:${sim.port} does not answer as GitHub Enterprise Server does`);
      expect(message).not.toContain("install the App");
      expect(existsSync(tokenPath())).toBe(false);
    }
    const list = await runGenerator(["installations"], podEnv({ GITHUB_API_URL: `${sim.url}/api/v3` }));
    expect(list.code).toBe(2);
    expect(list.stdout).toBe("");
  });

  test("OUTPUT_PATH unset where the default folder does not exist (a laptop): the message names the default", async () => {
    expect(existsSync("/var/run/github")).toBe(false);
    const env: Record<string, string | undefined> = podEnv({ INSTALLATION_ID: "1001" });
    delete env.OUTPUT_PATH;
    const r = await runGenerator([], env);
    expect(r.code).toBe(2);
    expect(String(logLines(r.stderr).at(-1)?.message)).toStartWith("OUTPUT_PATH is not set, so the token goes to the default /var/run/github/token, and /var/run/github does not exist: set OUTPUT_PATH to a file in an existing folder");
    expect(sim.requests).toEqual([]);
  });

  test("ghapp-runner-broker's names for a setting: exit 2 naming the name ghapp-token reads, never the value", async () => {
    for (const [broker, own, value] of [["GITHUB_APP_ID", "APP_ID", String(sim.app.id)], ["GITHUB_APP_PRIVATE_KEY_FILE", "PRIVATE_KEY_FILE", keyFile], ["GITHUB_APP_PRIVATE_KEY_PATH", "PRIVATE_KEY_FILE", keyFile], ["GITHUB_APP_INSTALLATION_ID", "INSTALLATION_ID", "1001"], ["GITHUB_ORG", "OWNER", "acme-org"]] as const) {
      const env: Record<string, string | undefined> = { ...podEnv(), [broker]: value };
      delete env[own];
      const r = await runGenerator([], env);
      expect(r.code).toBe(2);
      const message = String(logLines(r.stderr).at(-1)?.message);
      expect(message).toBe(`${broker} is set, which is ghapp-runner-broker's name for this setting; ghapp-token reads ${own} (or --${own.toLowerCase().replaceAll("_", "-")}): rename ${broker} to ${own}`);
      expect(message).not.toContain(value);
      expect(existsSync(tokenPath())).toBe(false);
    }
    // Both names set: ghapp-token's own wins and the broker's is left alone.
    const r = await runGenerator([], podEnv({ INSTALLATION_ID: "1001", GITHUB_APP_ID: "1" }));
    expect(r.code).toBe(0);
    expect(sim.requests.length).toBeGreaterThan(0);
  });
});

describe("GitHub Enterprise Server", () => {
  test("an owner without an installation is still 'install the App there' on a real GitHub Enterprise Server", async () => {
    const ghes = await startSimulator({ prefix: "/api/v3" });
    try {
      writeFileSync(join(tmp.dir, "ghes.pem"), ghes.app.privateKeyPem);
      const r = await runGenerator([], podEnv({ OWNER: "nobody-here", PRIVATE_KEY_FILE: join(tmp.dir, "ghes.pem") }, ghes));
      expect(r.code).toBe(4);
      expect(String(logLines(r.stderr).at(-1)?.message)).toContain("install the App there");
    } finally {
      await ghes.close();
    }
  });

  test("mints against https://HOST/api/v3", async () => {
    const ghes = await startSimulator({ prefix: "/api/v3" });
    try {
      writeFileSync(join(tmp.dir, "ghes.pem"), ghes.app.privateKeyPem);
      const r = await runGenerator([], podEnv({ OWNER: "acme-org", PRIVATE_KEY_FILE: join(tmp.dir, "ghes.pem") }, ghes));
      expect(r.code).toBe(0);
      expect(ghes.requests.map((x) => x.path)).toEqual(["/users/acme-org/installation", "/app/installations/1001/access_tokens"]);
    } finally {
      await ghes.close();
    }
  });
});
