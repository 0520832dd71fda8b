// Checks a folder of recorded simulator exchanges against GitHub's OpenAPI description and prints
// the report in one line, then each distinct failure. Exit 0 when nothing failed, 1 otherwise.
//
// Usage: bun tests/simulator/conformance-cli.ts DIR [--report FILE]
//   DIR     the folder GHAPP_SIM_EXCHANGES_DIR pointed at while the simulators ran
//   FILE    where to write the one-line report too (ci/test.sh: .cache/results/conformance.txt)
import { writeFileSync } from "node:fs";
import { Conformance, formatFailure, reportLine } from "./conformance.ts";
import { readExchanges } from "./exchanges.ts";

const [dir, flag, file] = process.argv.slice(2);
if (!dir || (flag !== undefined && (flag !== "--report" || !file))) {
  console.error("usage: bun tests/simulator/conformance-cli.ts DIR [--report FILE]");
  process.exit(2);
}
const report = new Conformance().check(readExchanges(dir));
const line = reportLine(report);
if (file) writeFileSync(file, line + "\n");
const counts = new Map<string, number>();
for (const f of report.failures) counts.set(formatFailure(f), (counts.get(formatFailure(f)) ?? 0) + 1);
for (const [failure, n] of counts) console.log(`FAIL ${failure}${n > 1 ? ` (${n} exchanges)` : ""}`);
console.log(line);
process.exit(report.failures.length > 0 || report.exchanges + report.deliveries === 0 ? 1 : 0);
