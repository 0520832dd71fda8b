// ghapp-token is built with profile-guided bytecode layout (ci/build.ts, BYTECODE_ORDER): the
// functions a mint and a sidecar run sit together, so a start keeps fewer of the executable's
// pages. A profile from an older build still applies, but every changed function falls out of
// it; this records what today's executable runs and fails when the committed profiles have
// fallen too far behind, with the command that records them again.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { BYTECODE_ORDER } from "../../ci/build.ts";
import { profiledFunctions, recordProfiles } from "../../ci/record-bytecode-order.ts";
import { requireBinary } from "../helpers/generator.ts";
import { startSimulator, type Simulator } from "../simulator/simulator.ts";

/** The share of the functions a start runs that its committed profile places up front. */
const MIN_COVERAGE = 0.8;

let sim: Simulator;
let recorded: { mint: string; refresh: string };
beforeAll(async () => {
  sim = await startSimulator();
  recorded = await recordProfiles(requireBinary(), sim);
});
afterAll(async () => {
  await sim.close();
});

for (const [name, file] of [["mint", BYTECODE_ORDER[0]!], ["refresh", BYTECODE_ORDER[1]!]] as const) {
  test(`the committed ${name} profile covers what a ${name} runs today`, () => {
    const committed = profiledFunctions(readFileSync(file, "utf8"));
    const runs = profiledFunctions(recorded[name]);
    expect(runs.size).toBeGreaterThan(100);
    const covered = [...runs].filter((f) => committed.has(f)).length / runs.size;
    expect(`${(covered * 100).toFixed(0)}% of the ${runs.size} functions a ${name} runs are in ${file.split("/").slice(-2).join("/")}${covered < MIN_COVERAGE ? ": run npm run build:order, then commit the profiles" : ""}`).toBe(
      `${(covered * 100).toFixed(0)}% of the ${runs.size} functions a ${name} runs are in ${file.split("/").slice(-2).join("/")}`,
    );
    expect(covered).toBeGreaterThanOrEqual(MIN_COVERAGE);
  });
}
