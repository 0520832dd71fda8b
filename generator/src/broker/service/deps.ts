// What the runner service and the sync both work with: the database, GitHub, the policies, the
// baseline of pre-existing runners, metrics and the log. Injected, so tests can swap any of them.
import type { Logger } from "../../core/logger.ts";
import type { GitHubRunnerApi } from "../github-runners.ts";
import type { BrokerMetrics } from "../metrics.ts";
import type { Storage } from "../storage/storage.ts";
import type { Baseline } from "./baseline.ts";
import type { PolicyService } from "./policies.ts";

export interface BrokerDeps {
  storage: Storage;
  github: GitHubRunnerApi;
  policies: PolicyService;
  baseline: Baseline;
  metrics: BrokerMetrics;
  logger: Logger;
}
