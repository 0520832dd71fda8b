// `npm run demo` is the README's first command: ci/demo.ts narrates the real binary against the
// simulator. It runs here twice at once, piped (as in CI or `npm run demo > demo.txt`) and at a
// terminal (through script(1), which gives it a pseudo-terminal), and must go through every step.
// The piped run is a fresh machine's: no Helm on PATH and an empty tools folder (GHAPP_TOOLS_DIR,
// so the shared .tools/ is neither used nor touched), so it builds the pinned Helm itself; with
// Go's build cache warm (ci/tools.sh ran before the tests) that is a link of about 20 s, not a build.
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, join, resolve } from "node:path";
import { requireBinary } from "../helpers/generator.ts";
import { runCommand } from "../helpers/run.ts";

const ROOT = resolve(import.meta.dir, "../..");
const ESC = "\x1b";
const demo = ["bun", "run", join(ROOT, "ci/demo.ts")];
const env = { ...process.env, NO_COLOR: "", TERM: "xterm-256color" };
const freshTools = mkdtempSync(join(tmpdir(), "ghapp-demo-tools-"));
afterAll(() => rmSync(freshTools, { recursive: true, force: true }));
const noHelm = (process.env.PATH ?? "").split(delimiter).filter((dir) => !["helm", "helm3", "helm4"].some((h) => existsSync(join(dir, h))));
// Go stays reachable even when it shares a folder with a Helm: a folder of its own holding a link to it.
const goOnly = join(freshTools, "go-only");
mkdirSync(goOnly);
const go = Bun.which("go");
if (go) symlinkSync(go, join(goOnly, "go"));
const freshEnv = { ...env, PATH: [join(ROOT, "node_modules/.bin"), goOnly, ...noHelm].join(delimiter), GHAPP_TOOLS_DIR: join(freshTools, "tools") };

requireBinary();
const [piped, atTerminal, brokerPiped] = await Promise.all([
  runCommand(demo, { cwd: ROOT, env: freshEnv, timeoutMs: 300_000 }),
  // -e: script exits with the demo's code; -q: no "Script started" lines; the typescript goes to /dev/null.
  runCommand(["script", "-qec", demo.join(" "), "/dev/null"], { cwd: ROOT, env, timeoutMs: 120_000 }),
  // The broker part on its own, as `bun run ci/demo-broker.ts | cat`: nothing strips its output.
  runCommand(["bun", "run", join(ROOT, "ci/demo-broker.ts")], { cwd: ROOT, env, timeoutMs: 60_000 }),
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
  }, 300_000);

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

  test("on a machine without Helm, builds the pinned Helm itself (ci/tools.sh helm3) and shows the chart", () => {
    const out = piped.stdout;
    expect(out).toContain("Helm is not installed: building the pinned Helm into");
    expect(out).toContain("$ bash ci/tools.sh helm3");
    // ci/tools.sh says how long a cold build takes, then what it took.
    expect(out).toMatch(/^ {2}ci\/tools\.sh: building 1 pinned tool from source into \S+: about \d+ minutes?$/m);
    expect(out).toMatch(/^ {4}helm3 +v3\.\d+\.\d+\+k8s \(built in \d+s\)$/m);
    expect(existsSync(join(freshTools, "tools/bin/helm3"))).toBe(true);
    expect(out).not.toContain("this step is skipped");
    expect(out.indexOf("$ helm template")).toBeGreaterThan(out.indexOf("$ bash ci/tools.sh helm3"));
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

describe("the broker part of the demo (ci/demo-broker.ts)", () => {
  test("runs on its own, piped, without ANSI escape codes", () => {
    expect(brokerPiped.stderr).toBe("");
    expect(brokerPiped.code).toBe(0);
    expect(brokerPiped.stdout).toContain("▶ The administrator reads the security events and the audit log");
    expect(brokerPiped.stdout).not.toContain(ESC);
  });

  test("prints the dashboard's address and a one-click sign-in for the caller and the administrator", () => {
    expect(brokerPiped.stdout).toMatch(/^ {2}Dashboard: http:\/\/127\.0\.0\.1:\d+\/ui /m);
    expect(brokerPiped.stdout).toMatch(/^ {4}as the caller: +http:\/\/127\.0\.0\.1:\d+\/ui\/login\?login_hint=repo%3Aacme-org%2Fapi%3Aref%3Arefs%2Fheads%2Fmain$/m);
    expect(brokerPiped.stdout).toMatch(/^ {4}as the administrator: +http:\/\/127\.0\.0\.1:\d+\/ui\/login\?login_hint=repo%3Aacme-org%2Fplatform/m);
  });

  test("prints each command it runs, with tokens only as the variables that hold them", () => {
    const out = brokerPiped.stdout;
    expect(out).toMatch(/^ {4}dist\/ghapp-runner-broker serve$/m);
    expect(out).toMatch(/^\$ CALLER_TOKEN=\$\(curl -s -X POST http:\/\/127\.0\.0\.1:\d+\/_simulator\/oidc\/token /m);
    expect(out).toMatch(/^\$ curl -s -X POST -H "authorization: Bearer \$ADMIN_TOKEN" http:\/\/127\.0\.0\.1:\d+\/api\/v1\/admin\/label-policies -H 'content-type: application\/json' -d '\{/m);
    expect(out).toMatch(/^\$ curl -s -X POST -H "authorization: Bearer \$CALLER_TOKEN" http:\/\/127\.0\.0\.1:\d+\/api\/v1\/runners\/provision -H 'content-type: application\/json' -d /m);
    expect(out).not.toMatch(/eyJ[\w-]{10,}\.[\w-]{10,}\./);
  });

  test("lists the security events and the audit log under headers, both oldest first", () => {
    for (const out of [brokerPiped.stdout, piped.stdout]) {
      const rowsUnder = (header: RegExp) => {
        const lines = out.split("\n");
        const at = lines.findIndex((l) => header.test(l));
        expect(at).toBeGreaterThan(-1);
        const rows: string[] = [];
        for (const line of lines.slice(at + 1)) {
          const m = /^ {2}(\d{4}-\d\d-\d\dT\S+Z) /.exec(line);
          if (!m) break;
          rows.push(m[1]!);
        }
        return rows;
      };
      const events = rowsUnder(/^ {2}AT +SEVERITY +EVENT +IDENTITY +RUNNER +ACTION$/);
      const audit = rowsUnder(/^ {2}AT +ACTOR +ACTION +RESULT +RUNNER$/);
      expect(events.length).toBeGreaterThanOrEqual(1);
      expect(audit.length).toBeGreaterThanOrEqual(3);
      for (const rows of [events, audit]) expect(rows).toEqual([...rows].sort());
    }
  });
});
