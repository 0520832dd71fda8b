// The command line: yargs parses argv (flags, subcommands, --help, --version); environment
// variables are merged in by options.ts. Parsing never exits the process: main() decides.
import { configError } from "../core/errors.ts";
import { COMMANDS, isCommand, OPTIONS, type Command } from "./options.ts";
import { redactString } from "../core/redact.ts";
import { VERSION } from "../core/version.ts";

export type CliResult = { kind: "output"; text: string } | { kind: "run"; command: Command; flags: Record<string, unknown> };

/**
 * An initContainer runs the bare `ghapp-token`, or `ghapp-token mint`, with everything in the
 * environment: nothing for yargs to parse. Loading and running yargs was about a fifth of a mint's
 * start-up (npm run bench), so only an argv with something to parse goes to yargs.
 */
export async function parseArgv(argv: string[]): Promise<CliResult> {
  if (argv.length === 0) return { kind: "run", command: "mint", flags: {} };
  const only = argv[0]!;
  if (argv.length === 1 && isCommand(only)) return { kind: "run", command: only, flags: {} };
  return parseCli(argv);
}

const VALUE_FLAGS = new Set(OPTIONS.map((o) => `--${o.flag}`));

/**
 * `--flag value` → `--flag=value` for our string options. yargs reads a value that starts with
 * dashes as more flags, and a PEM starts with "-----BEGIN": `--private-key "$(cat key.pem)"`
 * would otherwise be torn apart (and its pieces echoed in the error).
 */
function joinFlagValues(argv: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const next = argv[i + 1];
    if (VALUE_FLAGS.has(arg) && next !== undefined && (!next.startsWith("-") || next.startsWith("-----"))) {
      out.push(`${arg}=${next}`);
      i++;
    } else out.push(arg);
  }
  return out;
}

/**
 * yargs names unknown arguments by their text, which for a stray value may be a key or a token
 * (`ghapp-token ghs_…`). Name unknown flags only, and never repeat a value.
 */
function describeUnknown(argv: string[]): string {
  const known = new Set([...VALUE_FLAGS, "--help", "-h", "--version"]);
  const name = (a: string) => a.split("=")[0]!;
  const isFlag = (a: string) => /^--?[a-zA-Z][a-zA-Z0-9-]*$/.test(name(a));
  const flags = argv.filter((a) => isFlag(a) && !known.has(name(a))).map(name);
  const values = argv.filter((a) => !isFlag(a) && !isCommand(a)).length;
  const parts = [
    ...(flags.length ? [`unknown option ${flags.join(", ")}`] : []),
    ...(values ? [`an unexpected argument (not shown: it may be a secret); the commands are ${COMMANDS.join(", ")}`] : []),
  ];
  return parts.length ? parts.join(" and ") : "unexpected arguments";
}

export async function parseCli(rawArgv: string[]): Promise<CliResult> {
  const argv = joinFlagValues(rawArgv);
  const { default: yargs } = await import("yargs");
  let parser = yargs()
    .scriptName("ghapp-token")
    .usage("$0 [command] [options]\n\nGitHub App installation tokens in a file. Every option is also read from the environment variable shown; a flag beats the variable.")
    .command(["mint", "$0"], "mint an installation token into OUTPUT_PATH (the default command; for initContainers)")
    .command("refresh", "mint, then keep OUTPUT_PATH fresh before it expires; serves /healthz and /metrics (for sidecars)")
    .command("revoke", "revoke the token in OUTPUT_PATH (for exit handlers); needs no App credentials")
    .command("installations", "list the App's installations as JSON, to choose OWNER or INSTALLATION_ID")
    .epilogue("Exit codes: 0 token written, 2 configuration or input error, 3 credentials rejected, 4 not found or not accessible, 5 GitHub unavailable.\nDocs: README.md")
    .strict()
    .version(VERSION)
    .help()
    .alias("help", "h")
    .wrap(null)
    .exitProcess(false);
  for (const o of OPTIONS) {
    parser = parser.option(o.flag, {
      type: "string",
      describe: `${o.description} [env ${o.env}]${"default" in o ? ` (default ${o.default})` : ""}`,
    });
  }
  let output = "";
  let failure: Error | undefined;
  const parsed = await parser.parseAsync(argv, {}, (err, _argv, out) => {
    output = out;
    if (err) failure = err;
  });
  if (failure) {
    const message = /^Unknown (argument|command)/.test(failure.message) ? describeUnknown(argv) : redactString(failure.message);
    throw configError(`${message}: see \`ghapp-token --help\``);
  }
  if (output) return { kind: "output", text: output.endsWith("\n") ? output : `${output}\n` };
  const command = (parsed._[0] as string | undefined) ?? "mint";
  if (!isCommand(command)) throw configError(`unknown command "${command}": use one of ${COMMANDS.join(", ")}`);
  return { kind: "run", command, flags: parsed as Record<string, unknown> };
}
