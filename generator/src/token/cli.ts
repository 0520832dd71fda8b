// The command line: yargs parses argv (flags, subcommands, --help, --version); environment
// variables are merged in by options.ts. Parsing never exits the process: main() decides.
import { configError } from "../core/errors.ts";
import { COMMANDS, isCommand, OPTIONS, type Command } from "./options.ts";
import { redactString } from "../core/redact.ts";
import { closest } from "../core/suggest.ts";
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

/** Where the exit codes are documented: the image holds no README. */
export const EXIT_CODES_URL = "https://github.com/ghapp-tokens/ghapp-tokens#exit-codes";
const EXIT_CODES =
  `Exit codes: 0 token written (or nothing to do), 1 a bug in ghapp-token (please report it), 2 configuration or input error, ` +
  `3 credentials rejected, 4 not found or not accessible, 5 GitHub unavailable or its answer unusable; 130/143 stopped by SIGINT/SIGTERM. See ${EXIT_CODES_URL}`;

const DESCRIPTIONS: Record<Command, string> = {
  mint: "mint an installation token into OUTPUT_PATH (the default command; for initContainers)",
  refresh: "mint, then keep OUTPUT_PATH fresh before it expires; serves /livez, /healthz, /readyz and /metrics (for sidecars)",
  revoke: "revoke the token in OUTPUT_PATH (for exit handlers); needs no App credentials",
  installations: "list the App's installations as JSON, to choose OWNER or INSTALLATION_ID",
};

/**
 * yargs names unknown arguments by their text, which for a stray value may be a key or a token
 * (`ghapp-token ghs_…`). Name unknown flags only, and never repeat a value; a word close to a
 * command is answered with the command ("did you mean mint?"), not with the word.
 */
function describeUnknown(argv: string[], command: Command): string {
  const own = new Set(OPTIONS.filter((o) => (o.commands as readonly string[]).includes(command)).map((o) => `--${o.flag}`));
  const known = new Set([...own, "--help", "-h", "--version"]);
  const name = (a: string) => a.split("=")[0]!;
  const isFlag = (a: string) => /^--?[a-zA-Z][a-zA-Z0-9-]*$/.test(name(a));
  const flags = argv.filter((a) => isFlag(a) && !known.has(name(a))).map(name);
  const foreign = flags.filter((f) => VALUE_FLAGS.has(f));
  const unknown = flags.filter((f) => !VALUE_FLAGS.has(f));
  const words = argv.filter((a) => !isFlag(a) && !isCommand(a));
  const guess = words.length && !argv.some(isCommand) ? closest(words[0]!, COMMANDS) : undefined;
  // A mistyped flag gets the command's own flag it is closest to, as a mistyped command does.
  const ownFlags = [...own, "--help", "--version"];
  const described = unknown.map((f) => {
    const near = closest(f, ownFlags);
    return near ? `${f} (did you mean ${near}?)` : f;
  });
  const parts = [
    ...(unknown.length ? [`unknown option ${described.join(", ")}`] : []),
    ...(foreign.length ? [`${foreign.join(", ")} ${foreign.length > 1 ? "are not options" : "is not an option"} of ${command}`] : []),
    ...(guess ? [`unknown command: did you mean ${guess}?`] : words.length ? [`an unexpected argument (not shown: it may be a secret); the commands are ${COMMANDS.join(", ")}`] : []),
  ];
  return parts.length ? parts.join(" and ") : "unexpected arguments";
}

export async function parseCli(rawArgv: string[]): Promise<CliResult> {
  const argv = joinFlagValues(rawArgv);
  const { default: yargs } = await import("yargs");
  // Each command declares only its own options, so its --help lists only those and a flag of
  // another command is refused (strict).
  const withOptions = <T>(y: ReturnType<typeof yargs>, command: Command) => {
    let out = y;
    for (const o of OPTIONS) {
      if (!(o.commands as readonly string[]).includes(command)) continue;
      out = out.option(o.flag, { type: "string", describe: `${o.description} [env ${o.env}]${"default" in o ? ` (default ${o.default})` : ""}` });
    }
    return out as unknown as T;
  };
  let parser = yargs()
    .scriptName("ghapp-token")
    .usage("$0 [command] [options]\n\nGitHub App installation tokens in a file. Every option is also read from the environment variable shown; a flag beats the variable. `ghapp-token COMMAND --help` lists a command's options.")
    .epilogue(EXIT_CODES)
    .strict()
    .version(VERSION)
    .help()
    .alias("help", "h")
    .wrap(null)
    .exitProcess(false);
  for (const command of COMMANDS) {
    parser = parser.command(command === "mint" ? ["mint", "$0"] : command, DESCRIPTIONS[command], (y) => withOptions(y, command));
  }
  let output = "";
  let failure: Error | undefined;
  const parsed = await parser.parseAsync(argv, {}, (err, _argv, out) => {
    output = out;
    if (err) failure = err;
  });
  const command = (parsed._[0] as string | undefined) ?? "mint";
  if (failure) {
    const message = /^Unknown (argument|command)/.test(failure.message) ? describeUnknown(argv, isCommand(command) ? command : "mint") : redactString(failure.message);
    throw configError(`${message}: see \`ghapp-token --help\``);
  }
  if (output) return { kind: "output", text: output.endsWith("\n") ? output : `${output}\n` };
  if (!isCommand(command)) {
    const guess = closest(command, COMMANDS);
    throw configError(`unknown command${guess ? `: did you mean ${guess}?` : ""}; the commands are ${COMMANDS.join(", ")}`);
  }
  return { kind: "run", command, flags: parsed as Record<string, unknown> };
}
