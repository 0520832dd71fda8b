// ci/npm-install.sh, the first thing `npm run demo` and `npm test` run: npm's warnings that need
// someone's action reach the terminal verbatim, and EBADENGINE warnings of dependencies that
// never run on this Node (everything runs on the Bun in node_modules) become one sentence.
// Offline: a scratch project whose dependencies are local folders, run with this machine's npm.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { tempDir } from "../helpers/generator.ts";
import { runCommand } from "../helpers/run.ts";

const ROOT = resolve(import.meta.dir, "../..");
const tmp = tempDir("ghapp-npm-install-");
const dir = tmp.dir;
let install: { code: number; stdout: string; stderr: string };

/** A local package folder with the given package.json fields. */
function pkg(name: string, fields: Record<string, unknown>) {
  mkdirSync(join(dir, "deps", name), { recursive: true });
  writeFileSync(join(dir, "deps", name, "package.json"), JSON.stringify({ name, version: "1.0.0", ...fields }));
}

beforeAll(async () => {
  mkdirSync(join(dir, "ci"));
  for (const f of ["npm-install.sh", "npm-warnings.mjs"]) copyFileSync(join(ROOT, "ci", f), join(dir, "ci", f));
  pkg("runs-on-bun", { engines: { node: ">=99" } }); // like ky or kubernetes-models
  pkg("also-on-bun", { engines: { node: ">=99" } });
  pkg("has-a-script", { engines: { node: ">=98" }, scripts: { postinstall: "true" } }); // npm runs this on Node
  const deps = Object.fromEntries(["runs-on-bun", "also-on-bun", "has-a-script"].map((n) => [n, `file:./deps/${n}`]));
  writeFileSync(join(dir, "package.json"), JSON.stringify({ name: "scratch", version: "0.0.1", private: true, engines: { node: ">=20" }, dependencies: deps }));
  // An .npmrc key npm does not know: npm warns, and that warning needs the reader's action.
  writeFileSync(join(dir, ".npmrc"), "frobnicate-setting=1\n");
  const env = { ...process.env, npm_config_offline: "true", npm_config_update_notifier: "false" };
  const lock = await runCommand(["npm", "install", "--package-lock-only", "--no-audit", "--no-fund"], { cwd: dir, env, timeoutMs: 60_000 });
  expect(lock.code).toBe(0);
  install = await runCommand(["bash", "ci/npm-install.sh"], { cwd: dir, env, timeoutMs: 60_000 });
}, 120_000);
afterAll(() => tmp.cleanup());

describe("ci/npm-install.sh", () => {
  test("installs, and says in one sentence which dependencies declare a newer Node and why that needs nothing", () => {
    expect(install.code).toBe(0);
    const lines = install.stdout.split("\n").filter((l) => l.startsWith("npm packages:"));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^npm packages: 2 dependencies \(also-on-bun, runs-on-bun\) declare Node >=99, which Node v\d+\.\d+\.\d+ does not satisfy;/);
    expect(lines[0]).toContain("run on the Bun in node_modules");
    expect(readFileSync(join(dir, "node_modules/.ghapp-tokens-lock.sha256"), "utf8").trim()).toMatch(/^[0-9a-f]{64}$/);
  });

  test("shows no EBADENGINE warning for a dependency that never runs on Node", () => {
    expect(install.stderr).not.toContain("runs-on-bun");
    expect(install.stderr).not.toContain("also-on-bun");
  });

  test("still shows, verbatim and once, the warnings that need action: npm's own, and EBADENGINE of a package whose install script runs on Node", () => {
    expect(install.stderr).toContain('npm warn Unknown project config "frobnicate-setting"');
    const block = "npm warn EBADENGINE Unsupported engine {\nnpm warn EBADENGINE   package: 'has-a-script@1.0.0',\nnpm warn EBADENGINE   required: { node: '>=98' },";
    expect(install.stderr).toContain(block);
    expect(install.stderr.split(block)).toHaveLength(2);
  });

  test("runs npm ci once per lock file", async () => {
    const again = await runCommand(["bash", "ci/npm-install.sh"], { cwd: dir, env: process.env, timeoutMs: 30_000 });
    expect(again.code).toBe(0);
    expect(again.stdout.trim()).toBe("npm packages: up to date");
    expect(again.stderr).toBe("");
  });
});
