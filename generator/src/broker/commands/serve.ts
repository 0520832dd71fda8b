// `serve`: the API and the background sync until SIGTERM/SIGINT, then a graceful stop (requests
// in flight finish, the sync lease is released so another replica takes over at once).
import { configError } from "../../core/errors.ts";
import type { Logger } from "../../core/logger.ts";
import { connectGitHub, createService, openDatabase } from "../broker.ts";
import type { BrokerConfig } from "../config.ts";
import { readPolicyDocument } from "../policy-file.ts";

export interface ServeIo {
  onSignal: (handler: (signal: string) => void) => void;
}

export async function runServe(config: BrokerConfig, logger: Logger, io: ServeIo): Promise<number> {
  // Read everything that can be wrong before opening anything: a bad file fails with exit 2.
  const document = config.policyFile ? readPolicyDocument(config.policyFile) : { labelPolicies: [], trustPolicies: [] };
  const policies = document.labelPolicies;
  const parts = await openDatabase(config);
  for (const p of policies) await parts.policies.put("policy-file", p);
  if (policies.length) logger.info("policies applied from POLICY_FILE", { count: policies.length });
  for (const p of document.trustPolicies) await parts.trustPolicies.put("policy-file", p);
  if (document.trustPolicies.length) logger.info("trust policies applied from POLICY_FILE", { count: document.trustPolicies.length });
  const gh = connectGitHub(config, parts, logger);
  const svc = createService(config, parts, gh, logger);
  svc.verifier.discover().catch(() => logger.warn("OIDC discovery failed at start; it is retried on the first request", { issuer: config.oidc.issuer }));

  let server: ReturnType<typeof Bun.serve>;
  try {
    server = Bun.serve({ hostname: config.listen.hostname, port: config.listen.port, fetch: svc.app.fetch, maxRequestBodySize: 1024 * 1024 });
  } catch {
    await parts.storage.close();
    throw configError(`LISTEN_ADDR ${config.listen.hostname}:${config.listen.port} cannot be listened on (in use, or not an address of this host): choose another port or address`);
  }
  logger.info("listening", { address: `${server.hostname}:${server.port}`, port: server.port, database: parts.storage.kind, org: config.org, issuer: config.oidc.issuer });
  svc.loop.start();
  const flush = setInterval(() => parts.journal.flush().catch(() => undefined), Math.min(60_000, config.syncIntervalMs));

  const signal = await new Promise<string>((resolve) => io.onSignal(resolve));
  logger.info("stopping", { signal });
  clearInterval(flush);
  await server.stop();
  await svc.loop.stop();
  await parts.journal.flush().catch(() => undefined);
  await parts.storage.close();
  return 0;
}
