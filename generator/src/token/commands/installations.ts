// `ghapp-token installations`: the App's installations as JSON on stdout (id, account, type,
// repository selection, suspended), for operators choosing OWNER or INSTALLATION_ID.
import type { Config } from "../config.ts";
import { listInstallations } from "../../core/installation.ts";
import type { Logger } from "../../core/logger.ts";
import { createClient, loadKey } from "./mint.ts";
import { explainNotFound } from "../api-url-hint.ts";

export async function runInstallations(config: Config, logger: Logger, stdout: (text: string) => void): Promise<number> {
  const key = loadKey(config);
  try {
    const client = createClient(config, logger);
    const auth = { app: { appId: config.appId, key: key.key } };
    const installations = await listInstallations(client, auth).catch(async (e: unknown) => {
      throw await explainNotFound(e, config.apiUrl, client, auth);
    });
    stdout(`${JSON.stringify(installations.map((i) => ({ id: i.id, account: i.account, type: i.accountType, repository_selection: i.repositorySelection, suspended: i.suspended })), null, 2)}\n`);
    logger.info("installations listed", { count: installations.length });
    return 0;
  } finally {
    key.wipe();
  }
}
