// `ghapp-token revoke`: revokes the token in OUTPUT_PATH (DELETE /installation/token), so it does
// not outlive the workload, e.g. from an Argo exit handler. Exit 0 when revoked, when the token
// was already expired or revoked (GitHub answers 401: nothing to do), or when there is no token
// file; otherwise the documented exit codes. Needs no App credentials: the token authorises itself.
// https://docs.github.com/rest/apps/installations#revoke-an-installation-access-token
import { existsSync, readFileSync } from "node:fs";
import type { Config } from "../config.ts";
import { configError, ExitCode, GhappError } from "../../core/errors.ts";
import type { GitHubClient } from "../../core/github-client.ts";
import type { Logger } from "../../core/logger.ts";
import { createClient } from "./mint.ts";

/** Revokes `token`; true when GitHub revoked it, false when it was already invalid. */
export async function revokeToken(client: GitHubClient, token: string): Promise<boolean> {
  try {
    await client.request("DELETE", "/installation/token", { token });
    return true;
  } catch (e) {
    if (e instanceof GhappError && e.exitCode === ExitCode.credentials && e.details.status === 401) return false;
    throw e;
  }
}

export async function runRevoke(config: Config, logger: Logger): Promise<number> {
  if (!existsSync(config.outputPath)) {
    logger.info("no token file: nothing to revoke", { path: config.outputPath });
    return 0;
  }
  const token = readFileSync(config.outputPath, "utf8").trim();
  if (!token) {
    logger.info("the token file is empty: nothing to revoke", { path: config.outputPath });
    return 0;
  }
  if (!/^gh[su]_[A-Za-z0-9]+$/.test(token)) throw configError(`${config.outputPath} does not hold an installation token: point OUTPUT_PATH at the file ghapp-token wrote`);
  const revoked = await revokeToken(createClient(config, logger), token);
  logger.info(revoked ? "token revoked" : "token was already expired or revoked: nothing to do", { path: config.outputPath });
  return 0;
}
