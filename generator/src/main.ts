// Entry point. main() is the only function that sees argv and the environment, and returns the
// exit code; the last lines are the only ones that touch `process`.
import { parseCli } from "./cli.ts";
import { parseConfig } from "./config.ts";
import { GhappError } from "./errors.ts";
import { correlationId, createLogger, flushLogger, type Logger } from "./logger.ts";
import { mergeOptions } from "./options.ts";
import { runMint } from "./commands/mint.ts";
import { VERSION } from "./version.ts";

export interface Io {
  stdout: (text: string) => void;
}

export async function main(argv: string[], env: Record<string, string | undefined>, io: Io = { stdout: (t) => process.stdout.write(t) }): Promise<number> {
  const cid = correlationId(env);
  let logger: Logger = createLogger("info", { correlation_id: cid, version: VERSION });
  try {
    const cli = await parseCli(argv);
    if (cli.kind === "output") {
      io.stdout(cli.text);
      return 0;
    }
    const config = parseConfig(mergeOptions(cli.flags, env));
    logger = createLogger(config.logLevel, { correlation_id: cid, version: VERSION, command: cli.command, app_id: config.appId });
    if (cli.flags["private-key"]) {
      logger.warn("the private key was passed as a flag, which every process on the node can read: mount it and use PRIVATE_KEY_FILE");
    }
    return await runMint(config, logger);
  } catch (e) {
    if (e instanceof GhappError) {
      logger.error(e.message, { exit_code: e.exitCode, ...e.details });
      return e.exitCode;
    }
    logger.error(`unexpected error: ${(e as Error)?.message ?? String(e)}; please report it`, { exit_code: 1 });
    return 1;
  } finally {
    await flushLogger(logger);
  }
}

if (import.meta.main) {
  void main(process.argv.slice(2), process.env).then((code) => process.exit(code));
}
