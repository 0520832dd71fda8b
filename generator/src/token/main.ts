// Entry point. main() is the only function that sees argv and the environment, and returns the
// exit code; the last lines are the only ones that touch `process`.
import { parseArgv } from "./cli.ts";
import { checkEnvironment, parseConfig } from "./config.ts";
import { parseBrokeredConfig, wantsBroker } from "./broker-mode.ts";
import { GhappError } from "../core/errors.ts";
import { correlationId, createLogger, type Logger } from "../core/logger.ts";
import { checkBrokerNames, mergeOptions } from "./options.ts";
import { runMint } from "./commands/mint.ts";
import { processIo, type ProcessIo } from "../core/process-io.ts";
import { VERSION } from "../core/version.ts";

export type Io = ProcessIo;

export async function main(argv: string[], env: Record<string, string | undefined>, io: Io = processIo): Promise<number> {
  const cid = correlationId(env);
  // The logger is created once, from the parsed configuration; an error before that gets one with
  // the defaults (an explicit LOG_FORMAT is honoured, anything else is auto). Creating a winston
  // logger costs a mint about a millisecond (npm run bench), so a mint that works creates one.
  let logger: Logger | undefined;
  const earlyLogger = () => {
    const format = env.LOG_FORMAT === "json" || env.LOG_FORMAT === "text" ? env.LOG_FORMAT : "auto";
    return createLogger("info", { correlation_id: cid, version: VERSION }, { format });
  };
  try {
    const cli = await parseArgv(argv);
    if (cli.kind === "output") {
      io.stdout(cli.text);
      return 0;
    }
    checkEnvironment(env);
    checkBrokerNames(cli.command, cli.flags, env);
    const options = mergeOptions(cli.flags, env);
    // mint and refresh run brokered when a broker setting is given (broker-mode.ts, issue 21).
    const config = (cli.command === "mint" || cli.command === "refresh") && wantsBroker(options) ? parseBrokeredConfig(options) : parseConfig(options, cli.command === "revoke" ? "token-file" : "app");
    logger = createLogger(config.logLevel, { correlation_id: cid, version: VERSION, command: cli.command, ...(config.appId ? { app_id: config.appId } : {}) }, { format: config.logFormat });
    if (cli.flags["private-key"]) {
      logger.warn("the private key was passed as a flag, which every process on the node can read: mount it and use PRIVATE_KEY_FILE");
    }
    switch (cli.command) {
      // The other commands are loaded on demand: mint, an initContainer's whole life, starts
      // faster and smaller without the sidecar's HTTP server and prom-client (npm run bench).
      case "refresh":
        return await (await import("./commands/refresh.ts")).runRefresh(config, logger, { onSignal: io.onSignal });
      case "revoke":
        return await (await import("./commands/revoke.ts")).runRevoke(config, logger);
      case "installations":
        return await (await import("./commands/installations.ts")).runInstallations(config, logger, io.stdout);
      default:
        return await runMint(config, logger, { onSignal: io.onSignal });
    }
  } catch (e) {
    logger ??= earlyLogger();
    if (e instanceof GhappError) {
      logger.error(e.message, { exit_code: e.exitCode, ...e.details });
      return e.exitCode;
    }
    logger.error(`unexpected error: ${(e as Error)?.message ?? String(e)}; please report it`, { exit_code: 1 });
    return 1;
  } finally {
    if (logger) await logger.flush();
  }
}

if (import.meta.main) {
  void main(process.argv.slice(2), process.env).then((code) => process.exit(code));
}
