// Entry point of ghapp-runner-broker. main() is the only function that sees argv and the
// environment and returns the exit code; the last lines are the only ones that touch `process`.
import { ExitCode, GhappError } from "../core/errors.ts";
import { BrokerError } from "./errors.ts";
import { createLogger, type Logger } from "../core/logger.ts";
import { processIo, type ProcessIo } from "../core/process-io.ts";
import { VERSION } from "../core/version.ts";
import { parseBrokerArgv, type BrokerCommand } from "./cli.ts";
import { mergeBrokerOptions, parseBrokerConfig, type BrokerNeeds } from "./config.ts";

export type BrokerIo = ProcessIo;

const NEEDS: Record<BrokerCommand, BrokerNeeds> = {
  serve: "serve",
  "sync-github": "github",
  "cleanup-stale-runners": "github",
  "init-db": "database",
  "list-runners": "database",
  "export-audit-log": "database",
  "policies-apply": "database",
  "policies-list": "database",
};

export async function main(argv: string[], env: Record<string, string | undefined>, io: BrokerIo = processIo): Promise<number> {
  const defaults = { service: "ghapp-runner-broker", version: VERSION, replica: env.POD_NAME || env.HOSTNAME || undefined };
  let logger: Logger = createLogger("info", defaults);
  try {
    const cli = parseBrokerArgv(argv);
    if (cli.kind === "output") {
      io.stdout(cli.text);
      return 0;
    }
    const config = parseBrokerConfig(mergeBrokerOptions(cli.flags, env), NEEDS[cli.command]);
    logger = createLogger(config.logLevel, { ...defaults, command: cli.command });
    const c = await import("./commands/database.ts");
    switch (cli.command) {
      case "serve":
        return await (await import("./commands/serve.ts")).runServe(config, logger, io);
      case "sync-github":
        return await (await import("./commands/github.ts")).runSyncGithub(config, logger, io.stdout);
      case "cleanup-stale-runners":
        return await (await import("./commands/github.ts")).runCleanup(config, cli.flags, logger, io.stdout);
      case "init-db":
        return await c.runInitDb(config, io.stdout);
      case "list-runners":
        return await c.runListRunners(config, cli.flags, io.stdout);
      case "export-audit-log":
        return await c.runExportAuditLog(config, cli.flags, io.stdout);
      case "policies-apply":
        return await c.runPoliciesApply(config, cli.args[0]!, io.stdout, logger);
      case "policies-list":
        return await c.runPoliciesList(config, cli.flags, io.stdout);
    }
  } catch (e) {
    if (e instanceof GhappError) {
      logger.error(e.message, { exit_code: e.exitCode });
      return e.exitCode;
    }
    if (e instanceof BrokerError) {
      // A CLI command that reached GitHub: the same exit codes as ghapp-token's.
      const code = e.code === "github_unavailable" || e.code === "database_unavailable" ? ExitCode.unavailable : e.code === "github_misconfigured" ? ExitCode.credentials : e.code === "not_found" ? ExitCode.notFound : ExitCode.config;
      logger.error(e.message, { exit_code: code });
      return code;
    }
    logger.error(`unexpected error: ${(e as Error)?.message ?? String(e)}; please report it`, { exit_code: 1 });
    return 1;
  } finally {
    await logger.flush();
  }
}

if (import.meta.main) {
  void main(process.argv.slice(2), process.env).then((code) => process.exit(code));
}
