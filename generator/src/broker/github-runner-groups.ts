// The broker's side of GitHub's organisation runner groups: read one group's access settings, and
// (MANAGE_RUNNER_GROUPS) create a group, change its settings and set its repositories. Every call
// takes the organisation login, so that the sync can call it per organisation. Answers are checked
// for shape; GitHub's own messages are never passed on.
// https://docs.github.com/rest/actions/self-hosted-runner-groups (each endpoint needs the App's
// organisation permission "Self-hosted runners": read for GET, read and write otherwise).
import { z } from "zod";
import { GhappError } from "../core/errors.ts";
import type { GitHubClient } from "../core/github-client.ts";
import type { InstallationTokenCache } from "../core/installation-token-cache.ts";
import { BrokerError } from "./errors.ts";
import { mapError } from "./github-runners.ts";

/** A runner group's access settings, as far as tenant isolation needs them. */
export interface RunnerGroupSettings {
  id: number;
  name: string;
  /** "all" (every repository), "selected" (the group's repository list) or "private" (every private repository) */
  visibility: string;
  default: boolean;
  allowsPublicRepositories: boolean;
  restrictedToWorkflows: boolean;
  selectedWorkflows: string[];
}

/** What the broker sets on a group it manages. */
export interface RunnerGroupSpec {
  name: string;
  visibility: "selected";
  selectedRepositoryIds: number[];
  allowsPublicRepositories: false;
  restrictedToWorkflows: boolean;
  selectedWorkflows: string[];
}

const Group = z.object({
  id: z.number().int().positive(),
  name: z.string().max(256),
  visibility: z.string().max(32),
  default: z.boolean().optional(),
  allows_public_repositories: z.boolean(),
  restricted_to_workflows: z.boolean().optional(),
  selected_workflows: z.array(z.string().max(1024)).max(1000).optional(),
});
const GroupList = z.object({ runner_groups: z.array(z.unknown()).max(1000) });
const RepoList = z.object({ repositories: z.array(z.object({ id: z.number().int().positive(), full_name: z.string().max(256) })).max(1000) });

function toGroup(raw: unknown): RunnerGroupSettings {
  const g = Group.parse(raw);
  return {
    id: g.id,
    name: g.name,
    visibility: g.visibility,
    default: g.default ?? false,
    allowsPublicRepositories: g.allows_public_repositories,
    // "This setting will be ignored unless restricted_to_workflows is set to true" (the OpenAPI description).
    restrictedToWorkflows: g.restricted_to_workflows ?? false,
    selectedWorkflows: g.selected_workflows ?? [],
  };
}

export interface RunnerGroupApi {
  /** null when GitHub answers 404 (no such group). */
  getGroup(org: string, id: number): Promise<RunnerGroupSettings | null>;
  /** Every runner group of the organisation (paginated). */
  listGroups(org: string): Promise<RunnerGroupSettings[]>;
  createGroup(org: string, spec: RunnerGroupSpec): Promise<RunnerGroupSettings>;
  /** `name` too: the OpenAPI description requires it in an update. */
  updateGroup(org: string, id: number, spec: Omit<RunnerGroupSpec, "selectedRepositoryIds">): Promise<RunnerGroupSettings>;
  /** The ids of the repositories a `selected` group admits. */
  listGroupRepositories(org: string, id: number): Promise<number[]>;
  setGroupRepositories(org: string, id: number, repositoryIds: number[]): Promise<void>;
  /** The installation's repositories, "owner/name" → id (to turn a policy's repositories into ids). */
  installationRepositories(): Promise<Map<string, number>>;
}

export class GitHubRunnerGroups implements RunnerGroupApi {
  constructor(
    private readonly client: GitHubClient,
    private readonly tokens: InstallationTokenCache,
  ) {}

  private base(org: string): string {
    return `/orgs/${encodeURIComponent(org)}/actions/runner-groups`;
  }

  private async token(): Promise<string> {
    return this.tokens.token().catch((e) => {
      throw mapError(e, "minting an installation token");
    });
  }

  private async call<T>(what: string, method: "GET" | "POST" | "PATCH" | "PUT", path: string, body?: unknown): Promise<T> {
    const token = await this.token();
    try {
      return (await this.client.request<T>(method, path, { token }, body)).data;
    } catch (e) {
      if (e instanceof GhappError && e.details.status === 401) this.tokens.invalidate();
      if (e instanceof GhappError && e.details.status === 404) throw new BrokerError("runner_group_missing", `GitHub answered 404 to ${what}: the runner group was deleted, or the installation cannot see it`);
      if (e instanceof GhappError && e.details.status === 422) throw new BrokerError("github_misconfigured", `GitHub refused to ${what} (422): workflow restrictions need GitHub Enterprise Cloud; remove the policy's workflows, or upgrade the plan`);
      throw mapError(e, what);
    }
  }

  // https://docs.github.com/rest/actions/self-hosted-runner-groups#get-a-self-hosted-runner-group-for-an-organization
  async getGroup(org: string, id: number): Promise<RunnerGroupSettings | null> {
    try {
      return toGroup(await this.call<unknown>("get a runner group", "GET", `${this.base(org)}/${id}`));
    } catch (e) {
      if (e instanceof BrokerError && e.code === "runner_group_missing") return null;
      throw mapError(e, "get a runner group");
    }
  }

  // https://docs.github.com/rest/actions/self-hosted-runner-groups#list-self-hosted-runner-groups-for-an-organization
  async listGroups(org: string): Promise<RunnerGroupSettings[]> {
    const token = await this.token();
    try {
      const raw = await this.client.paginate<unknown>(this.base(org), { token }, (page) => GroupList.parse(page).runner_groups);
      return raw.map(toGroup);
    } catch (e) {
      throw mapError(e, "list runner groups");
    }
  }

  // https://docs.github.com/rest/actions/self-hosted-runner-groups#create-a-self-hosted-runner-group-for-an-organization
  async createGroup(org: string, spec: RunnerGroupSpec): Promise<RunnerGroupSettings> {
    const raw = await this.call<unknown>("create a runner group", "POST", this.base(org), { ...settingsBody(spec), selected_repository_ids: spec.selectedRepositoryIds });
    return answeredGroup(raw, "create a runner group");
  }

  // https://docs.github.com/rest/actions/self-hosted-runner-groups#update-a-self-hosted-runner-group-for-an-organization
  async updateGroup(org: string, id: number, spec: Omit<RunnerGroupSpec, "selectedRepositoryIds">): Promise<RunnerGroupSettings> {
    const raw = await this.call<unknown>("update a runner group", "PATCH", `${this.base(org)}/${id}`, settingsBody(spec));
    return answeredGroup(raw, "update a runner group");
  }

  // https://docs.github.com/rest/actions/self-hosted-runner-groups#list-repository-access-to-a-self-hosted-runner-group-in-an-organization
  async listGroupRepositories(org: string, id: number): Promise<number[]> {
    const token = await this.token();
    try {
      const raw = await this.client.paginate<{ id: number; full_name: string }>(`${this.base(org)}/${id}/repositories`, { token }, (page) => RepoList.parse(page).repositories);
      return raw.map((r) => r.id).sort((a, b) => a - b);
    } catch (e) {
      throw mapError(e, "list a runner group's repositories");
    }
  }

  // https://docs.github.com/rest/actions/self-hosted-runner-groups#set-repository-access-for-a-self-hosted-runner-group-in-an-organization
  async setGroupRepositories(org: string, id: number, repositoryIds: number[]): Promise<void> {
    await this.call<unknown>("set a runner group's repositories", "PUT", `${this.base(org)}/${id}/repositories`, { selected_repository_ids: repositoryIds });
  }

  // https://docs.github.com/rest/apps/installations#list-repositories-accessible-to-the-app-installation
  async installationRepositories(): Promise<Map<string, number>> {
    const token = await this.token();
    try {
      const raw = await this.client.paginate<{ id: number; full_name: string }>("/installation/repositories", { token }, (page) => RepoList.parse(page).repositories);
      return new Map(raw.map((r) => [r.full_name.toLowerCase(), r.id]));
    } catch (e) {
      throw mapError(e, "list the installation's repositories");
    }
  }
}

/** The group settings create and update both send, in GitHub's names. */
function settingsBody(spec: Omit<RunnerGroupSpec, "selectedRepositoryIds">) {
  return {
    name: spec.name,
    visibility: spec.visibility,
    allows_public_repositories: spec.allowsPublicRepositories,
    restricted_to_workflows: spec.restrictedToWorkflows,
    selected_workflows: spec.selectedWorkflows,
  };
}

/** GitHub's answer to a create or update, checked; a malformed one is mapped like a failed call. */
function answeredGroup(raw: unknown, what: string): RunnerGroupSettings {
  try {
    return toGroup(raw);
  } catch (e) {
    throw mapError(e, what);
  }
}
