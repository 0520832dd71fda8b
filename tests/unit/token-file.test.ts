import { afterAll, expect, test } from "bun:test";
import { mkdirSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { writeTokenAtomically } from "../../generator/src/token/token-file.ts";
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
    expect((e as GhappError).message).toContain("does not exist: mount a volume there");
  }
});

test("a failed write leaves no temporary file behind", () => {
  // The rename fails because a non-empty folder stands where the token should go; this fails
  // the same way for root (CI) and for UID 65532.
  const dir = join(tmp.dir, "fail");
  mkdirSync(join(dir, "token", "occupied"), { recursive: true });
  expect(() => writeTokenAtomically(join(dir, "token"), "ghs_new", 0o600)).toThrow(/cannot write OUTPUT_PATH/);
  expect(readdirSync(dir)).toEqual(["token"]);
  expect(statSync(join(dir, "token")).isDirectory()).toBe(true);
});
