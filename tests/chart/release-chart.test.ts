// ci/release-chart.sh publishes the charts only when each, as packaged, runs the image the release
// pushed; its dry run is what can be proved without a registry.
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT, tool } from "./render.ts";
import { runCommand } from "../helpers/run.ts";

const releaseChart = (args: string[]) => runCommand(["bash", "ci/release-chart.sh", ...args], { cwd: ROOT });
const version = (JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string }).version;

describe("publishing the charts (ci/release-chart.sh --dry-run)", () => {
  test("packages ghapp-tokens, the sidecar library and the broker at the one version, each running the released image", async () => {
    tool("helm3");
    const r = await releaseChart(["--dry-run", "ghcr.io/ghapp-tokens/ghapp-token"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`packaged ghapp-tokens-${version}.tgz (runs ghcr.io/ghapp-tokens/ghapp-token:${version})`);
    expect(r.stdout).toContain(`packaged ghapp-token-sidecar-${version}.tgz (runs ghcr.io/ghapp-tokens/ghapp-token:${version})`);
    // The broker's chart runs the Dockerfile's second target, pushed beside ghapp-token.
    expect(r.stdout).toContain(`packaged ghapp-runner-broker-${version}.tgz (runs ghcr.io/ghapp-tokens/ghapp-runner-broker:${version})`);
  }, 30_000);

  test("refuses to publish charts that would pull another registry's image than the one released", async () => {
    const r = await releaseChart(["--dry-run", "ghcr.io/a-fork/ghapp-token"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`but this release pushes ghcr.io/a-fork/ghapp-token:${version}`);
  }, 20_000);
});
