// One version (ci/version.sh): package.json's version is the image tag, the charts' appVersion
// (and version), the sidecar library's default tag and the example's dependency. A release is
// refused when any copy, or the git tag, disagrees; these tests make a disagreement fail here first.
import { afterAll, describe, expect, test } from "bun:test";
import { cpSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "../helpers/generator.ts";
import { runCommand } from "../helpers/run.ts";
import { parseYaml, ROOT, tool } from "./render.ts";

const pkgVersion = (root = ROOT) => (JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { version: string }).version;

const version = (args: string[], root = ROOT) => runCommand(["bash", join(root, "ci/version.sh"), ...args], { cwd: root });

const copies: Array<() => void> = [];
/** A copy of what ci/version.sh reads and writes, to change without touching the repository. */
function copyOfRepo(): string {
  const t = tempDir("ghapp-version-");
  copies.push(t.cleanup);
  for (const f of ["package.json", "package-lock.json", "ci/version.sh", "ci/env.sh"]) cpSync(join(ROOT, f), join(t.dir, f));
  cpSync(join(ROOT, "charts"), join(t.dir, "charts"), { recursive: true });
  symlinkSync(join(ROOT, ".tools"), join(t.dir, ".tools"));
  return t.dir;
}
function edit(file: string, from: RegExp, to: string) {
  const text = readFileSync(file, "utf8");
  if (!from.test(text)) throw new Error(`${from} not in ${file}`);
  writeFileSync(file, text.replace(from, to));
}
afterAll(() => copies.forEach((c) => c()));

describe("one version for image, charts and package", () => {
  test("ci/version.sh prints package.json's version", async () => {
    const r = await version([]);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe(pkgVersion());
  });

  test("every copy in the repository agrees with package.json", async () => {
    const r = await version(["--check"]);
    expect(r.stdout + r.stderr).not.toContain("MISMATCH");
    expect(r.code).toBe(0);
  });

  test("a chart appVersion or library tag that disagrees fails the check, naming each copy", async () => {
    const root = copyOfRepo();
    edit(join(root, "charts/ghapp-tokens/Chart.yaml"), /^appVersion: .*$/m, 'appVersion: "9.9.9"');
    edit(join(root, "charts/ghapp-token-sidecar/values.yaml"), /^ {4}tag: ".*"$/m, '    tag: "9.9.8"');
    edit(join(root, "charts/ghapp-runner-broker/Chart.yaml"), /^appVersion: .*$/m, 'appVersion: "9.9.7"');
    const r = await version(["--check"], root);
    expect(r.code).toBe(1);
    const mismatches = r.stdout.split("\n").filter((l) => l.startsWith("MISMATCH"));
    expect(mismatches).toEqual([
      `MISMATCH charts/ghapp-tokens/Chart.yaml appVersion: 9.9.9, package.json says ${pkgVersion()}`,
      `MISMATCH charts/ghapp-token-sidecar/values.yaml githubApp.image.tag: 9.9.8, package.json says ${pkgVersion()}`,
      `MISMATCH charts/ghapp-runner-broker/Chart.yaml appVersion: 9.9.7, package.json says ${pkgVersion()}`,
    ]);
    expect(r.stderr).toContain("bash ci/version.sh --set X.Y.Z");
  });

  test("a release tag must be v<version>", async () => {
    const v = pkgVersion();
    expect((await version(["--check", "--tag", `v${v}`])).code).toBe(0);
    expect((await version(["--check", "--tag", `refs/tags/v${v}`])).code).toBe(0);
    const wrong = await version(["--check", "--tag", "v99.0.0"]);
    expect(wrong.code).toBe(1);
    expect(wrong.stdout).toContain(`MISMATCH git tag v99.0.0: the release of package.json's version ${v} is tagged v${v}`);
    expect((await version(["--check", "--tag", v])).code).toBe(1);
  });

  test("--set bumps every copy, so the charts render the new image tag and the check passes", async () => {
    tool("helm3");
    const root = copyOfRepo();
    const r = await version(["--set", "2.3.4-rc.1"], root);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(pkgVersion(root)).toBe("2.3.4-rc.1");
    expect((await version(["--check", "--tag", "v2.3.4-rc.1"], root)).code).toBe(0);

    const render = async (chart: string, sets: string[] = []) => {
      const r = await runCommand([tool("helm3"), "template", "x", join(root, chart), ...sets.flatMap((s) => ["--set", s])]);
      expect(r.code).toBe(0);
      return JSON.stringify(parseYaml(r.stdout));
    };
    expect(await render("charts/ghapp-tokens")).toContain('"ghcr.io/ghapp-tokens/ghapp-token:2.3.4-rc.1"');
    expect(await render("charts/ghapp-token-sidecar-example")).toContain('"ghcr.io/ghapp-tokens/ghapp-token:2.3.4-rc.1"');
    // The broker's chart: its own image at the new version, and the ghapp-tokens chart it depends on re-vendored.
    const broker = await render("charts/ghapp-runner-broker", ["github.org=acme-org", "oidc.issuer=https://issuer.example.com"]);
    expect(broker).toContain('"ghcr.io/ghapp-tokens/ghapp-runner-broker:2.3.4-rc.1"');
    expect(broker).toContain('"helm.sh/chart":"credentials-2.3.4-rc.1"'); // ghapp-tokens, under its alias
  }, 30_000);

  test("--set refuses what an OCI tag cannot carry", async () => {
    const root = copyOfRepo();
    const r = await version(["--set", "1.0.0+build.5"], root);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("not X.Y.Z or X.Y.Z-pre");
    expect(pkgVersion(root)).toBe(pkgVersion());
  });
});
