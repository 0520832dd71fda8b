// Preloaded by every `bun test` (bunfig.toml): the simulator's answers are checked against GitHub's
// OpenAPI description in the same run as the tests that produce them (conformance.ts).
//
// - GHAPP_SIM_EXCHANGES_DIR unset (a developer running `bun test tests/e2e/mint.test.ts`): this sets it
//   to a fresh folder under .cache/, so every simulator of the run, in-process or spawned with the
//   test's environment, logs there; after the last test file it checks them, prints the one-line
//   report and fails the run, naming operation, status and first schema error, when anything is off.
//   The folder is removed when all is well and kept (its path printed) when not.
// - GHAPP_SIM_EXCHANGES_DIR set (ci/test.sh): whoever set it checks the folder afterwards
//   (tests/simulator/conformance-cli.ts), once for the whole suite; this adds nothing.
import { afterAll } from "bun:test";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { Conformance, formatFailure, reportLine } from "./conformance.ts";
import { EXCHANGES_DIR_ENV, readExchanges } from "./exchanges.ts";

if (!process.env[EXCHANGES_DIR_ENV]) {
  const dir = join(import.meta.dir, "../../.cache/simulator-exchanges", `bun-test-${process.pid}`);
  rmSync(dir, { recursive: true, force: true });
  process.env[EXCHANGES_DIR_ENV] = dir;

  afterAll(() => {
    const exchanges = readExchanges(dir);
    if (exchanges.length === 0) return; // no simulator ran: nothing to say
    const report = new Conformance().check(exchanges);
    console.log(`\n${reportLine(report)}`);
    if (report.failures.length === 0) {
      rmSync(dir, { recursive: true, force: true });
      return;
    }
    const distinct = [...new Set(report.failures.map(formatFailure))];
    throw new Error(
      `the simulator answered outside GitHub's OpenAPI description (fix tests/simulator/, see docs/maintainers.md); exchanges kept in ${dir}\n` +
        distinct.map((f) => `  ${f}`).join("\n"),
    );
  }, 120_000);
}
