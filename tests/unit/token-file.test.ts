import { afterAll, expect, test } from "bun:test";
import { mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { checkNotAliased, removeLeftoverTemps, writeTokenAtomically } from "../../generator/src/token/token-file.ts";
import { GhappError } from "../../generator/src/core/errors.ts";
import { tempDir } from "../helpers/generator.ts";

const tmp = tempDir();
afterAll(tmp.cleanup);

test("writes the token alone, without a newline, with the requested mode", () => {
  const path = join(tmp.dir, "token");
  writeTokenAtomically(path, "ghs_first", 0o600);
  expect(readFileSync(path, "utf8")).toBe("ghs_first");
  expect(statSync(path).mode & 0o777).toBe(0o600);
  writeTokenAtomically(join(tmp.dir, "group"), "ghs_x", 0o640);
  expect(statSync(join(tmp.dir, "group")).mode & 0o777).toBe(0o640);
});

test("replaces the file by rename (a new inode), never rewriting it in place", () => {
  const path = join(tmp.dir, "rotate");
  writeTokenAtomically(path, "ghs_one", 0o600);
  const before = statSync(path).ino;
  writeTokenAtomically(path, "ghs_two", 0o600);
  expect(statSync(path).ino).not.toBe(before);
  expect(readFileSync(path, "utf8")).toBe("ghs_two");
  expect(readdirSync(tmp.dir).filter((f) => f.endsWith(".tmp"))).toEqual([]);
});

test("a missing folder is a configuration error and writes nothing", () => {
  const path = join(tmp.dir, "absent", "token");
  try {
    writeTokenAtomically(path, "ghs_x", 0o600);
    throw new Error("expected an error");
  } catch (e) {
    expect((e as GhappError).exitCode).toBe(2);
    expect((e as GhappError).message).toContain("its folder does not exist: mount a volume there");
    expect((e as GhappError).message).not.toContain(path);
  }
});

test("a folder where the token should go is a configuration error that leaves nothing behind", () => {
  // Found before anything is written (it used to surface only when the rename failed).
  const dir = join(tmp.dir, "fail");
  mkdirSync(join(dir, "token", "occupied"), { recursive: true });
  expect(() => writeTokenAtomically(join(dir, "token"), "ghs_new", 0o600)).toThrow(/OUTPUT_PATH is a folder/);
  expect(readdirSync(dir)).toEqual(["token"]);
  expect(statSync(join(dir, "token")).isDirectory()).toBe(true);
});

test("removes only this tool's temporary files that a killed run left, and only old ones", () => {
  const dir = join(tmp.dir, "leftovers");
  mkdirSync(dir);
  const path = join(dir, "token");
  const old = join(dir, ".token.0123456789ab.tmp");
  const fresh = join(dir, ".token.ba9876543210.tmp");
  const other = join(dir, ".token.notours.tmp");
  for (const f of [old, fresh, other]) writeFileSync(f, "ghs_partial");
  const hourAgo = new Date(Date.now() - 3_600_000);
  utimesSync(old, hourAgo, hourAgo);
  utimesSync(other, hourAgo, hourAgo);
  expect(removeLeftoverTemps(path)).toBe(1);
  expect(readdirSync(dir).sort()).toEqual([".token.ba9876543210.tmp", ".token.notours.tmp"]);
});

test("refuses a METADATA_PATH that leads to the token file through a symlinked folder", () => {
  const dir = join(tmp.dir, "alias");
  mkdirSync(join(dir, "real"), { recursive: true });
  symlinkSync(join(dir, "real"), join(dir, "link"));
  expect(() => checkNotAliased(join(dir, "real", "token"), join(dir, "link", "token"))).toThrow(/METADATA_PATH leads to the same file as OUTPUT_PATH/);
  expect(() => checkNotAliased(join(dir, "real", "token"), join(dir, "link", "token.json"))).not.toThrow();
});
