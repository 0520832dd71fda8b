// The compiled binary against a GitHub that stalls, lies and redirects (tests/helpers/hostile-
// server.ts), and against the simulator with a node clock hours off. What a user would notice:
// the exit code, how long it took, that nothing (or only a valid token) was written, what the
// sidecar's endpoints say, and which hosts received requests.
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readdirSync, readFileSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { generateAppKey, startSimulator, type Simulator } from "../simulator/simulator.ts";
import { BINARY, logLines, runGenerator, tempDir } from "../helpers/generator.ts";
import { fakeToken, startHostileServer, type HostileServer } from "../helpers/hostile-server.ts";
import { freePort } from "../helpers/run.ts";
import { expectNoSecrets } from "../helpers/secrets.ts";

let hostile: HostileServer;
let foreign: HostileServer;
const tmp = tempDir("ghapp-hostile-");
const keyFile = join(tmp.dir, "key.pem");
const running: Array<ReturnType<typeof Bun.spawn>> = [];
let n = 0;

beforeAll(async () => {
  hostile = await startHostileServer();
  foreign = await startHostileServer();
  writeFileSync(keyFile, generateAppKey().privateKeyPem, { mode: 0o600 });
});
afterEach(() => {
  hostile.reset();
  foreign.reset();
});
afterAll(async () => {
  for (const p of running) p.kill("SIGKILL");
  await hostile.close();
  await foreign.close();
  tmp.cleanup();
});

function env(extra: Record<string, string> = {}) {
  const out = join(tmp.dir, `out-${++n}`);
  mkdirSync(out);
  return { APP_ID: "424242", PRIVATE_KEY_FILE: keyFile, GITHUB_API_URL: hostile.url, OUTPUT_PATH: join(out, "token"), INSTALLATION_ID: "1001", ...extra };
}
const lastError = (stderr: string) => String(logLines(stderr).filter((l) => l.level === "error").at(-1)?.message ?? "");
const folderOf = (e: { OUTPUT_PATH: string }) => readdirSync(join(e.OUTPUT_PATH, ".."));
const TOKEN_POST = { method: "POST", path: "/access_tokens" };

/** GitHub "answers" the token request with `body`: mint must fail with exit 5 saying `says`, writing nothing. */
async function expectTokenAnswerRefused(body: unknown, says: string) {
  hostile.next(TOKEN_POST, { kind: "json", status: 201, body });
  const e = env();
  const r = await runGenerator([], e);
  expect(r.code).toBe(5);
  expect(lastError(r.stderr)).toContain(says);
  expect(existsSync(e.OUTPUT_PATH)).toBe(false);
}

describe("an answer whose body stalls after the headers", () => {
  test("is a timeout within REQUEST_TIMEOUT, retried like one, and the next answer is used", async () => {
    hostile.next(TOKEN_POST, { kind: "stall-body" });
    const e = env({ REQUEST_TIMEOUT: "1s" });
    const r = await runGenerator([], e);
    expect(r.code).toBe(0);
    expect(hostile.requests.filter((q) => q.method === "POST").length).toBe(2);
    expect(logLines(r.stderr).some((l) => l.message === "retrying GitHub request" && l.reason === "timeout")).toBe(true);
    expect(readFileSync(e.OUTPUT_PATH, "utf8")).toMatch(/^ghs_424242_eyJ/);
    expect(r.ms).toBeLessThan(5000);
  });

  test("a 403 or 429 that stalls does not hang: exit 5 after the attempts, nothing written", async () => {
    for (const status of [403, 429]) {
      hostile.next(TOKEN_POST, ...Array.from({ length: 5 }, () => ({ kind: "stall-body" as const, status })));
      const e = env({ REQUEST_TIMEOUT: "1s" });
      const r = await runGenerator([], e);
      expect(r.code).toBe(5);
      expect(lastError(r.stderr)).toContain("within REQUEST_TIMEOUT");
      expect(existsSync(e.OUTPUT_PATH)).toBe(false);
      expect(r.ms).toBeLessThan(15_000);
      hostile.reset();
    }
  }, 40_000);
});

describe("an answer that is not GitHub's", () => {
  test("an HTML page (captive portal, web UI) is exit 5 naming the likely causes, never exit 0 with an empty file", async () => {
    for (const status of [200, 201, 404]) {
      hostile.next(TOKEN_POST, { kind: "html", status });
      const e = env();
      const r = await runGenerator([], e);
      expect(r.code).toBe(5);
      const message = lastError(r.stderr);
      expect(message).toContain("an HTML page");
      expect(message).toContain("captive portal");
      expect(message).toContain("/api/v3");
      expect(message).not.toContain("Sign in to the network");
      expect(existsSync(e.OUTPUT_PATH)).toBe(false);
    }
  });

  test("an empty body is exit 5", async () => {
    hostile.next(TOKEN_POST, { kind: "empty", status: 201 });
    const e = env();
    const r = await runGenerator([], e);
    expect(r.code).toBe(5);
    expect(lastError(r.stderr)).toContain("an empty answer");
    expect(folderOf(e)).toEqual([]);
  });

  test("a token answer without a token, or with one that is not token characters, is exit 5", async () => {
    const exp = () => new Date(Date.now() + 3_600_000).toISOString();
    for (const [body, says] of [
      [{ expires_at: exp() }, "holds no token"],
      [{ token: "", expires_at: exp() }, "holds no token"],
      [{ token: "ghs_abc def ghi jkl mno pqr", expires_at: exp() }, "not made of token characters"],
      [{ token: "ghs_short", expires_at: exp() }, "not made of token characters"],
      [{ token: `ghs_${"x".repeat(3000)}`, expires_at: exp() }, "not made of token characters"],
      [[fakeToken()], "is not a JSON object"],
    ] as const) {
      await expectTokenAnswerRefused(body, says);
    }
  });

  test("an expires_at in the past, years ahead or unparseable is exit 5, nothing written", async () => {
    for (const [expires, says] of [
      [new Date(Date.now() - 60_000).toISOString(), "in the past"],
      [new Date(Date.now() + 5 * 365 * 86_400_000).toISOString(), "more than a day ahead"],
      ["soon", "no valid expires_at"],
      [12345, "no valid expires_at"],
    ] as const) {
      await expectTokenAnswerRefused({ token: fakeToken(), expires_at: expires }, says);
    }
  });

  test("a huge answer fails fast without reading it all, and memory stays small", async () => {
    /** Runs a mint; its peak resident memory in MiB (maxRSS is in bytes). */
    const mint = async (e: Record<string, string>) => {
      const proc = Bun.spawn([BINARY], { env: e, stdout: "pipe", stderr: "pipe" });
      const [stderr, code] = await Promise.all([new Response(proc.stderr).text(), proc.exited]);
      return { code, stderr, rssMiB: Math.round(proc.resourceUsage()!.maxRSS / 1024 ** 2) };
    };
    // A plain mint, measured the same way just before: resident memory includes the pages of the
    // 110 MB executable that happen to be mapped, which varies with the machine's page cache.
    const baseline = await mint(env());
    expect(baseline.code).toBe(0);
    for (const declared of [false, true]) {
      hostile.next(TOKEN_POST, { kind: "huge", declared });
      const e = env();
      const r = await mint(e);
      expect(r.code).toBe(5);
      expect(lastError(r.stderr)).toContain("larger than 1024 KiB");
      // Refused after 1 MiB read: the server got to send a few MiB (socket buffers), not the
      // 512 MiB it offers, and the process grew by far less than the headroom the chart's
      // memory limit (96Mi) leaves above a plain mint (about 55 MiB).
      const seen = { sentMiB: Math.round(hostile.hugeBytesSent / 1024 ** 2), rssMiB: r.rssMiB, baselineMiB: baseline.rssMiB };
      expect(seen.sentMiB).toBeLessThan(64);
      expect(seen.rssMiB - seen.baselineMiB < 24 ? "within the headroom" : seen).toBe("within the headroom");
      expect(existsSync(e.OUTPUT_PATH)).toBe(false);
      hostile.reset();
    }
  }, 20_000);
});

describe("an installation answer that is not GitHub's", () => {
  test("an id that is not a positive integer never reaches the next request's path", async () => {
    for (const id of ["1001/../../../admin", -1, 1.5, 2 ** 60, null]) {
      hostile.next({ method: "GET" }, { kind: "json", status: 200, body: { id, account: { login: "acme-org", type: "Organization" } } });
      const r = await runGenerator([], env({ INSTALLATION_ID: "", OWNER: "acme-org" }));
      expect(r.code).toBe(5);
      expect(lastError(r.stderr)).toContain("GitHub's answer about the installation is malformed");
      expect(hostile.requests.filter((q) => q.method === "POST")).toEqual([]);
      hostile.reset();
    }
  });
});

describe("redirects to another host", () => {
  test("are not followed: no request reaches the other host, and mint is exit 5", async () => {
    hostile.next(TOKEN_POST, { kind: "redirect", to: foreign.origin });
    const e = env();
    const r = await runGenerator([], e);
    expect(r.code).toBe(5);
    expect(lastError(r.stderr)).toContain("redirects to another host, which is not followed");
    expect(foreign.requests).toEqual([]);
    expect(existsSync(e.OUTPUT_PATH)).toBe(false);
  });

  test("a GET to the installation is not followed either", async () => {
    hostile.next({ method: "GET" }, { kind: "redirect", to: foreign.origin, status: 301 });
    const e = env({ INSTALLATION_ID: "", OWNER: "acme-org" });
    const r = await runGenerator([], e);
    expect(r.code).toBe(5);
    expect(foreign.requests).toEqual([]);
  });

  test("revoke never reports success for a DELETE another host would answer", async () => {
    const e = env();
    writeFileSync(e.OUTPUT_PATH, fakeToken());
    hostile.next({ method: "DELETE" }, { kind: "redirect", to: foreign.origin });
    const r = await runGenerator(["revoke"], { GITHUB_API_URL: hostile.url, OUTPUT_PATH: e.OUTPUT_PATH });
    expect(r.code).toBe(5);
    expect(foreign.requests).toEqual([]);
    expect(r.stderr).not.toContain("token revoked");
    expectNoSecrets(r.stderr, [fakeToken()]);
  });

  test("revoke does not take a 200 HTML page for GitHub's 204", async () => {
    const e = env();
    writeFileSync(e.OUTPUT_PATH, fakeToken());
    hostile.next({ method: "DELETE" }, { kind: "html", status: 200 });
    const r = await runGenerator(["revoke"], { GITHUB_API_URL: hostile.url, OUTPUT_PATH: e.OUTPUT_PATH });
    expect(r.code).toBe(5);
    expect(r.stderr).not.toContain("token revoked");
  });
});

describe("inputs checked before the first request", () => {
  test("NODE_TLS_REJECT_UNAUTHORIZED=0 is refused with exit 2", async () => {
    const r = await runGenerator([], env({ NODE_TLS_REJECT_UNAUTHORIZED: "0" }));
    expect(r.code).toBe(2);
    expect(lastError(r.stderr)).toContain("NODE_TLS_REJECT_UNAUTHORIZED");
    expect(hostile.requests).toEqual([]);
  });

  test("credentials in GITHUB_API_URL are refused and never printed", async () => {
    const url = hostile.url.replace("http://", "http://robot:hunter2-secret@");
    const r = await runGenerator([], env({ GITHUB_API_URL: url }));
    expect(r.code).toBe(2);
    expect(r.stderr).not.toContain("hunter2-secret");
    expect(hostile.requests).toEqual([]);
  });

  test("network errors name the host only", async () => {
    const port = freePort();
    const r = await runGenerator([], env({ GITHUB_API_URL: `http://127.0.0.1:${port}/api/v3`, REQUEST_TIMEOUT: "1s" }));
    expect(r.code).toBe(5);
    expect(lastError(r.stderr)).toContain(`cannot reach GitHub at 127.0.0.1:${port} (`);
  }, 20_000);

  test("the base64 form of a key in any variable is refused with exit 2 and never echoed", async () => {
    const b64 = Buffer.from(generateAppKey().privateKeyPem).toString("base64");
    for (const name of ["APP_ID", "INSTALLATION_ID", "OWNER", "REPOSITORIES", "PERMISSIONS", "TOKEN_FILE_MODE", "GITHUB_API_URL", "LOG_LEVEL", "REQUEST_TIMEOUT"]) {
      const r = await runGenerator([], env({ [name]: b64, LOG_LEVEL: name === "LOG_LEVEL" ? b64 : "debug" }));
      expect(r.code).toBe(2);
      expect(r.stderr).not.toContain(b64.slice(0, 24));
      for (let i = 0; i + 40 <= b64.length; i += 40) expect(r.stderr).not.toContain(b64.slice(i, i + 40));
    }
    expect(hostile.requests).toEqual([]);
  }, 30_000);

  test("revoke logs no APP_ID it never checked", async () => {
    const e = env();
    const r = await runGenerator(["revoke"], { APP_ID: "not-checked-value-xyz", GITHUB_API_URL: hostile.url, OUTPUT_PATH: e.OUTPUT_PATH });
    expect(r.code).toBe(0);
    expect(r.stderr).not.toContain("not-checked-value-xyz");
  });

  test("APP_ID holding a JSON document says to set remoteRef.property", async () => {
    const r = await runGenerator([], env({ APP_ID: '{"value":"424242"}' }));
    expect(r.code).toBe(2);
    expect(lastError(r.stderr)).toContain("the secret holds JSON: set remoteRef.property in the chart's values");
  });

  test("OUTPUT_PATH that is a folder is exit 2 before any request", async () => {
    const e = env();
    mkdirSync(e.OUTPUT_PATH);
    const r = await runGenerator([], e);
    expect(r.code).toBe(2);
    expect(lastError(r.stderr)).toContain("OUTPUT_PATH is a folder");
    expect(hostile.requests).toEqual([]);
  });

  test("a LISTEN_ADDR in use is exit 2 before any token is minted", async () => {
    const busy = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => new Response() });
    try {
      const r = await runGenerator(["refresh"], env({ LISTEN_ADDR: `127.0.0.1:${busy.port}` }));
      expect(r.code).toBe(2);
      expect(lastError(r.stderr)).toContain("LISTEN_ADDR: the port is already in use");
      expect(hostile.requests).toEqual([]);
    } finally {
      busy.stop(true);
    }
  });

  test("a bare number or an out-of-range duration is exit 2, never 1", async () => {
    for (const [name, value, says] of [
      ["REQUEST_TIMEOUT", "10", 'REQUEST_TIMEOUT "10" has no unit: write 10s'],
      ["REFRESH_INTERVAL", "9999999h", "outside 1m..55m"],
      ["MAX_RETRY_WAIT", "25d", "is not a duration"],
    ] as const) {
      const r = await runGenerator(["refresh"], env({ [name]: value }));
      expect(r.code).toBe(2);
      expect(lastError(r.stderr)).toContain(says);
    }
  });
});

describe("signals and leftovers", () => {
  test("SIGTERM during a mint stops it with 143, writing nothing and leaving no temporary file", async () => {
    hostile.next(TOKEN_POST, { kind: "stall-body" });
    const e = env({ REQUEST_TIMEOUT: "30s" });
    const proc = Bun.spawn([BINARY], { env: e, stdout: "pipe", stderr: "pipe" });
    for (let i = 0; i < 100 && hostile.requests.length === 0; i++) await Bun.sleep(20);
    proc.kill("SIGTERM");
    const [stderr, code] = await Promise.all([new Response(proc.stderr).text(), proc.exited]);
    expect(code).toBe(143);
    expect(stderr).toContain("stopped by SIGTERM before the token was written");
    expect(folderOf(e)).toEqual([]);
  });

  test("a temporary file a killed run left is removed at the next start", async () => {
    const e = env();
    const leftover = join(e.OUTPUT_PATH, "..", ".token.0123456789ab.tmp");
    writeFileSync(leftover, fakeToken());
    const old = new Date(Date.now() - 3_600_000);
    utimesSync(leftover, old, old);
    const r = await runGenerator([], e);
    expect(r.code).toBe(0);
    expect(folderOf(e).sort()).toEqual(["token", "token.json"]);
  });
});

describe("the sidecar against a hostile GitHub", () => {
  async function sidecar(extra: Record<string, string>, api: string = hostile.url) {
    const port = freePort();
    const e = env({ LISTEN_ADDR: `127.0.0.1:${port}`, GITHUB_API_URL: api, LOG_LEVEL: "debug", ...extra });
    const proc = Bun.spawn([BINARY, "refresh"], { env: e, stdout: "pipe", stderr: "pipe" });
    running.push(proc);
    let stderr = "";
    void (async () => {
      for await (const chunk of proc.stderr as ReadableStream<Uint8Array>) stderr += new TextDecoder().decode(chunk);
    })();
    const get = async (path: string) => {
      for (let i = 0; ; i++) {
        try {
          const res = await fetch(`http://127.0.0.1:${port}${path}`);
          return { status: res.status, type: res.headers.get("content-type") ?? "", body: (await res.json()) as Record<string, unknown> };
        } catch (err) {
          if (i > 100) throw err;
          await Bun.sleep(20);
        }
      }
    };
    return { proc, env: e, get, logs: () => stderr };
  }

  test("a stalled body does not wedge refresh: /livez stays 200, /healthz says starting, then a token arrives", async () => {
    hostile.next(TOKEN_POST, { kind: "stall-body" }, { kind: "stall-body" });
    const s = await sidecar({ REQUEST_TIMEOUT: "1s" });
    expect((await s.get("/livez")).status).toBe(200);
    const starting = await s.get("/healthz");
    expect(starting.status).toBe(503);
    expect(starting.type).toContain("application/json");
    for (let i = 0; i < 200 && !existsSync(s.env.OUTPUT_PATH); i++) await Bun.sleep(25);
    expect(readFileSync(s.env.OUTPUT_PATH, "utf8")).toMatch(/^ghs_424242_/);
    expect((await s.get("/healthz")).status).toBe(200);
    expect((await s.get("/livez")).body).toEqual({ status: "alive" });
    s.proc.kill("SIGTERM");
    expect(await s.proc.exited).toBe(0);
  }, 20_000);

  test("expires_at in the past, unparseable or years ahead: no loop, JSON from every endpoint", async () => {
    const bad = [new Date(Date.now() - 7_200_000).toISOString(), "garbage", new Date(Date.now() + 10 * 365 * 86_400_000).toISOString()];
    hostile.next(TOKEN_POST, ...Array.from({ length: 30 }, (_, i) => ({ kind: "json" as const, status: 201, body: { token: fakeToken(), expires_at: bad[i % 3] } })));
    const s = await sidecar({});
    await Bun.sleep(3500);
    // back-off after each failure (1 s, 2 s, …): a handful of attempts, never a loop
    expect(hostile.requests.filter((q) => q.method === "POST").length).toBeLessThanOrEqual(4);
    for (const path of ["/healthz", "/readyz", "/nope"]) {
      const r = await s.get(path);
      expect(r.type).toContain("application/json");
      expect(r.status).toBeGreaterThanOrEqual(400);
    }
    expect((await s.get("/livez")).status).toBe(200);
    expect(existsSync(s.env.OUTPUT_PATH)).toBe(false);
    s.proc.kill("SIGTERM");
    expect(await s.proc.exited).toBe(0);
  }, 15_000);
});

describe("a node clock hours off GitHub's", () => {
  let sim: Simulator;
  beforeAll(async () => {
    sim = await startSimulator();
    writeFileSync(join(tmp.dir, "sim.pem"), sim.app.privateKeyPem);
  });
  afterAll(() => sim.close());

  test("a rate-limit reset is read in GitHub's time: a node 2 h behind waits the second GitHub asks, not 2 h", async () => {
    sim.setClockOffset(7200);
    sim.inject({ kind: "primary-rate-limit", resetIn: 1 });
    try {
      const r = await runGenerator([], env({ APP_ID: String(sim.app.id), PRIVATE_KEY_FILE: join(tmp.dir, "sim.pem"), GITHUB_API_URL: sim.url }));
      expect(r.code).toBe(0);
      expect(r.ms).toBeLessThan(8000);
      // the retry after the wait is signed afresh in GitHub's time (learnt from the 403): no clock-skew 401 on the way
      expect(sim.requests.map((q) => q.status)).toEqual([403, 201]);
    } finally {
      sim.setClockOffset(0);
      sim.reset();
    }
  });

  for (const [label, offsetSeconds] of [["2 h ahead of GitHub", -7200], ["2 h behind GitHub", 7200]] as const) {
    test(`a node ${label} mints once, schedules the next refresh at 48 min of GitHub's time, and is healthy`, async () => {
      sim.setClockOffset(offsetSeconds);
      try {
        const port = freePort();
        const e = env({ APP_ID: String(sim.app.id), PRIVATE_KEY_FILE: join(tmp.dir, "sim.pem"), GITHUB_API_URL: sim.url, LISTEN_ADDR: `127.0.0.1:${port}`, LOG_LEVEL: "debug", INSTALLATION_ID: "1001" });
        const proc = Bun.spawn([BINARY, "refresh"], { env: e, stdout: "pipe", stderr: "pipe" });
        running.push(proc);
        await Bun.sleep(2500);
        const health = await fetch(`http://127.0.0.1:${port}/healthz`);
        expect(health.status).toBe(200);
        proc.kill("SIGTERM");
        const stderr = await new Response(proc.stderr).text();
        await proc.exited;
        const minted = sim.requests.filter((r) => r.method === "POST" && r.path.endsWith("/access_tokens") && r.status === 201);
        expect(minted.length).toBe(1);
        const scheduled = logLines(stderr).find((l) => l.message === "next refresh scheduled" && l.why !== "retry after failure");
        expect(Math.abs(Number(scheduled?.in_ms) - 48 * 60_000)).toBeLessThan(10_000);
        expect(Math.abs(Number(logLines(stderr).find((l) => l.message === "token written")?.skewSeconds) - offsetSeconds)).toBeLessThanOrEqual(2);
      } finally {
        sim.setClockOffset(0);
        sim.reset();
      }
    }, 15_000);
  }
});
