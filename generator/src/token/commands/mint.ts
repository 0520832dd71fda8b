// `ghapp-token mint` (also the bare command): credentials in, token file out.
// Order matters: everything that can be checked locally (config, key, output folder) is checked
// before the first request, so bad input fails fast with exit 2 and leaves no partial output.
import type { Config } from "../config.ts";
import { createInstallationToken, type InstallationToken } from "../../core/access-token.ts";
import { GitHubClient, type GitHubClientOptions } from "../../core/github-client.ts";
import { findInstallation } from "../../core/installation.ts";
import type { Logger } from "../../core/logger.ts";
import { loadPrivateKey, loadPrivateKeyFile, type LoadedKey } from "../../core/private-key.ts";
import { checkOutputFolder, writeFileAtomically, writeTokenAtomically } from "../token-file.ts";

export function loadKey(config: Pick<Config, "privateKey" | "privateKeyFile">): LoadedKey {
  return config.privateKeyFile ? loadPrivateKeyFile(config.privateKeyFile) : loadPrivateKey(config.privateKey ?? "");
}

export function createClient(config: Config, logger: Logger, extra: Pick<GitHubClientOptions, "now" | "onResponse"> = {}): GitHubClient {
  return new GitHubClient({ apiUrl: config.apiUrl, timeoutMs: config.requestTimeoutMs, maxRetryWaitMs: config.maxRetryWaitMs, logger, ...extra });
}

/**
 * Signs the app JWT, finds the installation and exchanges it for a token. The key is read
 * afresh on every call (a rotated key file is picked up) and wiped as soon as it is used.
 */
export async function mintInstallationToken(config: Config, client: GitHubClient, logger: Logger): Promise<InstallationToken> {
  const key = loadKey(config);
  try {
    const auth = { app: { appId: config.appId, key: key.key } };
    const started = performance.now();
    const installationId = await findInstallation(client, auth, config);
    logger.debug("installation found", { installation_id: installationId, duration_ms: Math.round(performance.now() - started) });
    const token = await createInstallationToken(client, auth, installationId, config);
    logger.debug("installation token created", { installation_id: installationId, expires_at: token.expiresAt, duration_ms: Math.round(performance.now() - started) });
    return token;
  } finally {
    key.wipe();
  }
}

/** Writes the token file, then the metadata beside it (never the token itself). */
export function writeToken(config: Config, token: InstallationToken): void {
  writeTokenAtomically(config.outputPath, token.token, config.tokenFileMode);
  if (config.metadataPath) {
    const metadata = {
      expires_at: token.expiresAt,
      installation_id: token.installationId,
      app_id: config.appId,
      permissions: token.permissions,
      repository_selection: token.repositorySelection,
      repositories: token.repositories,
      written_at: new Date().toISOString(),
    };
    writeFileAtomically(config.metadataPath, `${JSON.stringify(metadata, null, 2)}\n`, config.tokenFileMode, "METADATA_PATH");
  }
}

export async function runMint(config: Config, logger: Logger): Promise<number> {
  const started = performance.now();
  // Fail before any request when the key is unusable or there is nowhere to write.
  loadKey(config).wipe();
  checkOutputFolder(config.outputPath);
  if (config.metadataPath) checkOutputFolder(config.metadataPath, "METADATA_PATH");

  const client = createClient(config, logger);
  const token = await mintInstallationToken(config, client, logger);
  writeToken(config, token);
  logger.info("token written", {
    path: config.outputPath,
    installation_id: token.installationId,
    expires_at: token.expiresAt,
    permissions: token.permissions,
    repositories: token.repositories ?? "all",
    duration_ms: Math.round(performance.now() - started),
  });
  return 0;
}
