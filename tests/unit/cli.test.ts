// The command line: what reaches the commands for each shape of argv. An initContainer passes no
// argv (or just "mint"); those skip yargs, and must mean exactly what yargs would make of them.
import { describe, expect, test } from "bun:test";
import { parseArgv, parseCli } from "../../generator/src/token/cli.ts";
import { GhappError } from "../../generator/src/core/errors.ts";
import { BROKER_NAMES, checkBrokerNames, OPTIONS } from "../../generator/src/token/options.ts";
import { BROKER_OPTIONS, type BrokerOptionSpec } from "../../generator/src/broker/config.ts";
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

describe("help and mistakes at a terminal", () => {
  const error = async (argv: string[]) => (await parseArgv(argv).catch((e: unknown) => e)) as GhappError;

  test("a mistyped command suggests the right one, without repeating what was typed", async () => {
    for (const [typed, meant] of [["mnit", "mint"], ["refesh", "refresh"], ["revok", "revoke"], ["instalations", "installations"]] as const) {
      const e = await error([typed]);
      expect(e.exitCode).toBe(2);
      expect(e.message).toContain(`did you mean ${meant}?`);
      expect(e.message.replace(meant, "")).not.toContain(typed);
    }
    expect((await error(["ghs_0123456789abcdefghijABCDEFGHIJ012345"])).message).not.toContain("did you mean");
  });

  test("each command's help lists only that command's options", async () => {
    const help = async (argv: string[]) => {
      const r = await parseArgv(argv);
      return r.kind === "output" ? r.text : "";
    };
    const revoke = await help(["revoke", "--help"]);
    expect(revoke).toContain("--output-path");
    expect(revoke).toContain("--github-api-url");
    for (const foreign of ["--app-id", "--private-key", "--permissions", "--listen-addr"]) expect(revoke).not.toContain(foreign);
    const refresh = await help(["refresh", "--help"]);
    for (const own of ["--listen-addr", "--refresh-interval", "--revoke-on-exit", "--app-id"]) expect(refresh).toContain(own);
    const installations = await help(["installations", "--help"]);
    for (const foreign of ["--output-path", "--listen-addr", "--permissions"]) expect(installations).not.toContain(foreign);
    const mint = await help(["--help"]);
    expect(mint).not.toContain("--listen-addr");
  });

  test("a mistyped flag suggests the command's own flag it is closest to", async () => {
    for (const [argv, meant] of [[["--appid", "1"], "--app-id"], [["mint", "--private-keyfile", "/k"], "--private-key-file"], [["refresh", "--listen-adr", ":8080"], "--listen-addr"], [["revoke", "--outputpath", "/t"], "--output-path"]] as const) {
      const e = await error([...argv]);
      expect(e.exitCode).toBe(2);
      expect(e.message).toContain(`(did you mean ${meant}?)`);
    }
    // Nothing close: no guess.
    expect((await error(["--frobnicate-everything"])).message).not.toContain("did you mean");
  });

  test("a flag of another command is refused, naming the command", async () => {
    expect((await error(["revoke", "--app-id", "1"])).message).toContain("--app-id is not an option of revoke");
  });

  test("the exit-code line includes 1 and points at a URL, not a file the image lacks", async () => {
    const r = await parseArgv(["--help"]);
    const text = r.kind === "output" ? r.text : "";
    const line = text.split("\n").find((l) => l.startsWith("Exit codes:"))!;
    for (const code of ["0 ", "1 a bug", "2 ", "3 ", "4 ", "5 "]) expect(line).toContain(code);
    expect(line).toContain("https://github.com/ghapp-tokens/ghapp-tokens#exit-codes");
    expect(text).not.toContain("README.md");
  });
});

describe("ghapp-runner-broker's names", () => {
  test("every name the broker gives a setting ghapp-token shares is known, with the name ghapp-token wants", () => {
    const ours = new Map(OPTIONS.map((o) => [o.flag, o.env] as const));
    // The broker's org is ghapp-token's owner; every other shared setting has the same flag.
    const flagOf = (brokerFlag: string) => (brokerFlag === "org" ? "owner" : brokerFlag);
    const expected = (BROKER_OPTIONS as readonly BrokerOptionSpec[])
      .filter((b) => ours.has(flagOf(b.flag) as never))
      .flatMap((b) => [b.env, ...(b.aliases ?? [])].map((env) => ({ env, flag: flagOf(b.flag) })))
      .filter(({ env, flag }) => ours.get(flag as never) !== env);
    const byEnv = (a: { env: string }, b: { env: string }) => a.env.localeCompare(b.env);
    expect(BROKER_NAMES.map((n) => ({ env: n.env, flag: n.flag as string })).sort(byEnv)).toEqual(expected.sort(byEnv));
  });

  test("a broker name set without ghapp-token's own is exit 2 naming both, never the value; with its own set it is left alone", () => {
    const error = (() => {
      try {
        checkBrokerNames("mint", {}, { GITHUB_APP_ID: "424242" });
      } catch (e) {
        return e as GhappError;
      }
    })();
    expect(error?.exitCode).toBe(2);
    expect(error?.message).toBe("GITHUB_APP_ID is set, which is ghapp-runner-broker's name for this setting; ghapp-token reads APP_ID (or --app-id): rename GITHUB_APP_ID to APP_ID");
    expect(() => checkBrokerNames("mint", {}, { GITHUB_APP_ID: "1", APP_ID: "2" })).not.toThrow();
    expect(() => checkBrokerNames("mint", { "app-id": "2" }, { GITHUB_APP_ID: "1" })).not.toThrow();
    // revoke takes no App credentials: nothing to rename.
    expect(() => checkBrokerNames("revoke", {}, { GITHUB_APP_ID: "1" })).not.toThrow();
  });
});
