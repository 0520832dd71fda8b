// `ghapp-token mint` (also the bare command): credentials in, token file out.
// Order matters: everything that can be checked locally (config, key, output folder) is checked
// before the first request, so bad input fails fast with exit 2 and leaves no partial output.
import type { Config } from "../config.ts";
import { isBrokered, type BrokeredConfig } from "../broker-mode.ts";
import { createInstallationToken, type InstallationToken } from "../../core/access-token.ts";
import { GitHubClient, type GitHubClientOptions } from "../../core/github-client.ts";
import { checkInstallationAccount, findInstallation } from "../../core/installation.ts";
import { explainNotFound } from "../api-url-hint.ts";
import type { Logger } from "../../core/logger.ts";
import { loadPrivateKey, loadPrivateKeyFile, type LoadedKey } from "../../core/private-key.ts";
import { checkNotAliased, checkOutputFolder, removeLeftoverTemps, writeFileAtomically, writeTokenAtomically } from "../token-file.ts";

export function loadKey(config: Pick<Config, "privateKey" | "privateKeyFile">): LoadedKey {
  return config.privateKeyFile ? loadPrivateKeyFile(config.privateKeyFile) : loadPrivateKey(config.privateKey ?? "");
}

export function createClient(config: Config, logger: Logger, extra: Pick<GitHubClientOptions, "now" | "onResponse"> = {}): GitHubClient {
  return new GitHubClient({ apiUrl: config.apiUrl, timeoutMs: config.requestTimeoutMs, maxRetryWaitMs: config.maxRetryWaitMs, logger, ...extra });
}

/**
 * Signs the app JWT, finds the installation and exchanges it for a token. The key is read
 * afresh on every call (a rotated key file is picked up) unless the caller just loaded it
 * (preflight), and wiped as soon as it is used either way.
 */
export async function mintInstallationToken(
  config: Config,
  client: GitHubClient,
  logger: Logger,
  key: LoadedKey = loadKey(config),
  opts: { checkAccount?: boolean } = {},
): Promise<InstallationToken> {
  const auth = { app: { appId: config.appId, key: key.key } };
  try {
    const started = performance.now();
    const installationId = await findInstallation(client, auth, config);
    // An INSTALLATION_ID given with an owner is checked once (refresh skips it for the one it found).
    if (config.installationId !== undefined && config.owner && opts.checkAccount !== false) {
      await checkInstallationAccount(client, auth, installationId, config.owner, config.ownerVariable ?? "OWNER");
    }
    logger.debug("installation found", { installation_id: installationId, duration_ms: Math.round(performance.now() - started) });
    const token = await createInstallationToken(client, auth, installationId, config);
    logger.debug("installation token created", { installation_id: installationId, expires_at: token.expiresAt, duration_ms: Math.round(performance.now() - started) });
    return token;
  } catch (e) {
    throw await explainNotFound(e, config.apiUrl, client, auth);
  } finally {
    key.wipe();
  }
}

/**
 * Everything checked before the first request: the key parses, the output folders exist and are
 * writable, the two files are distinct after resolving symlinks, and temporary files a killed
 * run left behind are removed. Returns the loaded key, which the caller uses or wipes.
 */
export function preflight(config: Config, logger: Logger): LoadedKey {
  const key = loadKey(config);
  try {
    checkOutputs(config, logger);
  } catch (e) {
    key.wipe();
    throw e;
  }
  return key;
}

/** The output half of preflight, shared with brokered mode (which has no key). */
export function checkOutputs(config: Config, logger: Logger): void {
  checkOutputFolder(config.outputPath, "OUTPUT_PATH", config.outputPathIsDefault === true);
  if (config.metadataPath) {
    checkOutputFolder(config.metadataPath, "METADATA_PATH");
    checkNotAliased(config.outputPath, config.metadataPath);
  }
  const removed = removeLeftoverTemps(config.outputPath) + (config.metadataPath ? removeLeftoverTemps(config.metadataPath) : 0);
  if (removed) logger.warn("removed temporary files an interrupted run left beside the token", { count: removed });
}

/**
 * Brokered mode (broker-mode.ts): the projected token and the outputs are checked before the first
 * request, and each call exchanges the projected token at the broker. brokered.ts is loaded only
 * here, so a key-based mint loads none of it.
 */
export async function brokeredMinter(config: BrokeredConfig, logger: Logger) {
  const { BrokerClient, brokeredPreflight } = await import("../brokered.ts");
  brokeredPreflight(config);
  checkOutputs(config, logger);
  return new BrokerClient(config, logger);
}

/** What the log says about a token: the same fields, with the same values, as the metadata file. */
export function tokenSummary(token: InstallationToken): Record<string, unknown> {
  return {
    installation_id: token.installationId,
    expires_at: token.expiresAt,
    permissions: token.permissions,
    repository_selection: token.repositorySelection,
    repositories: token.repositories,
  };
}

/** Writes the token file, then the metadata beside it (never the token itself). */
export function writeToken(config: Config, token: InstallationToken): void {
  writeTokenAtomically(config.outputPath, token.token, config.tokenFileMode);
  if (config.metadataPath) {
    // Brokered mode has no App ID; it names the broker's host and the account instead.
    const source = isBrokered(config) ? { owner: (token as InstallationToken & { owner?: string }).owner, broker: new URL(config.broker.url).host } : { app_id: config.appId };
    const metadata = { ...tokenSummary(token), ...source, written_at: new Date().toISOString() };
    writeFileAtomically(config.metadataPath, `${JSON.stringify(metadata, null, 2)}\n`, config.tokenFileMode, "METADATA_PATH");
  }
}

/** Key mode's one mint: the key read by preflight signs this mint's JWT. */
function keyMinter(config: Config, logger: Logger): () => Promise<InstallationToken> {
  const key = preflight(config, logger);
  const client = createClient(config, logger);
  return () => mintInstallationToken(config, client, logger, key);
}

/** 128 + the signal's number, as a shell reports a process ended by it. */
const SIGNAL_EXIT: Record<string, number> = { SIGINT: 130, SIGTERM: 143 };

export async function runMint(config: Config, logger: Logger, deps: { onSignal?: (handler: (signal: string) => void) => void } = {}): Promise<number> {
  const started = performance.now();
  // Fail before any request when the key is unusable or there is nowhere to write; the key read
  // there signs this mint's JWT (read once: a mint is over in milliseconds).
  const mintOnce = isBrokered(config) ? await brokeredMinter(config, logger).then((b) => () => b.exchange()) : keyMinter(config, logger);

  // SIGTERM/SIGINT (a pod deleted mid-mint) stop it before anything is written. Files are written
  // synchronously, so a handler never runs halfway through a write: no temporary file survives.
  let stoppedBy: string | undefined;
  let settled = false;
  const stopped = new Promise<number>((resolve) =>
    deps.onSignal?.((signal) => {
      if (settled) return; // the token is written (or the mint failed): nothing left to stop
      stoppedBy = signal;
      logger.warn(`stopped by ${signal} before the token was written; nothing was written`);
      resolve(SIGNAL_EXIT[signal] ?? 143);
    }),
  );
  const minted = mintOnce().then((token) => {
    if (stoppedBy) return SIGNAL_EXIT[stoppedBy] ?? 143;
    writeToken(config, token);
    logger.info("token written", { path: config.outputPath, ...tokenSummary(token), duration_ms: Math.round(performance.now() - started) });
    return 0;
  });
  void minted.then(
    () => (settled = true),
    () => (settled = true), // and a failure after a signal has nobody left to report to
  );
  return Promise.race([minted, stopped]);
}
