// docs/security.md promises that each item is "proved by" a named test. A checklist that names a
// test which was renamed or removed proves nothing: every file and every quoted test title it
// names must exist, in bun tests (test("…")) or helm-unittest suites (- it: …).
import { describe, expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";

const ROOT = resolve(import.meta.dir, "../..");
const checklist = readFileSync(join(ROOT, "docs/security.md"), "utf8");

function files(dir: string, match: RegExp): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && match.test(e.name))
    .map((e) => join(e.parentPath, e.name));
}

// Every test title in the project: bun tests under tests/, helm-unittest suites under charts/.
const titles = new Set<string>();
for (const f of files(join(ROOT, "tests"), /\.test\.ts$/)) {
  for (const m of readFileSync(f, "utf8").matchAll(/\b(?:test|describe)\(\s*(["'`])(.+?)\1/g)) titles.add(m[2]!);
}
for (const f of files(join(ROOT, "charts"), /_test\.yaml$/)) {
  for (const m of readFileSync(f, "utf8").matchAll(/^\s*- it: (.+)$/gm)) titles.add(m[1]!.trim().replace(/^["']|["']$/g, ""));
}

const rows = checklist.split("\n").filter((l) => /^\| \d+ \|/.test(l));

describe("the security review checklist", () => {
  test("has its items, each saying where it is enforced and what proves it", () => {
    expect(rows.length).toBeGreaterThanOrEqual(20);
    for (const row of rows) expect(row.split("|").filter((c) => c.trim()).length).toBe(4);
  });

  test("numbers its items once each, in order, so a review can cite an item by its number", () => {
    const numbers = rows.map((r) => Number(/^\| (\d+) \|/.exec(r)![1]));
    expect(numbers).toEqual(numbers.map((_, i) => i + 1));
  });

  test("names only test files and folders that exist", () => {
    const named = [...checklist.matchAll(/`((?:tests|charts|ci|docs|generator)\/[^`*…\s]*)`/g)].map((m) => m[1]!);
    const missing = named.filter((p) => !p.includes("<") && !existsSync(join(ROOT, p)) && !existsSync(join(ROOT, "charts/ghapp-tokens/tests", p)));
    expect(missing).toEqual([]);
  });

  test("quotes only test titles that exist", () => {
    // A title in quotes in the proved-by column; "…" stands for words left out.
    const quoted = rows.flatMap((r) => [...(r.split("|")[4] ?? "").matchAll(/"([^"]+)"/g)].map((m) => m[1]!));
    expect(quoted.length).toBeGreaterThan(15);
    const pattern = (q: string) => new RegExp(`^${q.split("…").map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")).join(".*")}`);
    const unknown = quoted.filter((q) => ![...titles].some((t) => pattern(q).test(t)));
    expect(unknown).toEqual([]);
  });
});
