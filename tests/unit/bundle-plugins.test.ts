// ci/bundle-plugins.ts folds jsonwebtoken's runtime-version checks at build time. What it folds
// must be what jsonwebtoken computes in this Bun (the one the executable embeds), and the point
// of folding is that semver is no longer bundled: both are checked on a real build.
import { expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { foldRuntimeVersionChecks } from "../../ci/bundle-plugins.ts";

const ROOT = resolve(import.meta.dir, "../..");
const CHECKS = ["psSupported", "asymmetricKeyDetailsSupported", "rsaPssKeyDetailsSupported"];
// A string of semver's own source (its internal/constants.js), as a marker of semver in a bundle.
const SEMVER_MARKER = "SEMVER_SPEC_VERSION";

async function bundle(plugins: Bun.BunPlugin[]): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), "ghapp-plugins-"));
  try {
    const entry = join(dir, "entry.cjs");
    writeFileSync(entry, `module.exports = [${CHECKS.map((c) => `require(${JSON.stringify(join(ROOT, "node_modules/jsonwebtoken/lib", `${c}.js`))})`).join(", ")}];\n`);
    const result = await Bun.build({ entrypoints: [entry], outdir: join(dir, "out"), target: "bun", format: "cjs", plugins });
    expect(result.success).toBe(true);
    return readFileSync(result.outputs[0]!.path, "utf8");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test("the folded checks are jsonwebtoken's own answers in this runtime, and semver is left out", async () => {
  const own = CHECKS.map((c) => require(join(ROOT, "node_modules/jsonwebtoken/lib", `${c}.js`)) as boolean);
  const folded = await bundle([foldRuntimeVersionChecks]);
  const dir = mkdtempSync(join(tmpdir(), "ghapp-plugins-run-"));
  try {
    writeFileSync(join(dir, "folded.cjs"), folded);
    expect(require(join(dir, "folded.cjs"))).toEqual(own);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  expect(folded).not.toContain(SEMVER_MARKER);
  // The control: without the plugin the same entry bundles semver.
  expect(await bundle([])).toContain(SEMVER_MARKER);
});
