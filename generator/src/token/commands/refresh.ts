// `ghapp-token refresh`: the sidecar. Mints at start (exiting with mint's codes when the first
// token cannot be had for a configuration, credentials or not-found reason), then keeps the file
// fresh: at 80% of the token's lifetime or every REFRESH_INTERVAL, never later than a safety
// margin before expiry (refresh-schedule.ts). When GitHub fails it keeps the old token in place
// while it is valid, retries with back-off and recovers on its own; it never deletes or empties
// the file. The key file is re-read at every refresh, so a key rotated by External Secrets and the
// kubelet is used without a restart. SIGTERM/SIGINT stop it within 2 s (revoking first with
// REVOKE_ON_EXIT=true).
//
// Time is GitHub's: the schedule and /healthz compare GitHub's expires_at with GitHub's clock
// (client.githubNow(), learnt from every answer's Date header), never with this node's alone.
// Liveness (/livez) watches the loop itself, so an outage makes the pod unready, never dead.
import type { Config } from "../config.ts";
import { configError, ExitCode, GhappError } from "../../core/errors.ts";
import { startHealthServer } from "../health-server.ts";
import type { Logger } from "../../core/logger.ts";
import { Metrics, type RefreshReason } from "../metrics.ts";
import { clampDelay, isLoopAlive, nextRefreshDelayMs, refreshBudgetMs, retryDelayMs, type LoopState } from "../refresh-schedule.ts";
import { brokeredMinter, createClient, mintInstallationToken, preflight, tokenSummary, writeToken } from "./mint.ts";
import { isBrokered } from "../broker-mode.ts";
import { revokeToken } from "./revoke.ts";

const REASONS: Record<number, RefreshReason> = {
  [ExitCode.config]: "config",
  [ExitCode.credentials]: "credentials",
  [ExitCode.notFound]: "not_found",
  [ExitCode.unavailable]: "unavailable",
};
const STOP_BUDGET_MS = 1500;

export interface RefreshDeps {
  /** registers the shutdown handler for SIGTERM and SIGINT */
  onSignal: (handler: (signal: string) => void) => void;
  now?: () => number;
  /** a monotonic clock, for liveness (injectable for tests) */
  monotonic?: () => number;
}

/** Starts the health server, turning a port in use or not allowed into a configuration error. */
function serve(config: Config, sources: Parameters<typeof startHealthServer>[1]) {
  try {
    return startHealthServer(config.listen, sources);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? "";
    const why = code === "EADDRINUSE" ? "the port is already in use" : code === "EACCES" ? "this user may not listen there (ports below 1024 need privileges)" : `it cannot be listened on (${code || "error"})`;
    throw configError(`LISTEN_ADDR: ${why}: pick a free port, e.g. 0.0.0.0:8080, and match the pod's probes to it`);
  }
}

export async function runRefresh(config: Config, logger: Logger, deps: RefreshDeps): Promise<number> {
  const now = deps.now ?? Date.now;
  const monotonic = deps.monotonic ?? (() => performance.now());
  // Brokered mode exchanges the projected token, re-read at every refresh (the kubelet rotates it),
  // and schedules from the broker's expires_at in the broker's clock; key mode reads the key afresh
  // at every refresh (a rotated key is picked up).
  const broker = isBrokered(config) ? await brokeredMinter(config, logger) : undefined;
  if (!broker) preflight(config, logger).wipe();
  else if (config.revokeOnExit) logger.warn("REVOKE_ON_EXIT in brokered mode revokes a token the broker may have handed to other pods of the same scope too (its cache): they lose it until their next refresh; both charts leave it off in brokered mode");

  const metrics = new Metrics();
  // The client reports each answered attempt; metrics never see bodies or headers with secrets.
  const client = createClient(config, logger, {
    now,
    onResponse: (r) => {
      metrics.requestDuration.observe({ method: r.method, status: String(r.status) }, r.durationMs / 1000);
      if (r.rateLimitRemaining !== undefined) metrics.rateLimitRemaining.set(r.rateLimitRemaining);
    },
  });

  let current: { token: string; expiresAt: number; issuedAt: number } | undefined;
  let installationId = config.installationId;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let failures = 0;
  let stopping = false;
  let finish: (code: number) => void = () => {};
  const done = new Promise<number>((resolve) => (finish = resolve));

  const githubNow = () => (broker ? broker.now() : client.githubNow());
  let loop: LoopState = { phase: "starting" };
  const budget = refreshBudgetMs(config.requestTimeoutMs, config.maxRetryWaitMs);
  // Before the first request: a port in use is exit 2 before any token is minted.
  const server = serve(config, {
    state: () => ({ outputPath: config.outputPath, ...(current ? { expiresAt: current.expiresAt } : {}) }),
    alive: () => isLoopAlive(loop, monotonic(), budget),
    metrics,
    now: githubNow,
  });
  logger.info("serving /livez, /healthz, /readyz and /metrics", { listen: `${config.listen.hostname}:${server.port}` });

  const schedule = (delayMs: number, why: string) => {
    if (stopping) return;
    clearTimeout(timer);
    const delay = clampDelay(delayMs);
    loop = { phase: "scheduled", dueAt: monotonic() + delay };
    timer = setTimeout(() => void refresh(), delay);
    logger.debug("next refresh scheduled", { in_ms: Math.round(delay), why });
  };

  async function refresh(): Promise<void> {
    const started = performance.now();
    loop = { phase: "running", since: monotonic() };
    try {
      const token = broker ? await broker.exchange() : await mintInstallationToken({ ...config, ...(installationId !== undefined ? { installationId } : {}) }, client, logger, undefined, { checkAccount: installationId === undefined });
      if (stopping) return;
      writeToken(config, token);
      installationId = token.installationId;
      const expiresAt = Date.parse(token.expiresAt);
      current = { token: token.token, expiresAt, issuedAt: githubNow() };
      failures = 0;
      metrics.refreshes.inc({ result: "success", reason: "ok" });
      metrics.expiry.set(Math.floor(expiresAt / 1000));
      metrics.lastSuccess.set(Math.floor(now() / 1000));
      logger.info("token written", { path: config.outputPath, ...tokenSummary(token), duration_ms: Math.round(performance.now() - started), ...(Math.abs(broker?.skew ?? client.skew) > 60_000 ? { skewSeconds: Math.round((broker?.skew ?? client.skew) / 1000) } : {}) });
      schedule(nextRefreshDelayMs(current, githubNow(), config.refreshIntervalMs), config.refreshIntervalMs ? "REFRESH_INTERVAL" : "80% of the token's lifetime");
    } catch (e) {
      if (stopping) return;
      const error = e instanceof GhappError ? e : new GhappError(ExitCode.unavailable, `unexpected error: ${(e as Error).message}`);
      const reason = REASONS[error.exitCode] ?? "error";
      metrics.refreshes.inc({ result: "failure", reason });
      if (!current && error.exitCode !== ExitCode.unavailable) {
        // No token yet and retrying cannot help: fail like mint, so the pod shows the cause.
        logger.error(error.message, { exit_code: error.exitCode, ...error.details });
        await stop("first token failed", error.exitCode);
        return;
      }
      // A discovered installation may have been replaced (the App reinstalled): look again next time.
      if (error.exitCode === ExitCode.notFound && config.installationId === undefined) installationId = undefined;
      failures++;
      const valid = current && current.expiresAt > githubNow();
      const delay = retryDelayMs(failures);
      logger[valid ? "warn" : "error"](`refresh failed; ${valid ? "keeping the current token, which is still valid" : current ? "the token on disk has expired" : "no token yet"}; retrying`, {
        reason,
        cause: error.message,
        failures,
        retry_in_ms: Math.round(delay),
        ...(current ? { expires_at: new Date(current.expiresAt).toISOString() } : {}),
      });
      schedule(delay, "retry after failure");
    }
  }

  async function stop(why: string, code: number): Promise<void> {
    if (stopping) return;
    stopping = true;
    loop = { phase: "stopping" };
    clearTimeout(timer);
    if (config.revokeOnExit && current && current.expiresAt > githubNow()) {
      const revoked = await Promise.race([revokeToken(client, current.token).then((r) => (r ? "revoked" : "already invalid")), Bun.sleep(STOP_BUDGET_MS).then(() => "timed out")]).catch((e: Error) => `failed: ${e.message}`);
      logger.info(`revoking the token on exit: ${revoked}`);
    }
    server.stop(true);
    logger.info("stopped", { why });
    finish(code);
  }

  deps.onSignal((signal) => void stop(`received ${signal}`, 0));
  void refresh();
  return done;
}
