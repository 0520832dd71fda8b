// `ghapp-token revoke`: revokes the token in OUTPUT_PATH (DELETE /installation/token), so it does
// not outlive the workload, e.g. from an Argo exit handler. Exit 0 when revoked, when the token
// was already expired or revoked (GitHub answers 401: nothing to do), or when there is no token
// file; otherwise the documented exit codes. Needs no App credentials: the token authorises itself.
// https://docs.github.com/rest/apps/installations#revoke-an-installation-access-token
// Success is GitHub's 204 from GITHUB_API_URL's own origin and nothing else: a redirect to another
// host is not followed (http-fetch.ts), and any other answer is an error, never "revoked".
import { readFileSync, statSync } from "node:fs";
import type { Config } from "../config.ts";
import { configError, ExitCode, GhappError } from "../../core/errors.ts";
import type { GitHubClient } from "../../core/github-client.ts";
import type { Logger } from "../../core/logger.ts";
import { createClient } from "./mint.ts";
import { isTokenShaped, TOKEN_MAX_LENGTH } from "../../core/token-format.ts";
import { unavailableError } from "../../core/errors.ts";

/** Revokes `token`; true when GitHub revoked it, false when it was already invalid. */
export async function revokeToken(client: GitHubClient, token: string): Promise<boolean> {
  try {
    const res = await client.request("DELETE", "/installation/token", { token });
    if (res.status !== 204) {
      throw unavailableError(`DELETE /installation/token got HTTP ${res.status} rather than GitHub's 204: the token may still be valid; check GITHUB_API_URL and any proxy in between`, { status: res.status });
    }
    return true;
  } catch (e) {
    if (e instanceof GhappError && e.exitCode === ExitCode.credentials && e.details.status === 401) return false;
    throw e;
  }
}

export async function runRevoke(config: Config, logger: Logger): Promise<number> {
  let size: number;
  try {
    const st = statSync(config.outputPath);
    if (!st.isFile()) throw configError("OUTPUT_PATH is not a regular file: point it at the file ghapp-token wrote");
    size = st.size;
  } catch (e) {
    if (e instanceof GhappError) throw e;
    if ((e as NodeJS.ErrnoException).code === "ENOENT") {
      logger.info("no token file at OUTPUT_PATH: nothing to revoke");
      return 0;
    }
    throw configError(`OUTPUT_PATH cannot be read (${(e as NodeJS.ErrnoException).code ?? "error"}): make it readable by this user`);
  }
  if (size > TOKEN_MAX_LENGTH + 2) throw configError("OUTPUT_PATH does not hold an installation token (it is too large): point OUTPUT_PATH at the file ghapp-token wrote");
  let token: string;
  try {
    token = readFileSync(config.outputPath, "utf8").trim();
  } catch (e) {
    throw configError(`OUTPUT_PATH cannot be read (${(e as NodeJS.ErrnoException).code ?? "error"}): make it readable by this user`);
  }
  if (!token) {
    logger.info("the token file is empty: nothing to revoke");
    return 0;
  }
  // Both forms: ghs_ + 36 alphanumerics, and ghs_<appid>_<JWT> (token-format.ts).
  if (!isTokenShaped(token)) throw configError("OUTPUT_PATH does not hold an installation token: point OUTPUT_PATH at the file ghapp-token wrote");
  const revoked = await revokeToken(createClient(config, logger), token);
  logger.info(revoked ? "token revoked" : "token was already expired or revoked: nothing to do", { path: config.outputPath });
  return 0;
}
