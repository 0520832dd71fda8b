// Builds the test command's closing line from what the stages recorded:
// JUnit files (bun test, helm-unittest) and checks.txt (one line per non-runner check), and
// conformance.txt (the simulator conformance report, printed as it is).
// Prints "N passed, N failed" alone on its line and exits 1 when anything failed or
// was skipped (CI runs every test; a skipped test hides a gap).
import { readdirSync, readFileSync, existsSync } from "node:fs";
import { join } from "node:path";

const dir = process.argv[2] ?? ".cache/results";
let passed = 0;
let failed = 0;
let skipped = 0;
const lines: string[] = [];


for (const file of readdirSync(dir).filter((f) => f.endsWith(".xml")).sort()) {
  const xml = readFileSync(join(dir, file), "utf8");
  // Count <testcase> elements: runners nest <testsuite> per describe block, so suite totals
  // would count a test once per level.
  let t = 0, f = 0, s = 0;
  for (const [, body = ""] of xml.matchAll(/<testcase\b[^>]*?(?:\/>|>([\s\S]*?)<\/testcase>)/g)) {
    t++;
    if (/<(failure|error)\b/.test(body)) f++;
    else if (/<skipped\b/.test(body)) s++;
  }
  passed += t - f - s;
  failed += f;
  skipped += s;
  lines.push(`  ${file}: ${t - f - s} passed, ${f} failed${s ? `, ${s} skipped` : ""}`);
}

const checks = join(dir, "checks.txt");
if (existsSync(checks)) {
  for (const line of readFileSync(checks, "utf8").split("\n").filter(Boolean)) {
    const [status, ...name] = line.split(" ");
    if (status === "pass") passed++;
    else failed++;
    lines.push(`  ${status === "pass" ? "ok  " : "FAIL"} ${name.join(" ")}`);
  }
}

console.log(lines.join("\n"));
// The simulator conformance check's one-line report (ci/test.sh), just above the closing line.
const conformance = join(dir, "conformance.txt");
if (existsSync(conformance)) console.log(readFileSync(conformance, "utf8").trim());
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ""}`);
process.exit(failed > 0 || skipped > 0 || passed === 0 ? 1 : 0);
