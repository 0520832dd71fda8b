// The command line: yargs parses argv (flags, subcommands, --help, --version); environment
// variables are merged in by options.ts. Parsing never exits the process: main() decides.
import yargs from "yargs";
import { configError } from "./errors.ts";
import { OPTIONS } from "./options.ts";
import { VERSION } from "./version.ts";

export const COMMANDS = ["mint", "refresh", "revoke", "installations"] as const;
export type Command = (typeof COMMANDS)[number];

export type CliResult = { kind: "output"; text: string } | { kind: "run"; command: Command; flags: Record<string, unknown> };

export async function parseCli(argv: string[]): Promise<CliResult> {
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
  if (failure) throw configError(`${failure.message}: see \`ghapp-token --help\``);
  if (output) return { kind: "output", text: output.endsWith("\n") ? output : `${output}\n` };
  const command = (parsed._[0] as string | undefined) ?? "mint";
  if (!(COMMANDS as readonly string[]).includes(command)) throw configError(`unknown command "${command}": use one of ${COMMANDS.join(", ")}`);
  return { kind: "run", command: command as Command, flags: parsed as Record<string, unknown> };
}
