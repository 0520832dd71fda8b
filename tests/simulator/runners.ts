// Self-hosted runners in the GitHub simulator: the organization endpoints the runner broker calls, and
// control endpoints that act as the runner software would (config.sh, run.sh, a job, going offline).
//
// GitHub endpoints, under the simulator's API prefix ("" or /api/v3), authenticated with an installation
// token whose installation is on {org} and holds organization_self_hosted_runners (read for GET, write
// otherwise); else 403 "Resource not accessible by integration" with x-accepted-github-permissions:
//   POST   /orgs/{org}/actions/runners/generate-jitconfig  {name, runner_group_id, labels[1..100], work_folder?}
//            201 {runner, encoded_jit_config} | 404 unknown runner group | 409 name taken | 422 bad body
//   POST   /orgs/{org}/actions/runners/registration-token  201 {token, expires_at} (valid 1 h, reusable)
//   GET    /orgs/{org}/actions/runners?per_page=&page=&name=  {total_count, runners} with Link paging
//   GET    /orgs/{org}/actions/runner-groups/{group_id}/runners?per_page=&page=  same shape, that group only
//   GET    /orgs/{org}/actions/runners/{runner_id}          Runner | 404
//   DELETE /orgs/{org}/actions/runners/{runner_id}          204 | 404 | 422 while the runner runs a job
//   GET    /orgs/{org}/actions/runner-groups[/{group_id}]   the runner groups (not in CONTRACTS.md; GitHub has them),
//            with their access settings: visibility all|selected|private, allows_public_repositories,
//            restricted_to_workflows, selected_workflows, selected_repositories_url (only when selected)
//   POST   /orgs/{org}/actions/runner-groups   {name, visibility? (default "all"), selected_repository_ids?,
//            allows_public_repositories? (default false), restricted_to_workflows?, selected_workflows?}  201 group
//   PATCH  /orgs/{org}/actions/runner-groups/{group_id}  {name (required by the description), the settings}  200 group
//   GET    /orgs/{org}/actions/runner-groups/{group_id}/repositories  {total_count, repositories}
//   PUT    /orgs/{org}/actions/runner-groups/{group_id}/repositories  {selected_repository_ids}  204
//            https://docs.github.com/rest/actions/self-hosted-runner-groups (each: 422 for a body the
//            description refuses, or a selected workflow without a ref: "a ref, tag, or long SHA is required")
// Runner = {id, name, os, status: "online"|"offline", busy, ephemeral, runner_group_id,
//           labels: [{id, name, type: "read-only"|"custom"}], version} (config.sh adds self-hosted, Linux, X64 as
//           read-only; a JIT runner has exactly the labels of its generate-jitconfig call).
// Runner groups: {id: 1, name: "Default"} and {id: 2, name: "brokered"} unless the `runnerGroups` option says;
// Default is visible to all repositories, the others to selected ones unless the option says (RunnerGroup).
// Each organization has its own groups (ids repeat across organizations, as at GitHub): every one starts
// with the same groups; `groups` are the first organization's.
// In process, `updateGroup(id, patch, org?)` is someone changing a group in an organization's settings
// (the first organization's by default).
//
// Control endpoints (no authentication; answers are {message} on error):
//   POST /_simulator/runners/register {registration_token, name, labels[], ephemeral?, runner_group_id?, status?}
//          201 Runner: config.sh then run.sh (status "online"; status "offline" for config.sh alone).
//          404 unknown or expired token (what config.sh gets), 404 unknown group, 409 name taken, 400 bad body.
//   POST /_simulator/runners/connect {encoded_jit_config}  200 Runner, now online (run.sh --jitconfig);
//          409 when that config was used already (single use), 404 when it was never issued or its runner is gone.
//   POST /_simulator/runners/{id}/job         busy (409 when offline or busy already)
//   POST /_simulator/runners/{id}/job/finish  idle; an ephemeral runner (every JIT runner) is removed
//   POST /_simulator/runners/{id}/offline | /online   status only
//   DELETE /_simulator/runners/{id}           GitHub removes the runner itself, busy or not (someone in the UI,
//          or GitHub's own clean-up of runners that never connected or stayed offline)
//   POST /_simulator/runners/seed {name, labels[], runner_group_id, status?, busy?, ephemeral?, org?}
//          201 Runner: a runner that was there before the broker (org: the first organization by default)
//   GET  /_simulator/runners    every runner the simulated GitHub holds, all organizations
//   DELETE /_simulator/runner-groups/{id}  someone removes the group in the org's settings: 204, its runners
//          move to the Default group (id 1), which cannot be removed (409); GitHub then answers 404 for it
//          ("Self-hosted runners are automatically returned to the default group when their group is removed",
//          https://docs.github.com/actions/how-tos/manage-runners/self-hosted-runners/manage-access)
//   PUT  /_simulator/installations/{id}/permissions {permissions}  replace an installation's permissions
//          (tokens issued afterwards carry them), e.g. to drop organization_self_hosted_runners
//
// Where GitHub's behaviour is more precise than CONTRACTS.md, this follows GitHub
// (https://docs.github.com/rest/actions/self-hosted-runners and the OpenAPI description in
// @octokit/openapi-types; messages as GitHub writes them, seen in actions-runner-controller and others):
// - 409 "Already exists - A runner with the name {name} already exists."; names compare case-insensitively.
// - 422 on DELETE of a busy runner: `Bad request - Runner "{name}" is still running a job`.
// - 422 bodies are GitHub's validation-error-simple ({message, documentation_url}), message "Invalid input: ...".
// - Labels are trimmed and de-duplicated case-insensitively. A runner configured with config.sh gets the
//   three read-only labels first. A JIT runner gets exactly the labels of the generate-jitconfig call and
//   nothing added: the reference's example sends self-hosted, X64 and macOS itself and gets back exactly
//   those four labels (https://docs.github.com/rest/actions/self-hosted-runners#create-configuration-for-a-just-in-time-runner-for-an-organization),
//   and terraform-aws-github-runner's maintainers note JIT configs get no default labels. Where the
//   reference is silent this is the stricter reading: a broker that relied on labels being added would
//   miss jobs on real GitHub. GitHub's own label names keep their type "read-only" when sent.
// - The Runner object also has `version` (null until the runner first connects), as GitHub's does.
// - An org the token's installation is not on: 403 like a missing permission; an unknown org: 404.
// - A registration token may register any number of runners within its hour (that is why the broker
//   checks what registered); a JIT config registers exactly one and connects once.
// - encoded_jit_config is base64 of {".runner", ".credentials", ".credentials_rsaparams"}, each base64 of
//   a JSON file, as the runner's --jitconfig reads it. The simulator keeps only SHA-256s of JIT configs
//   and registration tokens, never the values.
import { createHash, randomBytes, randomUUID } from "node:crypto";
import type { Installation } from "./simulator.ts";
import { newJob, type SimulatedJob } from "./webhooks.ts";

/** Told when a runner takes a job (queued, then in_progress) and finishes it (completed): webhooks.ts delivers. */
export type JobListener = (action: "queued" | "in_progress" | "completed", runner: Runner, org: string, job: SimulatedJob) => void;

export interface RunnerGroup {
  id: number;
  name: string;
  /**
   * Who may use it: "all" repositories, the "selected" ones, or every "private" one. Default: "all" for the
   * Default group (GitHub: "By default, all repositories can use the Default group"), "selected" for the
   * others, the dedicated group an operator makes for the broker (docs/runner-broker.md).
   */
  visibility?: "all" | "selected" | "private";
  /** "Allow public repositories", off unless set (GitHub's default for a new group). */
  allows_public_repositories?: boolean;
  restricted_to_workflows?: boolean;
  selected_workflows?: string[];
  /** the repositories a `selected` group admits */
  selected_repository_ids?: number[];
}

export interface RunnerLabel {
  id: number;
  name: string;
  type: "read-only" | "custom";
}

export interface Runner {
  id: number;
  name: string;
  os: string;
  status: "online" | "offline";
  busy: boolean;
  ephemeral: boolean;
  runner_group_id: number;
  labels: RunnerLabel[];
  version: string | null;
}

/** What the simulator needs to know about a runner beyond what GitHub shows. */
interface HeldRunner extends Runner {
  org: string; // the organization's login, lower case
  jitConfigUsed: boolean;
}

export const DEFAULT_RUNNER_GROUPS: readonly RunnerGroup[] = [
  { id: 1, name: "Default" },
  { id: 2, name: "brokered" },
];
export const RUNNER_PERMISSION = "organization_self_hosted_runners";
/** What GitHub adds to every runner configured with config.sh's defaults on Linux x64. */
const READ_ONLY_LABELS = ["self-hosted", "Linux", "X64"];
/** GitHub's own label names (type "read-only" in its answers, as in the JIT reference example). */
const SYSTEM_LABELS = new Set(["self-hosted", "linux", "windows", "macos", "x64", "x86", "arm", "arm64"]);
const RUNNER_VERSION = "2.330.0";
const DOCS = "https://docs.github.com/rest/actions/self-hosted-runners";
const NAME_MAX = 64;
const LABEL_MAX = 256;
const TOKEN_LIFETIME_MS = 3600_000;

/** A refusal with GitHub's status and message; control endpoints and in-process callers see the same. */
export class RunnerRefusal extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** The pieces of the simulator the runner endpoints answer with. */
export interface RunnerHttp {
  json(status: number, body: unknown, extra?: Record<string, string>): Response;
  error(status: number, message: string, extra?: Record<string, string>, docs?: string): Response;
  paginate<T>(url: URL, items: T[]): { page: T[]; link?: string };
  now(): number;
  installations: Installation[];
  /** a repository as GitHub's repository lists show it */
  repositoryJson(inst: Installation, repo: Installation["repositories"][number]): unknown;
  /** the origin clients reach the simulator at (public URL), known once it listens */
  origin(): string;
}

/** Who called: an installation token's installation and permissions, the App's JWT, or nobody. */
export type RunnerCaller = { installationId: number; permissions: Record<string, string> } | "app" | null;

export interface RunnerInput {
  name: string;
  labels: string[];
  runner_group_id?: number;
  status?: "online" | "offline";
  busy?: boolean;
  ephemeral?: boolean;
  org?: string;
}

export interface Runners {
  /** Every runner, all organizations, by id. */
  list(): Runner[];
  get(id: number): Runner | undefined;
  seed(input: RunnerInput): Runner;
  register(registrationToken: string, input: RunnerInput): Runner;
  connect(encodedJitConfig: string): Runner;
  startJob(id: number): Runner;
  finishJob(id: number): Runner | null;
  setStatus(id: number, status: "online" | "offline"): Runner;
  /** GitHub removes a runner on its own; false when there was none. */
  remove(id: number): boolean;
  /** Listens to jobs starting and finishing (the App's webhook). */
  onJob(listener: JobListener): void;
  /** Someone removes a runner group (not Default): its runners return to Default; false when there was none. */
  removeGroup(id: number): boolean;
  /** the first organization's runner groups */
  groups: readonly RunnerGroup[];
  /** an organization's runner groups (by login, any case) */
  groupsIn(org: string): readonly RunnerGroup[];
  /** Someone changes a group's settings in the org's settings (or through the API): the group as it is now. `org`: the first organization's by default. */
  updateGroup(id: number, patch: Partial<Omit<RunnerGroup, "id">>, org?: string): RunnerGroup;
  /** GitHub's endpoints; undefined when the path is not a runner path. */
  route(req: { method: string; path: string; url: URL; body: unknown; rl: Record<string, string>; caller: RunnerCaller }): Response | undefined;
  /** Control endpoints; undefined when the path is not one of them. */
  control(req: Request, path: string): Promise<Response | undefined>;
}

const sha256 = (s: string) => createHash("sha256").update(s).digest("hex");
const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64");
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

export function createRunners(http: RunnerHttp, groupsOption: readonly RunnerGroup[] = DEFAULT_RUNNER_GROUPS): Runners {
  const groups = [...checkGroups(groupsOption)];
  // The other organizations' groups, created as the option says when first used.
  const otherGroups = new Map<string, RunnerGroup[]>();
  const firstOrg = () => http.installations.find((i) => i.account.type === "Organization")?.account.login.toLowerCase();
  function groupsOf(org: string): RunnerGroup[] {
    const key = org.toLowerCase();
    if (key === firstOrg()) return groups;
    let list = otherGroups.get(key);
    if (!list) otherGroups.set(key, (list = [...checkGroups(groupsOption)]));
    return list;
  }
  const runners = new Map<number, HeldRunner>();
  const jitConfigs = new Map<string, number>(); // sha256 of an issued encoded_jit_config -> runner id
  const registrationTokens = new Map<string, { org: string; expiresAt: number }>(); // by sha256
  const labelIds = new Map<string, number>();
  let nextRunnerId = 101;
  const jobs = new Map<number, SimulatedJob>(); // runner id -> the job it runs
  const jobListeners: JobListener[] = [];
  const emitJob = (action: "queued" | "in_progress" | "completed", r: HeldRunner, job: SimulatedJob) => {
    for (const l of jobListeners) l(action, visible(r), r.org, { ...job });
  };

  const visible = ({ org: _org, jitConfigUsed: _used, ...runner }: HeldRunner): Runner => ({
    ...runner,
    labels: runner.labels.map((l) => ({ ...l })),
  });

  /** config.sh's runners get the read-only labels first; a JIT runner (`exactly`) gets the call's labels only. */
  function labelsFor(custom: string[], exactly = false): RunnerLabel[] {
    const seen = new Set<string>();
    const out: RunnerLabel[] = [];
    const given = custom.map((n) => [n.trim(), SYSTEM_LABELS.has(n.trim().toLowerCase()) ? "read-only" : "custom"] as const);
    for (const [name, type] of [...(exactly ? [] : READ_ONLY_LABELS.map((n) => [n, "read-only"] as const)), ...given]) {
      const key = name.toLowerCase();
      if (!name || seen.has(key)) continue;
      seen.add(key);
      if (!labelIds.has(key)) labelIds.set(key, labelIds.size + 1);
      out.push({ id: labelIds.get(key)!, name, type });
    }
    return out;
  }

  function orgFor(login: string | undefined): string {
    const org = http.installations.find((i) => i.account.type === "Organization" && (login === undefined || i.account.login.toLowerCase() === login.toLowerCase()));
    if (!org) throw new RunnerRefusal(404, login === undefined ? "no organization installation to put the runner in" : `no organization installation is on ${login}`);
    return org.account.login.toLowerCase();
  }

  function create(org: string, input: RunnerInput, ephemeral: boolean, jit = false): HeldRunner {
    const name = checkName(input.name, 400);
    const labels = checkLabels(input.labels, 0, 400);
    const groupId = input.runner_group_id ?? 1;
    if (!groupsOf(org).some((g) => g.id === groupId)) throw new RunnerRefusal(404, `runner group ${groupId} does not exist`);
    assertNameFree(org, name);
    const runner: HeldRunner = {
      id: nextRunnerId++,
      name,
      os: "linux",
      status: "offline",
      busy: false,
      ephemeral,
      runner_group_id: groupId,
      labels: labelsFor(labels, jit),
      version: null,
      org,
      jitConfigUsed: false,
    };
    runners.set(runner.id, runner);
    return runner;
  }

  function assertNameFree(org: string, name: string) {
    const taken = [...runners.values()].some((r) => r.org === org && r.name.toLowerCase() === name.toLowerCase());
    if (taken) throw new RunnerRefusal(409, `Already exists - A runner with the name ${name} already exists.`);
  }

  function held(id: number): HeldRunner {
    const r = runners.get(id);
    if (!r) throw new RunnerRefusal(404, `runner ${id} does not exist`);
    return r;
  }

  function goOnline(r: HeldRunner) {
    r.status = "online";
    r.version = RUNNER_VERSION;
  }

  function jitConfig(r: HeldRunner, workFolder: string): string {
    // The three files the runner's --jitconfig unpacks; .credentials_rsaparams is the runner's own key,
    // which is what makes a JIT config a secret.
    const origin = http.origin();
    const runnerFile = {
      AgentId: r.id,
      AgentName: r.name,
      PoolId: r.runner_group_id,
      PoolName: groupsOf(r.org).find((g) => g.id === r.runner_group_id)!.name,
      ServerUrl: `${origin}/_services/pipelines/${randomUUID()}/`,
      GitHubUrl: `${origin}/${r.org}`,
      WorkFolder: workFolder,
      Ephemeral: true,
    };
    const credentials = { Scheme: "OAuth", Data: { clientId: randomUUID(), authorizationUrl: `${origin}/_services/vstoken/_apis/oauth2/token`, requireFipsCryptography: "False" } };
    const part = (n: number) => randomBytes(n).toString("base64");
    const rsaParams = { d: part(256), dp: part(128), dq: part(128), exponent: "AQAB", inverseQ: part(128), modulus: part(256), p: part(128), q: part(128) };
    return b64({ ".runner": b64(runnerFile), ".credentials": b64(credentials), ".credentials_rsaparams": b64(rsaParams) });
  }

  const api: Runners = {
    groups,
    groupsIn: (org) => groupsOf(org),
    list: () => [...runners.values()].sort((a, b) => a.id - b.id).map(visible),
    get: (id) => {
      const r = runners.get(id);
      return r && visible(r);
    },
    seed(input) {
      const r = create(orgFor(input.org), input, input.ephemeral ?? false);
      if ((input.status ?? "online") === "online") goOnline(r);
      r.busy = !!input.busy;
      return visible(r);
    },
    register(registrationToken, input) {
      const entry = typeof registrationToken === "string" ? registrationTokens.get(sha256(registrationToken)) : undefined;
      if (!entry || entry.expiresAt <= http.now()) throw new RunnerRefusal(404, "the registration token is unknown or expired (config.sh gets 404 Not Found)");
      const r = create(entry.org, input, input.ephemeral ?? false);
      if ((input.status ?? "online") === "online") goOnline(r);
      return visible(r);
    },
    connect(encoded) {
      if (typeof encoded !== "string" || !encoded) throw new RunnerRefusal(400, "encoded_jit_config is required");
      const id = jitConfigs.get(sha256(encoded));
      const r = id === undefined ? undefined : runners.get(id);
      if (!r) throw new RunnerRefusal(404, "this JIT config was not issued by the simulator, or its runner was deleted");
      if (r.jitConfigUsed) throw new RunnerRefusal(409, "this JIT config was used already: a JIT config connects one runner once");
      r.jitConfigUsed = true;
      goOnline(r);
      return visible(r);
    },
    startJob(id) {
      const r = held(id);
      if (r.status !== "online") throw new RunnerRefusal(409, `runner ${id} is offline and takes no job`);
      if (r.busy) throw new RunnerRefusal(409, `runner ${id} is running a job already`);
      r.busy = true;
      const job = newJob(visible(r), http.now());
      jobs.set(r.id, job);
      emitJob("queued", r, job);
      job.startedAt = http.now();
      emitJob("in_progress", r, job);
      return visible(r);
    },
    finishJob(id) {
      const r = held(id);
      if (!r.busy) throw new RunnerRefusal(409, `runner ${id} is not running a job`);
      r.busy = false;
      const job = jobs.get(id);
      if (job) {
        jobs.delete(id);
        Object.assign(job, { completedAt: http.now(), conclusion: "success" });
        emitJob("completed", r, job);
      }
      // GitHub removes an ephemeral runner once its one job is done.
      if (r.ephemeral) {
        runners.delete(id);
        return null;
      }
      return visible(r);
    },
    setStatus(id, status) {
      const r = held(id);
      if (status === "online") goOnline(r);
      else r.status = "offline";
      return visible(r);
    },
    remove: (id) => runners.delete(id),
    onJob: (listener) => void jobListeners.push(listener),
    removeGroup(id) {
      if (id === DEFAULT_GROUP_ID) throw new RunnerRefusal(409, "the Default runner group cannot be removed");
      // Removed in every organization (the control endpoint names no organization).
      let found = false;
      for (const list of [groups, ...otherGroups.values()]) {
        const i = list.findIndex((g) => g.id === id);
        if (i < 0) continue;
        list.splice(i, 1);
        found = true;
      }
      if (!found) return false;
      for (const r of runners.values()) if (r.runner_group_id === id) r.runner_group_id = DEFAULT_GROUP_ID;
      return true;
    },

    updateGroup(id, patch, org) {
      const g = (org === undefined ? groups : groupsOf(org)).find((x) => x.id === id);
      if (!g) throw new Error(`runner group ${id} does not exist${org === undefined ? "" : ` in ${org}`}`);
      Object.assign(g, patch);
      return { ...g };
    },

    route({ method, path, url, body, rl, caller }) {
      const m = path.match(/^\/orgs\/([^/]+)\/actions\/(runners|runner-groups)(?:\/([^/]+))?(?:\/([^/]+))?$/);
      if (!m) return undefined;
      const [, rawOrg, kind, a, b] = m;
      const org = decodeURIComponent(rawOrg!);
      const docs = (anchor: string) => `${DOCS}#${anchor}`;

      // GitHub checks the organization, then who asks and with what permission, then the body.
      const inst = http.installations.find((i) => i.account.type === "Organization" && i.account.login.toLowerCase() === org.toLowerCase());
      if (!inst) return http.error(404, "Not Found", rl);
      if (!caller) return http.error(401, "Requires authentication", rl);
      if (caller === "app") return http.error(401, "A JSON web token could not be decoded", rl);
      const level = method === "GET" ? "read" : "write";
      const granted = caller.permissions[RUNNER_PERMISSION];
      if (caller.installationId !== inst.id || !(granted === "write" || granted === "admin" || (level === "read" && granted === "read"))) {
        return http.error(403, "Resource not accessible by integration", { ...rl, "x-accepted-github-permissions": `${RUNNER_PERMISSION}=${level}` }, DOCS);
      }
      const orgKey = inst.account.login.toLowerCase();
      const groups = groupsOf(orgKey);
      const inOrg = () => [...runners.values()].filter((r) => r.org === orgKey).sort((x, y) => x.id - y.id);
      const listed = (items: HeldRunner[]) => {
        const { page, link } = http.paginate(url, items);
        return http.json(200, { total_count: items.length, runners: page.map(visible) }, link ? { ...rl, link } : rl);
      };
      const groupsUrl = `${http.origin()}${url.pathname.replace(/\/actions\/.*$/, "")}/actions/runner-groups`;
      // https://docs.github.com/rest/actions/self-hosted-runner-groups#get-a-self-hosted-runner-group-for-an-organization:
      // selected_repositories_url is "not present unless visibility was set to selected".
      const groupJson = (g: RunnerGroup) => ({
        id: g.id,
        name: g.name,
        visibility: visibilityOf(g),
        default: g.id === DEFAULT_GROUP_ID,
        ...(visibilityOf(g) === "selected" ? { selected_repositories_url: `${groupsUrl}/${g.id}/repositories` } : {}),
        runners_url: `${groupsUrl}/${g.id}/runners`,
        inherited: false,
        allows_public_repositories: g.allows_public_repositories ?? false,
        restricted_to_workflows: g.restricted_to_workflows ?? false,
        selected_workflows: [...(g.selected_workflows ?? [])],
        workflow_restrictions_read_only: false,
      });
      const groupDocs = (anchor: string) => `https://docs.github.com/rest/actions/self-hosted-runner-groups#${anchor}`;

      if (kind === "runner-groups") {
        // https://docs.github.com/rest/actions/self-hosted-runner-groups#create-a-self-hosted-runner-group-for-an-organization
        if (a === undefined && method === "POST") {
          const input = checkGroupBody(body, true);
          if (typeof input === "string") return http.error(422, input, rl, groupDocs("create-a-self-hosted-runner-group-for-an-organization"));
          // The documented defaults: visibility "all", public repositories not allowed, no workflow restriction.
          const g: RunnerGroup = { visibility: "all", allows_public_repositories: false, restricted_to_workflows: false, selected_workflows: [], selected_repository_ids: [], ...input, id: Math.max(0, ...groups.map((x) => x.id)) + 1, name: input.name! };
          groups.push(g);
          return http.json(201, groupJson(g), rl);
        }
        if (a === undefined && method === "GET") {
          const { page, link } = http.paginate(url, [...groups]);
          return http.json(200, { total_count: groups.length, runner_groups: page.map(groupJson) }, link ? { ...rl, link } : rl);
        }
        const group = a !== undefined && /^\d+$/.test(a) ? groups.find((g) => g.id === Number(a)) : undefined;
        const writes = (method === "PATCH" && b === undefined) || (method === "PUT" && b === "repositories");
        if ((method !== "GET" && !writes) || (b !== undefined && b !== "runners" && b !== "repositories")) return http.error(404, "Not Found", rl);
        if (!group) return http.error(404, "Not Found", rl, docs("list-self-hosted-runners-in-a-group-for-an-organization"));
        // https://docs.github.com/rest/actions/self-hosted-runner-groups#update-a-self-hosted-runner-group-for-an-organization
        if (method === "PATCH") {
          // The description requires name in an update too.
          const input = checkGroupBody(body, true);
          if (typeof input === "string") return http.error(422, input, rl, groupDocs("update-a-self-hosted-runner-group-for-an-organization"));
          // The Default group's name cannot change (GitHub's settings page offers no rename for it).
          Object.assign(group, input, group.id === DEFAULT_GROUP_ID ? { name: group.name } : {});
          return http.json(200, groupJson(group), rl);
        }
        if (b === "repositories") {
          // https://docs.github.com/rest/actions/self-hosted-runner-groups#set-repository-access-for-a-self-hosted-runner-group-in-an-organization
          if (method === "PUT") {
            const ids = isObject(body) ? body.selected_repository_ids : undefined;
            if (!Array.isArray(ids) || !ids.every((id) => Number.isInteger(id))) return http.error(422, "Invalid request.\n\nselected_repository_ids is missing or not a list of integers.", rl, groupDocs("set-repository-access-for-a-self-hosted-runner-group-in-an-organization"));
            group.selected_repository_ids = [...new Set(ids as number[])];
            return http.json(204, null, rl);
          }
          // https://docs.github.com/rest/actions/self-hosted-runner-groups#list-repository-access-to-a-self-hosted-runner-group-in-an-organization
          const repos = inst.repositories.filter((r) => (group.selected_repository_ids ?? []).includes(r.id));
          const { page, link } = http.paginate(url, repos);
          return http.json(200, { total_count: repos.length, repositories: page.map((r) => http.repositoryJson(inst, r)) }, link ? { ...rl, link } : rl);
        }
        if (b === undefined) return http.json(200, groupJson(group), rl);
        return listed(inOrg().filter((r) => r.runner_group_id === group.id));
      }

      if (a === undefined && b === undefined && method === "GET") {
        const name = url.searchParams.get("name");
        return listed(name === null ? inOrg() : inOrg().filter((r) => r.name.toLowerCase() === name.toLowerCase()));
      }
      if (a === "generate-jitconfig" && b === undefined && method === "POST") {
        const input = checkJitBody(body);
        if (typeof input === "string") return http.error(422, input, rl, docs("create-configuration-for-a-just-in-time-runner-for-an-organization"));
        if (!groups.some((g) => g.id === input.runner_group_id)) {
          return http.error(404, "Not Found", rl, docs("create-configuration-for-a-just-in-time-runner-for-an-organization"));
        }
        try {
          assertNameFree(orgKey, input.name);
        } catch (e) {
          return http.error(409, (e as RunnerRefusal).message, rl, docs("create-configuration-for-a-just-in-time-runner-for-an-organization"));
        }
        const r = create(orgKey, input, true, true);
        const encoded = jitConfig(r, input.work_folder ?? "_work");
        jitConfigs.set(sha256(encoded), r.id);
        return http.json(201, { runner: visible(r), encoded_jit_config: encoded }, rl);
      }
      if (a === "registration-token" && b === undefined && method === "POST") {
        // Base32 like GitHub's 29-character registration tokens.
        const token = [...randomBytes(29)].map((x) => "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"[x % 32]).join("");
        const expiresAt = http.now() + TOKEN_LIFETIME_MS;
        registrationTokens.set(sha256(token), { org: orgKey, expiresAt });
        return http.json(201, { token, expires_at: new Date(expiresAt).toISOString().replace(/\.\d{3}Z$/, "Z") }, rl);
      }
      if (a !== undefined && /^\d+$/.test(a) && b === undefined && (method === "GET" || method === "DELETE")) {
        const r = runners.get(Number(a));
        if (!r || r.org !== orgKey) {
          return http.error(404, "Not Found", rl, docs(method === "GET" ? "get-a-self-hosted-runner-for-an-organization" : "delete-a-self-hosted-runner-from-an-organization"));
        }
        if (method === "GET") return http.json(200, visible(r), rl);
        // Deleting a busy runner: GitHub's page says the endpoint "Forces the removal of a self-hosted runner"
        // yet its description lists 422 (https://docs.github.com/rest/actions/self-hosted-runners#delete-a-self-hosted-runner-from-an-organization),
        // and GitHub has been seen refusing a busy runner (machulav/ec2-github-runner#23). The stricter
        // reading: refused while it runs a job, so the broker's tests prove it copes with the refusal.
        if (r.busy) return http.error(422, `Bad request - Runner "${r.name}" is still running a job`, rl, docs("delete-a-self-hosted-runner-from-an-organization"));
        runners.delete(r.id);
        return http.json(204, null, rl);
      }
      return http.error(404, "Not Found", rl);
    },

    async control(req, path) {
      const group = /^\/_simulator\/runner-groups\/(\d+)$/.exec(path);
      if (group && req.method === "DELETE") {
        try {
          return api.removeGroup(Number(group[1])) ? new Response(null, { status: 204 }) : Response.json({ message: `runner group ${group[1]} does not exist` }, { status: 404 });
        } catch (e) {
          if (e instanceof RunnerRefusal) return Response.json({ message: e.message }, { status: e.status });
          throw e;
        }
      }
      const m = path.match(/^\/_simulator\/(?:runners(?:\/(register|connect|seed|\d+))?(?:\/(job|job\/finish|offline|online))?|installations\/(\d+)\/permissions)$/);
      if (!m) return undefined;
      const [, what, action, installationId] = m;
      const answer = (status: number, body: unknown) => Response.json(body, { status });
      try {
        if (installationId !== undefined && req.method === "PUT") {
          const body = await readJson(req);
          const inst = http.installations.find((i) => i.id === Number(installationId));
          if (!inst) throw new RunnerRefusal(404, `installation ${installationId} does not exist`);
          if (!isObject(body) || !isObject(body.permissions) || !Object.values(body.permissions).every((v) => v === "read" || v === "write" || v === "admin")) {
            throw new RunnerRefusal(400, 'give {"permissions": {"name": "read"|"write"|"admin", ...}}');
          }
          inst.permissions = { ...(body.permissions as Record<string, string>) };
          return answer(200, { id: inst.id, permissions: inst.permissions });
        }
        if (what === undefined && action === undefined && req.method === "GET") return answer(200, api.list());
        if (what !== undefined && /^\d+$/.test(what) && action === undefined && req.method === "DELETE") {
          if (!api.remove(Number(what))) throw new RunnerRefusal(404, `runner ${what} does not exist`);
          return new Response(null, { status: 204 });
        }
        if (req.method !== "POST") return undefined;
        if (what === "register" || what === "seed" || what === "connect") {
          if (action !== undefined) return undefined;
          const body = await readJson(req);
          if (!isObject(body)) throw new RunnerRefusal(400, "the body must be a JSON object");
          if (what === "connect") return answer(200, api.connect(body.encoded_jit_config as string));
          const input = checkControlInput(body);
          return answer(201, what === "seed" ? api.seed(input) : api.register(body.registration_token as string, input));
        }
        if (what === undefined) return undefined;
        const id = Number(what);
        if (action === "job") return answer(200, api.startJob(id));
        if (action === "job/finish") {
          const r = api.finishJob(id);
          return answer(200, r ?? { id, removed: true });
        }
        if (action === "offline" || action === "online") return answer(200, api.setStatus(id, action));
        return undefined;
      } catch (e) {
        if (e instanceof RunnerRefusal) return answer(e.status, { message: e.message });
        throw e;
      }
    },
  };
  return api;
}

/** Every organization has one Default runner group, id 1; it cannot be removed. */
const DEFAULT_GROUP_ID = 1;

function visibilityOf(g: RunnerGroup): "all" | "selected" | "private" {
  return g.visibility ?? (g.id === DEFAULT_GROUP_ID ? "all" : "selected");
}

/** A create (POST) or update (PATCH) body, as the OpenAPI description has it; a message when it is not one. */
function checkGroupBody(body: unknown, create: boolean): Partial<Omit<RunnerGroup, "id">> | string {
  if (!isObject(body)) return "Invalid request.\n\nthe body must be a JSON object.";
  const out: Partial<Omit<RunnerGroup, "id">> = {};
  if (body.name !== undefined || create) {
    if (typeof body.name !== "string" || !body.name.trim()) return "Invalid request.\n\nname must be a non-empty string.";
    out.name = body.name;
  }
  if (body.visibility !== undefined) {
    if (body.visibility !== "all" && body.visibility !== "selected" && body.visibility !== "private") return "Invalid request.\n\nvisibility must be one of all, selected, private.";
    out.visibility = body.visibility;
  }
  for (const key of ["allows_public_repositories", "restricted_to_workflows"] as const) {
    if (body[key] === undefined) continue;
    if (typeof body[key] !== "boolean") return `Invalid request.\n\n${key} must be a boolean.`;
    out[key] = body[key] as boolean;
  }
  if (body.selected_workflows !== undefined) {
    // "Note that a ref, tag, or long SHA is required" (the OpenAPI description of selected_workflows).
    if (!Array.isArray(body.selected_workflows) || !body.selected_workflows.every((w) => typeof w === "string" && /^[^/\s]+\/[^/\s]+\/\S+@\S+$/.test(w))) {
      return "Invalid request.\n\nselected_workflows must be workflow paths with a ref, e.g. octo-org/octo-repo/.github/workflows/deploy.yaml@main.";
    }
    out.selected_workflows = [...(body.selected_workflows as string[])];
  }
  if (body.selected_repository_ids !== undefined) {
    if (!Array.isArray(body.selected_repository_ids) || !body.selected_repository_ids.every((id) => Number.isInteger(id))) return "Invalid request.\n\nselected_repository_ids must be a list of integers.";
    out.selected_repository_ids = [...(body.selected_repository_ids as number[])];
  }
  return out;
}

function checkGroups(groups: readonly RunnerGroup[]): readonly RunnerGroup[] {
  const ids = new Set<number>();
  for (const g of groups) {
    if (!Number.isInteger(g.id) || g.id < 1 || ids.has(g.id) || typeof g.name !== "string" || !g.name) {
      throw new Error(`runnerGroups: each group needs a unique positive integer id and a name (got ${JSON.stringify(g)})`);
    }
    ids.add(g.id);
  }
  return groups.map((g) => ({ ...g }));
}

function checkName(name: unknown, status: number): string {
  if (typeof name !== "string" || !name.trim()) throw new RunnerRefusal(status, "name must be a non-empty string");
  if (name.length > NAME_MAX) throw new RunnerRefusal(status, `name is longer than ${NAME_MAX} characters`);
  return name.trim();
}

function checkLabels(labels: unknown, min: number, status: number): string[] {
  if (labels === undefined && min === 0) return [];
  if (!Array.isArray(labels)) throw new RunnerRefusal(status, "labels must be an array of strings");
  if (labels.length < min || labels.length > 100) throw new RunnerRefusal(status, `labels must have ${min} to 100 items`);
  for (const l of labels) {
    if (typeof l !== "string" || !l.trim() || l.length > LABEL_MAX) {
      throw new RunnerRefusal(status, `each label must be a non-empty string of at most ${LABEL_MAX} characters`);
    }
  }
  return labels as string[];
}

/** GitHub's 422 messages for the JIT body, or the body when it is good. */
function checkJitBody(body: unknown): (RunnerInput & { runner_group_id: number; work_folder?: string }) | string {
  if (!isObject(body)) return "Invalid input: the body must be a JSON object";
  for (const key of ["name", "runner_group_id", "labels"]) {
    if (body[key] === undefined) return `Invalid input: object is missing required key: ${key}`;
  }
  if (!Number.isInteger(body.runner_group_id)) return "Invalid input: runner_group_id must be an integer";
  if (body.work_folder !== undefined && (typeof body.work_folder !== "string" || body.work_folder.length > 256)) {
    return "Invalid input: work_folder must be a string";
  }
  try {
    const name = checkName(body.name, 422);
    const labels = checkLabels(body.labels, 1, 422);
    return { name, labels, runner_group_id: body.runner_group_id as number, ...(body.work_folder ? { work_folder: body.work_folder as string } : {}) };
  } catch (e) {
    return `Invalid input: ${(e as Error).message}`;
  }
}

function checkControlInput(body: Record<string, unknown>): RunnerInput {
  const { name, labels, runner_group_id, status, busy, ephemeral, org } = body;
  if (runner_group_id !== undefined && !Number.isInteger(runner_group_id)) throw new RunnerRefusal(400, "runner_group_id must be an integer");
  if (status !== undefined && status !== "online" && status !== "offline") throw new RunnerRefusal(400, 'status must be "online" or "offline"');
  if ((busy !== undefined && typeof busy !== "boolean") || (ephemeral !== undefined && typeof ephemeral !== "boolean")) {
    throw new RunnerRefusal(400, "busy and ephemeral are booleans");
  }
  if (org !== undefined && typeof org !== "string") throw new RunnerRefusal(400, "org must be a string");
  return {
    name: name as string,
    labels: (labels ?? []) as string[],
    ...(runner_group_id !== undefined ? { runner_group_id: runner_group_id as number } : {}),
    ...(status !== undefined ? { status: status as "online" | "offline" } : {}),
    ...(busy !== undefined ? { busy: busy as boolean } : {}),
    ...(ephemeral !== undefined ? { ephemeral: ephemeral as boolean } : {}),
    ...(org !== undefined ? { org: org as string } : {}),
  };
}

async function readJson(req: Request): Promise<unknown> {
  try {
    return JSON.parse(await req.text());
  } catch {
    throw new RunnerRefusal(400, "the body must be JSON");
  }
}
