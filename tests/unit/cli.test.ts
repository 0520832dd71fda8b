// The command line: what reaches the commands for each shape of argv. An initContainer passes no
// argv (or just "mint"); those skip yargs, and must mean exactly what yargs would make of them.
import { describe, expect, test } from "bun:test";
import { parseArgv, parseCli } from "../../generator/src/token/cli.ts";
import { GhappError } from "../../generator/src/core/errors.ts";
import { generateAppKey } from "../simulator/simulator.ts";

describe("parseArgv", () => {
  test("the bare command and a lone command word mean what yargs makes of them", async () => {
    for (const argv of [[], ["mint"], ["refresh"], ["revoke"], ["installations"]]) {
      const fast = await parseArgv(argv);
      const full = await parseCli(argv);
      expect(fast.kind).toBe("run");
      expect(full.kind).toBe("run");
      if (fast.kind === "run" && full.kind === "run") {
        expect(fast.command).toBe(full.command);
        // yargs adds its own bookkeeping keys ("_", "$0"); no option is set either way.
        expect(Object.keys(full.flags).filter((k) => k !== "_" && k !== "$0")).toEqual([]);
        expect(fast.flags).toEqual({});
      }
    }
  });

  test("anything else goes through yargs: flags, --help, --version, unknown words", async () => {
    const flags = await parseArgv(["mint", "--owner", "acme"]);
    expect(flags.kind === "run" && flags.flags.owner).toBe("acme");
    const help = await parseArgv(["--help"]);
    expect(help.kind === "output" && help.text).toContain("Exit codes:");
    const version = await parseArgv(["--version"]);
    expect(version.kind === "output" && version.text.trim()).toBe("development");
    const unknown = await parseArgv(["frobnicate"]).catch((e: unknown) => e);
    expect(unknown).toBeInstanceOf(GhappError);
    expect((unknown as GhappError).exitCode).toBe(2);
  });

  test("takes a PEM after --private-key as its value, not as more flags", async () => {
    const pem = generateAppKey().privateKeyPem;
    const r = await parseArgv(["--private-key", pem]);
    expect(r.kind === "run" && r.flags["private-key"]).toBe(pem);
  });
});
