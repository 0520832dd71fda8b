// The broker's side of GitHub: org self-hosted runners over the shared core's GitHubClient
// (retries, rate-limit waits, clock skew), authenticated with an installation token from the
// InstallationTokenCache. Every answer is checked for shape and bounded before use; GitHub's
// own messages are never passed on. Failures become BrokerErrors the HTTP layer maps to statuses.
// https://docs.github.com/rest/actions/self-hosted-runners
import { z } from "zod";
import { GhappError, ExitCode } from "../core/errors.ts";
import type { GitHubClient } from "../core/github-client.ts";
import type { InstallationTokenCache } from "../core/installation-token-cache.ts";
import { BrokerError, nameNotAvailable } from "./errors.ts";

const GhRunner = z.object({
  id: z.number().int().positive(),
  name: z.string().min(1).max(256),
  status: z.string().max(32),
  busy: z.boolean(),
  ephemeral: z.boolean().optional(),
  runner_group_id: z.number().int().optional(),
  labels: z.array(z.object({ name: z.string().max(256), type: z.string().max(32).optional() })).max(200),
});
export type GitHubRunner = {
  id: number;
  name: string;
  online: boolean;
  busy: boolean;
  ephemeral: boolean;
  runnerGroupId: number | undefined;
  labels: string[];
};

const RunnerList = z.object({ total_count: z.number().optional(), runners: z.array(z.unknown()).max(1000) });
const JitAnswer = z.object({ runner: z.unknown(), encoded_jit_config: z.string().min(1).max(64 * 1024) });
const RegAnswer = z.object({ token: z.string().regex(/^[A-Za-z0-9_.-]{10,2048}$/), expires_at: z.string().max(64) });

function toRunner(raw: unknown): GitHubRunner {
  const r = GhRunner.parse(raw);
  return {
    id: r.id,
    name: r.name,
    online: r.status === "online",
    busy: r.busy,
    ephemeral: r.ephemeral ?? false,
    runnerGroupId: r.runner_group_id,
    labels: r.labels.map((l) => l.name),
  };
}

function shapeError(what: string): BrokerError {
  return new BrokerError("github_unavailable", `GitHub's answer to ${what} did not have the expected shape`);
}

export interface GitHubRunnerApi {
  generateJitConfig(input: { name: string; runnerGroupId: number; labels: string[] }): Promise<{ runner: GitHubRunner; encodedJitConfig: string }>;
  createRegistrationToken(): Promise<{ token: string; expiresAt: string }>;
  listRunners(): Promise<GitHubRunner[]>;
  /** Every runner in one runner group (paginated). */
  listGroupRunners(runnerGroupId: number): Promise<GitHubRunner[]>;
  findRunnerByName(name: string): Promise<GitHubRunner | null>;
  getRunner(id: number): Promise<GitHubRunner | null>;
  /** true when removed, false when it was already gone; BrokerError runner_busy when busy. */
  deleteRunner(id: number): Promise<boolean>;
  /** Whether the App's credentials work (for /ready). */
  check(): Promise<void>;
  /** false when GitHub answers 404 for the runner group (it does not exist, or was deleted). */
  runnerGroupExists(runnerGroupId: number): Promise<boolean>;
}

export class GitHubRunners implements GitHubRunnerApi {
  private readonly base: string;

  constructor(
    private readonly client: GitHubClient,
    private readonly tokens: InstallationTokenCache,
    org: string,
  ) {
    this.base = `/orgs/${encodeURIComponent(org)}/actions`;
  }

  private async call<T>(method: "GET" | "POST" | "DELETE", path: string, body?: unknown): Promise<{ data: T; headers: Headers; status: number }> {
    const token = await this.tokens.token().catch((e) => {
      throw mapError(e, "minting an installation token");
    });
    try {
      return await this.client.request<T>(method, path, { token }, body);
    } catch (e) {
      if (e instanceof GhappError && e.details.status === 401) this.tokens.invalidate();
      throw e;
    }
  }

  async generateJitConfig(input: { name: string; runnerGroupId: number; labels: string[] }) {
    try {
      const res = await this.call<unknown>("POST", `${this.base}/runners/generate-jitconfig`, { name: input.name, runner_group_id: input.runnerGroupId, labels: input.labels, work_folder: "_work" });
      const a = JitAnswer.safeParse(res.data);
      if (!a.success) throw shapeError("generate-jitconfig");
      return { runner: toRunner(a.data.runner), encodedJitConfig: a.data.encoded_jit_config };
    } catch (e) {
      if (e instanceof GhappError && e.details.status === 409) throw nameNotAvailable(input.name);
      if (e instanceof GhappError && e.details.status === 404) throw new BrokerError("github_misconfigured", `GitHub does not know runner group ${input.runnerGroupId}: fix the policy's runner_group_id`);
      throw mapError(e, "generate-jitconfig");
    }
  }

  async createRegistrationToken() {
    try {
      const res = await this.call<unknown>("POST", `${this.base}/runners/registration-token`);
      const a = RegAnswer.safeParse(res.data);
      if (!a.success || !Number.isFinite(Date.parse(a.data.expires_at))) throw shapeError("registration-token");
      return { token: a.data.token, expiresAt: new Date(Date.parse(a.data.expires_at)).toISOString() };
    } catch (e) {
      throw mapError(e, "registration-token");
    }
  }

  listRunners(): Promise<GitHubRunner[]> {
    return this.listAll(`${this.base}/runners`, "list runners");
  }

  async listGroupRunners(runnerGroupId: number): Promise<GitHubRunner[]> {
    const runners = await this.listAll(
      `${this.base}/runner-groups/${runnerGroupId}/runners`,
      "list a runner group's runners",
      () => new BrokerError("runner_group_missing", `GitHub has no runner group ${runnerGroupId} in the organisation (404): it was deleted, or the installation cannot see it; recreate it, or point the policies naming it at another runner_group_id`),
    );
    // The group endpoint may leave runner_group_id out; it is the group asked about.
    return runners.map((r) => ({ ...r, runnerGroupId }));
  }

  private async listAll(path: string, what: string, notFound?: () => BrokerError): Promise<GitHubRunner[]> {
    // The token first: a 404 while minting it (a wrong installation) is not the listed resource's.
    const token = await this.tokens.token().catch((e) => {
      throw mapError(e, "minting an installation token");
    });
    try {
      const raw = await this.client.paginate<unknown>(path, { token }, (page) => {
        const p = RunnerList.safeParse(page);
        if (!p.success) throw shapeError("list runners");
        return p.data.runners;
      });
      if (raw.length > 100_000) throw shapeError(what);
      return raw.map(toRunner);
    } catch (e) {
      if (notFound && e instanceof GhappError && e.details.status === 404) throw notFound();
      throw mapError(e, what);
    }
  }

  async findRunnerByName(name: string): Promise<GitHubRunner | null> {
    try {
      const res = await this.call<unknown>("GET", `${this.base}/runners?name=${encodeURIComponent(name)}&per_page=100`);
      const p = RunnerList.safeParse(res.data);
      if (!p.success) throw shapeError("list runners");
      // GitHub compares runner names case-insensitively (a second "Build-1" beside "build-1" is a 409).
      return p.data.runners.map(toRunner).find((r) => r.name.toLowerCase() === name.toLowerCase()) ?? null;
    } catch (e) {
      throw mapError(e, "list runners by name");
    }
  }

  async getRunner(id: number): Promise<GitHubRunner | null> {
    try {
      const res = await this.call<unknown>("GET", `${this.base}/runners/${id}`);
      return toRunner(res.data);
    } catch (e) {
      if (e instanceof GhappError && e.details.status === 404) return null;
      throw mapError(e, "get runner");
    }
  }

  async deleteRunner(id: number): Promise<boolean> {
    try {
      await this.call<unknown>("DELETE", `${this.base}/runners/${id}`);
      return true;
    } catch (e) {
      if (e instanceof GhappError && e.details.status === 404) return false;
      // GitHub refuses to remove a runner that is running a job with 422.
      if (e instanceof GhappError && e.details.status === 422) throw new BrokerError("runner_busy", "the runner is running a job: remove it after the job ends");
      throw mapError(e, "delete runner");
    }
  }

  // https://docs.github.com/rest/actions/self-hosted-runner-groups#get-a-self-hosted-runner-group-for-an-organization
  async runnerGroupExists(runnerGroupId: number): Promise<boolean> {
    try {
      await this.call<unknown>("GET", `${this.base}/runner-groups/${runnerGroupId}`);
      return true;
    } catch (e) {
      if (e instanceof GhappError && e.details.status === 404) return false;
      throw mapError(e, "get a runner group");
    }
  }

  async check(): Promise<void> {
    await this.tokens.token().catch((e) => {
      throw mapError(e, "minting an installation token");
    });
  }
}

/** GitHub failures as BrokerErrors: unavailable (retry later) or misconfigured (the App). */
export function mapError(e: unknown, what: string): unknown {
  if (e instanceof BrokerError) return e;
  if (e instanceof z.ZodError) return shapeError(what);
  if (e instanceof GhappError) {
    const waitSeconds = typeof e.details.waitSeconds === "number" ? e.details.waitSeconds : undefined;
    if (e.exitCode === ExitCode.unavailable) return new BrokerError("github_unavailable", `GitHub is unavailable for ${what}: retry later`, waitSeconds ? { retryAfterSeconds: waitSeconds } : {});
    if (e.exitCode === ExitCode.credentials) return new BrokerError("github_misconfigured", `GitHub refused the App's credentials or permissions for ${what}: the App needs the organisation permission "Self-hosted runners: read and write"`);
    return new BrokerError("github_misconfigured", `GitHub refused ${what} (HTTP ${String(e.details.status ?? "?")}): check GITHUB_ORG, the installation and the policy's runner group`);
  }
  return e;
}
