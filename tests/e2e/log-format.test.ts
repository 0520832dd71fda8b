// LOG_FORMAT with the compiled binary: JSON in a pod (stderr a pipe), text for people (asked for,
// or automatic at a terminal), and secrets masked in both, even when a server echoes them back.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { startSimulator, type Simulator } from "../simulator/simulator.ts";
import { BINARY, logLines, requireBinary, runGenerator, tempDir } from "../helpers/generator.ts";
import { runCommand } from "../helpers/run.ts";
import { expectNoSecrets, keyFragments } from "../helpers/secrets.ts";

let sim: Simulator;
let tmp: ReturnType<typeof tempDir>;
let keyFile: string;
let n = 0;

beforeAll(async () => {
  requireBinary();
  sim = await startSimulator();
  tmp = tempDir();
  keyFile = join(tmp.dir, "privateKey");
  writeFileSync(keyFile, sim.app.privateKeyPem, { mode: 0o600 });
});
afterAll(async () => {
  await sim.close();
  tmp.cleanup();
});

function podEnv(extra: Record<string, string> = {}, apiUrl = sim.url) {
  const out = join(tmp.dir, `out-${++n}`);
  mkdirSync(out);
  return { APP_ID: String(sim.app.id), PRIVATE_KEY_FILE: keyFile, GITHUB_API_URL: apiUrl, OUTPUT_PATH: join(out, "token"), INSTALLATION_ID: "1001", ...extra };
}

test("logs one JSON object per line by default when stderr is not a terminal", async () => {
  const r = await runGenerator([], podEnv());
  expect(r.code).toBe(0);
  const lines = logLines(r.stderr);
  expect(lines.map((l) => l.message)).toContain("token written");
  expect(lines.every((l) => typeof l.correlation_id === "string" && typeof l.timestamp === "string")).toBe(true);
});

test("LOG_FORMAT=text writes readable lines and masks the JWT and token a hostile server echoes", async () => {
  let jwtSeen = "";
  const echoToken = "ghs_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789";
  // A "GitHub" that rejects the App and echoes its credentials back in the message.
  const hostile = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch: (req) => {
      jwtSeen = (req.headers.get("authorization") ?? "").replace(/^Bearer /, "");
      return Response.json({ message: `Bad credentials: ${jwtSeen} is not ${echoToken}` }, { status: 401 });
    },
  });
  try {
    const r = await runGenerator([], podEnv({ LOG_FORMAT: "text" }, `http://127.0.0.1:${hostile.port}`));
    expect(r.code).toBe(3);
    expect(jwtSeen.split(".")).toHaveLength(3);
    expect(r.stderr).toMatch(/^\d\d:\d\d:\d\d\.\d{3}Z ERROR GitHub said: "Bad credentials: \[REDACTED\] is not \[REDACTED\]"/m);
    expect(() => logLines(r.stderr)).toThrow();
    expectNoSecrets(r.stderr, [jwtSeen, echoToken, ...keyFragments(sim.app.privateKeyPem)]);
  } finally {
    hostile.stop(true);
  }
});

test("at a terminal the text format is automatic, and LOG_FORMAT=json keeps JSON there", async () => {
  // util-linux `script` runs the binary with a pseudo-terminal as stdin, stdout and stderr.
  const atTerminal = (extra: Record<string, string>) => runCommand(["script", "-qec", BINARY, "/dev/null"], { env: { ...podEnv(extra), PATH: "/usr/bin:/bin" }, timeoutMs: 25_000 });
  const auto = await atTerminal({});
  expect(auto.code).toBe(0);
  expect(auto.stdout).toMatch(/^\d\d:\d\d:\d\d\.\d{3}Z INFO  token written  .*path=/m);
  const json = await atTerminal({ LOG_FORMAT: "json" });
  expect(json.code).toBe(0);
  expect(JSON.parse(json.stdout.trim().split(/\r?\n/).at(-1)!).message).toBe("token written");
});

test("an unknown LOG_FORMAT is a configuration error (exit 2) that lists the formats", async () => {
  const r = await runGenerator([], podEnv({ LOG_FORMAT: "xml" }));
  expect(r.code).toBe(2);
  expect(logLines(r.stderr)[0]!.message).toContain("LOG_FORMAT is not one of json, text, auto");
});
