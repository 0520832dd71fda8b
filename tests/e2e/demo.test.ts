// `npm run demo` is the README's first command: ci/demo.ts narrates the real binary against the
// simulator. It runs here twice at once, piped (as in CI or `npm run demo > demo.txt`) and at a
// terminal (through script(1), which gives it a pseudo-terminal), and must go through every step.
import { describe, expect, test } from "bun:test";
import { join, resolve } from "node:path";
import { requireBinary } from "../helpers/generator.ts";
import { runCommand } from "../helpers/run.ts";

const ROOT = resolve(import.meta.dir, "../..");
const ESC = "\x1b";
const demo = ["bun", "run", join(ROOT, "ci/demo.ts")];
const env = { ...process.env, NO_COLOR: "", TERM: "xterm-256color" };

requireBinary();
const [piped, atTerminal] = await Promise.all([
  runCommand(demo, { cwd: ROOT, env, timeoutMs: 90_000 }),
  // -e: script exits with the demo's code; -q: no "Script started" lines; the typescript goes to /dev/null.
  runCommand(["script", "-qec", demo.join(" "), "/dev/null"], { cwd: ROOT, env, timeoutMs: 90_000 }),
]);

describe("npm run demo (ci/demo.ts)", () => {
  test("goes through every step as described and exits 0", () => {
    expect(piped.stderr).toBe("");
    expect(piped.stdout).not.toContain("!! not as described");
    expect(piped.code).toBe(0);
    for (const heading of ["Mint a token", "What GitHub saw", "Refresh", "A wrong key", "Not a key at all", "Several installations", "GitHub down", "What the chart renders"]) {
      expect(piped.stdout).toContain(`▶ ${heading}`);
    }
    expect(piped.stdout).toContain("Done.");
  }, 90_000);

  test("writes no ANSI escape codes when stdout is not a terminal", () => {
    expect(piped.stdout.length).toBeGreaterThan(1000);
    expect(piped.stdout).not.toContain(ESC);
  });

  test("styles its headings at a terminal", () => {
    expect(atTerminal.code).toBe(0);
    expect(atTerminal.stdout).toContain(`${ESC}[1m▶ Mint a token`);
  });

  test("shows each command with its variables and the generator's log lines verbatim as JSON", () => {
    const out = piped.stdout;
    expect(out).toMatch(/^\$ APP_ID=\d+ \\\n {4}PRIVATE_KEY_FILE=\$DEMO\/github-app\/privateKey \\\n {4}GITHUB_API_URL=http:\/\/127\.0\.0\.1:\d+ \\/m);
    expect(out).toMatch(/^ {4}dist\/ghapp-token mint$/m);
    expect(out).toMatch(/^ {4}dist\/ghapp-token refresh$/m);
    // Every line under "stderr (N JSON log lines):" is one JSON object with the logger's fields.
    const blocks = [...out.matchAll(/^ {2}stderr \((\d+) JSON log lines?\):\n((?: {4}.*\n?)+)/gm)];
    expect(blocks.length).toBeGreaterThanOrEqual(6);
    for (const [, count, body] of blocks) {
      const lines = body!.trimEnd().split("\n").slice(0, Number(count));
      expect(lines).toHaveLength(Number(count));
      for (const line of lines) expect(Object.keys(JSON.parse(line.trim()))).toEqual(expect.arrayContaining(["level", "message", "timestamp", "correlation_id"]));
    }
    expect(out).toContain('"message":"token written"');
    expect(out).toMatch(/"exit_code":5,.*"level":"error"/);
  });

  test("shows what the chart renders for one app: its ExternalSecret and which container mounts the key", () => {
    expect(piped.stdout).toContain("$ helm template ghapp-tokens charts/ghapp-tokens --namespace workflows --set 'apps[0].name=rex'");
    expect(piped.stdout).toMatch(/^ {4}kind: ExternalSecret\n {4}metadata:\n {6}name: "?github-app-rex"?$/m);
    // Only the generator mounts the key; the step's own container gets the token file alone.
    expect(piped.stdout).toMatch(/^ {4}initContainer \S+: mounts [^;]*\(the Secret\)[^;]*; gets APP_ID, PRIVATE_KEY_FILE/m);
    expect(piped.stdout).toMatch(/^ {4}main container: mounts (?![^\n]*the Secret)[^\n]*github-token/m);
  });

  test("prints no token, JWT or private key, only masked tokens", () => {
    for (const out of [piped.stdout, atTerminal.stdout]) {
      expect(out).toMatch(/ghs_\*{36}/);
      expect(out).not.toMatch(/ghs_[A-Za-z0-9]{8,}/);
      expect(out).not.toMatch(/eyJ[\w-]{10,}\.[\w-]{10,}\./);
      expect(out).not.toContain("PRIVATE KEY-----");
    }
  });
});
