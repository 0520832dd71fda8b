// "The next release" for the rolling-upgrade test: the broker compiled from a copy of this source
// with one more migration, numbered after the newest one the source has, exactly as a release
// that changes the schema would add it (a new file, listed in migrations/index.ts). It is built
// with ci/build.ts's own configuration, so it runs the real migration runner (Storage.migrate at
// start) against the real database; nothing in the shipped broker knows about it.
//
// The migration is written to make a bad runner visible:
// - it is not idempotent (ALTER TABLE … ADD COLUMN fails the second time), so applying it twice
//   fails a replica's start;
// - on PostgreSQL it sleeps 2 s inside its transaction, so two replicas starting together would
//   both be inside it at once unless the runner serialises them;
// - it records who applied it in upgrade_probe, one row per application;
// - it holds ACCESS EXCLUSIVE on runners while it sleeps, which the old replicas still serving
//   must wait out (lock_timeout is 10 s) rather than fail.
import { cpSync, mkdtempSync, appendFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { BUN_TARGETS, build } from "../../ci/build.ts";
import { MIGRATIONS } from "../../generator/src/broker/storage/migrations/index.ts";

const ROOT = resolve(import.meta.dir, "../..");

export interface UpgradedBroker {
  /** the executable */
  path: string;
  /** the version of the added migration */
  version: number;
  remove(): void;
}

export async function buildUpgradedBroker(): Promise<UpgradedBroker> {
  const version = Math.max(...MIGRATIONS.map((m) => m.version)) + 1;
  const dir = mkdtempSync(join(tmpdir(), "broker-upgrade-"));
  try {
    cpSync(join(ROOT, "generator"), join(dir, "generator"), { recursive: true });
    symlinkSync(join(ROOT, "node_modules"), join(dir, "node_modules"));
    const migrations = join(dir, "generator/src/broker/storage/migrations");
    const file = `${String(version).padStart(4, "0")}-upgrade-test.ts`;
    writeFileSync(
      join(migrations, file),
      `import type { Migration } from "./index.ts";
const common = "ALTER TABLE runners ADD COLUMN upgrade_note TEXT; CREATE TABLE upgrade_probe (applied_by TEXT NOT NULL);";
export const upgradeTestMigration: Migration = {
  version: ${version},
  name: "upgrade test",
  sqlite: common + " INSERT INTO upgrade_probe (applied_by) VALUES ('sqlite');",
  postgres: common + " SELECT pg_sleep(2); INSERT INTO upgrade_probe (applied_by) VALUES (pg_backend_pid()::text);",
};
`,
    );
    // Listed the way a release lists a new migration; appended so that it does not depend on how
    // index.ts spells its list.
    appendFileSync(join(migrations, "index.ts"), `\nimport { upgradeTestMigration } from "./${file}";\n(MIGRATIONS as Migration[]).push(upgradeTestMigration);\n`);
    const path = join(dir, "ghapp-runner-broker");
    const platform = process.arch === "arm64" ? "linux/arm64" : "linux/amd64";
    await build({ outfile: path, entry: "ghapp-runner-broker", entryPoint: join(dir, "generator/src/broker/main.ts"), target: BUN_TARGETS[platform]! });
    return { path, version, remove: () => rmSync(dir, { recursive: true, force: true }) };
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
}
