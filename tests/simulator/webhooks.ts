// The GitHub App's webhook in the simulator: signed deliveries to a configured URL when runners take
// and finish jobs, the App's delivery log, and redelivery. Sources:
// - Delivery headers and signing: https://docs.github.com/webhooks/webhook-events-and-payloads#delivery-headers
//   and https://docs.github.com/webhooks/using-webhooks/validating-webhook-deliveries (X-Hub-Signature-256 =
//   "sha256=" + hex HMAC-SHA256 of the body with the secret; X-Hub-Signature, SHA-1, only when a secret is set).
// - The workflow_job payload (queued → in_progress → completed; runner_* null while queued):
//   https://docs.github.com/webhooks/webhook-events-and-payloads#workflow_job, shaped to validate against
//   @octokit/openapi-webhooks (webhook-workflow-job-*). "To subscribe to this event, a GitHub App must have at
//   least read-level access for the Actions repository permission": without `actions` on the installation, the
//   simulator sends no workflow_job delivery (the stricter reading).
// - A ping when the webhook is configured: https://docs.github.com/webhooks/webhook-events-and-payloads#ping
// - GitHub waits 10 s for an answer; anything but 2xx (or no answer) is a failed delivery, and GitHub
//   never redelivers by itself: https://docs.github.com/webhooks/using-webhooks/handling-failed-webhook-deliveries
// - The App's delivery log, newest first, cursor-paged through Link, `status=success|failure` by status_code
//   range, kept three days; redelivery of one of them (same GUID, redelivery: true), App JWT only:
//   https://docs.github.com/rest/apps/webhooks#list-deliveries-for-an-app-webhook and
//   #redeliver-a-delivery-for-an-app-webhook. Deliveries older than three days cannot be redelivered
//   (https://docs.github.com/webhooks/testing-and-troubleshooting-webhooks/redelivering-webhooks): 404 here.
// - A dropped delivery is recorded as GitHub's OpenAPI example records an unreachable URL: status
//   "failed to connect", status_code 502. The broker must judge by status !== "OK", GitHub's documented rule.
//
// Control endpoints (no authentication):
//   PUT    /_simulator/webhooks {url, secret, events?}  configure the App's webhook (events default ["workflow_job"]);
//          sends a ping; the answer never repeats the secret
//   DELETE /_simulator/webhooks                         no webhook
//   POST   /_simulator/webhooks/drop {count}            the next `count` deliveries never reach the URL
//   GET    /_simulator/webhooks/deliveries              the delivery log with each delivery's headers and payload
import { createHmac, randomBytes, randomUUID } from "node:crypto";
import type { Installation } from "./simulator.ts";
import type { Runner } from "./runners.ts";

export interface WebhookConfig {
  url: string;
  secret: string;
  events: string[];
}

export interface SimulatedJob {
  id: number;
  runId: number;
  name: string;
  labels: string[];
  createdAt: number;
  startedAt: number | null;
  completedAt: number | null;
  conclusion: "success" | "failure" | "cancelled" | null;
}

export interface DeliveryLogEntry {
  id: number;
  guid: string;
  delivered_at: string;
  redelivery: boolean;
  duration: number;
  status: string;
  status_code: number;
  event: string;
  action: string | null;
  installation_id: number | null;
  repository_id: number | null;
  throttled_at: null;
  /** not in GitHub's list answer: what was sent, for tests (the secret is not in it) */
  request: { headers: Record<string, string>; payload: unknown };
  at: number;
}

export interface WebhookHttp {
  json(status: number, body: unknown, extra?: Record<string, string>): Response;
  error(status: number, message: string, extra?: Record<string, string>, docs?: string): Response;
  now(): number;
  origin(): string;
  appId(): number;
  installations: Installation[];
}

export interface Webhooks {
  configure(config: { url: string; secret: string; events?: string[] } | null): void;
  /** The next `count` deliveries are dropped (recorded as failed, never sent). */
  drop(count: number): void;
  /** The log, oldest first. */
  deliveries(): DeliveryLogEntry[];
  /** Moves every logged delivery `ms` into the past, as if made then (the three-day window, in tests). */
  backdate(ms: number): void;
  /** Resolves when every delivery queued so far has been attempted. */
  settled(): Promise<void>;
  /** A runner took a job (queued, then in_progress) or finished it (completed). */
  jobEvent(action: "queued" | "in_progress" | "completed", runner: Runner, org: string, job: SimulatedJob): void;
  route(req: { method: string; path: string; url: URL; rl: Record<string, string>; isApp: boolean; hasAuth: boolean }): Response | undefined;
  control(req: Request, path: string): Promise<Response | undefined>;
}

const DOCS = "https://docs.github.com/rest/apps/webhooks";
const TIMEOUT_MS = 10_000;
const LOG_KEEP_MS = 3 * 24 * 3_600_000;
const HOOK_ID = 420_001;
const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");

export function createWebhooks(http: WebhookHttp): Webhooks {
  let config: WebhookConfig | null = null;
  let dropping = 0;
  let nextId = 90_000_001;
  const log: DeliveryLogEntry[] = [];
  let queue: Promise<void> = Promise.resolve();

  function user(login: string, id: number, type: "User" | "Organization" | "Bot") {
    const api = `${http.origin()}/users/${login}`;
    return {
      login, id, node_id: `MDQ6VXNlcj${id}`, avatar_url: `https://avatars.githubusercontent.com/u/${id}?v=4`, gravatar_id: "", url: api,
      html_url: `https://github.com/${login}`, followers_url: `${api}/followers`, following_url: `${api}/following{/other_user}`,
      gists_url: `${api}/gists{/gist_id}`, starred_url: `${api}/starred{/owner}{/repo}`, subscriptions_url: `${api}/subscriptions`,
      organizations_url: `${api}/orgs`, repos_url: `${api}/repos`, events_url: `${api}/events{/privacy}`,
      received_events_url: `${api}/received_events`, type, site_admin: false,
    };
  }

  function repository(inst: Installation) {
    const r = inst.repositories[0] ?? { id: 1, name: "repo", full_name: `${inst.account.login}/repo`, private: true };
    const api = `${http.origin()}/repos/${r.full_name}`;
    const t = iso(Date.parse("2026-01-01T00:00:00Z"));
    return {
      id: r.id, node_id: `R_kgDO${r.id}`, name: r.name, full_name: r.full_name, private: r.private,
      owner: user(inst.account.login, inst.account.id, inst.account.type), html_url: `https://github.com/${r.full_name}`,
      description: null, fork: false, url: api, forks_url: `${api}/forks`, keys_url: `${api}/keys{/key_id}`,
      collaborators_url: `${api}/collaborators{/collaborator}`, teams_url: `${api}/teams`, hooks_url: `${api}/hooks`,
      issue_events_url: `${api}/issues/events{/number}`, events_url: `${api}/events`, assignees_url: `${api}/assignees{/user}`,
      branches_url: `${api}/branches{/branch}`, tags_url: `${api}/tags`, blobs_url: `${api}/git/blobs{/sha}`,
      git_tags_url: `${api}/git/tags{/sha}`, git_refs_url: `${api}/git/refs{/sha}`, trees_url: `${api}/git/trees{/sha}`,
      statuses_url: `${api}/statuses/{sha}`, languages_url: `${api}/languages`, stargazers_url: `${api}/stargazers`,
      contributors_url: `${api}/contributors`, subscribers_url: `${api}/subscribers`, subscription_url: `${api}/subscription`,
      commits_url: `${api}/commits{/sha}`, git_commits_url: `${api}/git/commits{/sha}`, comments_url: `${api}/comments{/number}`,
      issue_comment_url: `${api}/issues/comments{/number}`, contents_url: `${api}/contents/{+path}`,
      compare_url: `${api}/compare/{base}...{head}`, merges_url: `${api}/merges`, archive_url: `${api}/{archive_format}{/ref}`,
      downloads_url: `${api}/downloads`, issues_url: `${api}/issues{/number}`, pulls_url: `${api}/pulls{/number}`,
      milestones_url: `${api}/milestones{/number}`, notifications_url: `${api}/notifications{?since,all,participating}`,
      labels_url: `${api}/labels{/name}`, releases_url: `${api}/releases{/id}`, deployments_url: `${api}/deployments`,
      created_at: t, updated_at: t, pushed_at: t, git_url: `git://github.com/${r.full_name}.git`,
      ssh_url: `git@github.com:${r.full_name}.git`, clone_url: `https://github.com/${r.full_name}.git`,
      svn_url: `https://github.com/${r.full_name}`, homepage: null, size: 120, stargazers_count: 0, watchers_count: 0,
      language: "TypeScript", has_issues: true, has_projects: true, has_downloads: true, has_wiki: true, has_pages: false,
      has_discussions: false, forks_count: 0, mirror_url: null, archived: false, disabled: false, open_issues_count: 0,
      license: null, allow_forking: false, is_template: false, web_commit_signoff_required: false, topics: [],
      visibility: r.private ? "private" : "public", forks: 0, open_issues: 0, watchers: 0, default_branch: "main",
    };
  }

  function organization(inst: Installation) {
    const login = inst.account.login;
    const api = `${http.origin()}/orgs/${login}`;
    return {
      login, id: inst.account.id, node_id: `O_kgDO${inst.account.id}`, url: api, repos_url: `${api}/repos`, events_url: `${api}/events`,
      hooks_url: `${api}/hooks`, issues_url: `${api}/issues`, members_url: `${api}/members{/member}`,
      public_members_url: `${api}/public_members{/member}`, avatar_url: `https://avatars.githubusercontent.com/u/${inst.account.id}?v=4`, description: null,
    };
  }

  function workflowJobPayload(action: "queued" | "in_progress" | "completed", runner: Runner, inst: Installation, job: SimulatedJob) {
    const repo = repository(inst);
    const sha = createHmac("sha1", "sim").update(String(job.runId)).digest("hex");
    const group = action === "queued" ? null : runner.runner_group_id;
    const step = (number: number, name: string) => ({
      name, status: action === "completed" ? "completed" : action === "in_progress" && number === 1 ? "in_progress" : "queued",
      conclusion: action === "completed" ? job.conclusion : null, number,
      started_at: action === "queued" || (action === "in_progress" && number > 1) ? null : iso(job.startedAt ?? job.createdAt),
      completed_at: action === "completed" ? iso(job.completedAt ?? http.now()) : null,
    });
    return {
      action,
      workflow_job: {
        id: job.id, run_id: job.runId, workflow_name: "CI", head_branch: "main",
        run_url: `${repo.url}/actions/runs/${job.runId}`, run_attempt: 1, node_id: `CR_kwDO${job.id}`, head_sha: sha,
        url: `${repo.url}/actions/jobs/${job.id}`, html_url: `${repo.html_url}/actions/runs/${job.runId}/job/${job.id}`,
        status: action, conclusion: action === "completed" ? job.conclusion : null,
        created_at: iso(job.createdAt), started_at: iso(job.startedAt ?? job.createdAt), completed_at: job.completedAt ? iso(job.completedAt) : null,
        name: job.name, steps: action === "queued" ? [] : [step(1, "Set up job"), step(2, "Run tests")],
        check_run_url: `${repo.url}/check-runs/${job.id}`, labels: job.labels,
        // null as long as the job is queued (GitHub's payload description)
        runner_id: action === "queued" ? null : runner.id, runner_name: action === "queued" ? null : runner.name,
        runner_group_id: group, runner_group_name: group === null ? null : group === 1 ? "Default" : `group-${group}`,
      },
      repository: repo,
      organization: organization(inst),
      sender: user("octo-dev", 583_231, "User"),
      installation: { id: inst.id, node_id: `MDIzOkludGVncmF0aW9uSW5zdGFsbGF0aW9u${inst.id}` },
    };
  }

  function record(event: string, action: string | null, payload: unknown, guid: string, redelivery: boolean, inst: Installation | null, repositoryId: number | null): DeliveryLogEntry {
    const body = JSON.stringify(payload);
    const headers: Record<string, string> = {
      "content-type": "application/json",
      "user-agent": "GitHub-Hookshot/5c4b1ff",
      "x-github-event": event,
      "x-github-delivery": guid,
      "x-github-hook-id": String(HOOK_ID),
      "x-github-hook-installation-target-id": String(http.appId()),
      "x-github-hook-installation-target-type": "integration",
    };
    if (config!.secret) {
      headers["x-hub-signature"] = `sha1=${createHmac("sha1", config!.secret).update(body).digest("hex")}`;
      headers["x-hub-signature-256"] = `sha256=${createHmac("sha256", config!.secret).update(body).digest("hex")}`;
    }
    const entry: DeliveryLogEntry = {
      id: nextId++, guid, delivered_at: iso(http.now()), redelivery, duration: 0, status: "pending", status_code: 0, event, action,
      installation_id: inst?.id ?? null, repository_id: repositoryId, throttled_at: null, request: { headers, payload }, at: http.now(),
    };
    log.push(entry);
    const url = config!.url;
    const drop = dropping > 0;
    if (drop) dropping--;
    // One delivery at a time, in order, after the request that caused it has been answered.
    queue = queue.then(async () => {
      const started = performance.now();
      if (drop) {
        Object.assign(entry, { status: "failed to connect", status_code: 502, duration: 0 });
        return;
      }
      try {
        const res = await fetch(url, { method: "POST", headers, body, signal: AbortSignal.timeout(TIMEOUT_MS), redirect: "manual" });
        await res.arrayBuffer().catch(() => undefined);
        entry.status_code = res.status;
        entry.status = res.status >= 200 && res.status < 300 ? "OK" : `Invalid HTTP Response: ${res.status}`;
      } catch (e) {
        const timedOut = (e as Error)?.name === "TimeoutError";
        entry.status = timedOut ? "timed out" : "failed to connect";
        entry.status_code = timedOut ? 504 : 502;
      }
      entry.duration = Math.round((performance.now() - started) / 10) / 100;
    });
    return entry;
  }

  function sendPing() {
    const payload = {
      zen: "Keep it logically awesome.",
      hook_id: HOOK_ID,
      hook: {
        type: "App", id: HOOK_ID, name: "web", active: true, events: config!.events, app_id: http.appId(),
        config: { content_type: "json", insecure_ssl: "0", url: config!.url, ...(config!.secret ? { secret: "********" } : {}) },
        updated_at: iso(http.now()), created_at: iso(http.now()),
      },
    };
    record("ping", null, payload, randomUUID(), false, null, null);
  }

  const api: Webhooks = {
    configure(c) {
      if (c === null) {
        config = null;
        return;
      }
      config = { url: c.url, secret: c.secret, events: c.events ?? ["workflow_job"] };
      sendPing();
    },
    drop(count) {
      dropping += count;
    },
    deliveries: () => log.map((d) => ({ ...d })),
    backdate(ms) {
      for (const d of log) {
        d.at -= ms;
        d.delivered_at = iso(Date.parse(d.delivered_at) - ms);
      }
    },
    async settled() {
      for (let q = queue; ; q = queue) {
        await q;
        if (q === queue) return;
      }
    },
    jobEvent(action, runner, org, job) {
      if (!config || !config.events.includes("workflow_job")) return;
      const inst = http.installations.find((i) => i.account.login.toLowerCase() === org.toLowerCase());
      if (!inst || !inst.permissions.actions) return;
      const payload = workflowJobPayload(action, runner, inst, job);
      record("workflow_job", action, payload, randomUUID(), false, inst, payload.repository.id);
    },

    route({ method, path, url, rl, isApp, hasAuth }) {
      const m = path.match(/^\/app\/hook\/deliveries(?:\/(\d+)(\/attempts)?)?$/);
      if (!m) return undefined;
      if (!hasAuth) return http.error(401, "Requires authentication", rl, DOCS);
      if (!isApp) return http.error(401, "A JSON web token could not be decoded", rl, DOCS);
      const kept = log.filter((d) => http.now() - d.at <= LOG_KEEP_MS);
      const [, id, attempts] = m;
      if (id === undefined && method === "GET") {
        const perPage = Math.min(100, Math.max(1, Number(url.searchParams.get("per_page") ?? 30) || 30));
        const status = url.searchParams.get("status");
        if (status !== null && status !== "success" && status !== "failure") return http.error(422, "Validation Failed", rl, DOCS);
        const cursor = url.searchParams.get("cursor");
        const before = cursor && /^v1_\d+$/.test(cursor) ? Number(cursor.slice(3)) : Infinity;
        const items = kept
          .filter((d) => d.id < before && d.status !== "pending")
          .filter((d) => status === null || (status === "success" ? d.status_code >= 200 && d.status_code < 400 : d.status_code >= 400 && d.status_code < 600))
          .sort((a, b) => b.id - a.id);
        const page = items.slice(0, perPage);
        const extra = { ...rl };
        if (items.length > perPage) {
          const next = new URL(url);
          next.searchParams.set("per_page", String(perPage));
          next.searchParams.set("cursor", `v1_${page[page.length - 1]!.id}`);
          extra.link = `<${next.toString()}>; rel="next"`;
        }
        return http.json(200, page.map(({ request: _r, at: _a, ...item }) => item), extra);
      }
      if (id !== undefined && attempts !== undefined && method === "POST") {
        const original = kept.find((d) => d.id === Number(id) && d.status !== "pending");
        if (!original || !config) return http.error(404, "Not Found", rl, `${DOCS}#redeliver-a-delivery-for-an-app-webhook`);
        const inst = http.installations.find((i) => i.id === original.installation_id) ?? null;
        record(original.event, original.action, original.request.payload, original.guid, true, inst, original.repository_id);
        return http.json(202, {}, rl);
      }
      return http.error(404, "Not Found", rl);
    },

    async control(req, path) {
      if (!path.startsWith("/_simulator/webhooks")) return undefined;
      const body = async () => {
        try {
          return (await req.json()) as Record<string, unknown>;
        } catch {
          return null;
        }
      };
      if (path === "/_simulator/webhooks" && req.method === "PUT") {
        const b = await body();
        if (!b || typeof b.url !== "string" || typeof b.secret !== "string" || (b.events !== undefined && !(Array.isArray(b.events) && b.events.every((e) => typeof e === "string")))) {
          return Response.json({ message: 'give {"url": "...", "secret": "...", "events"?: ["workflow_job"]}' }, { status: 400 });
        }
        api.configure({ url: b.url, secret: b.secret, ...(b.events ? { events: b.events as string[] } : {}) });
        return Response.json({ url: config!.url, events: config!.events });
      }
      if (path === "/_simulator/webhooks" && req.method === "DELETE") {
        api.configure(null);
        return new Response(null, { status: 204 });
      }
      if (path === "/_simulator/webhooks/drop" && req.method === "POST") {
        const b = await body();
        if (!b || !Number.isInteger(b.count) || (b.count as number) < 0) return Response.json({ message: 'give {"count": N}' }, { status: 400 });
        api.drop(b.count as number);
        return Response.json({ dropping });
      }
      if (path === "/_simulator/webhooks/deliveries" && req.method === "GET") return Response.json(api.deliveries());
      return undefined;
    },
  };
  return api;
}

/** A job for a runner: its runs-on labels are the runner's ("self-hosted" plus its custom labels). */
export function newJob(runner: Runner, now: number): SimulatedJob {
  const id = 20_000_000_000 + Number.parseInt(randomBytes(3).toString("hex"), 16);
  return {
    id,
    runId: 9_000_000_000 + Number.parseInt(randomBytes(3).toString("hex"), 16),
    name: "build",
    labels: ["self-hosted", ...runner.labels.filter((l) => l.type === "custom").map((l) => l.name)],
    createdAt: now,
    startedAt: null,
    completedAt: null,
    conclusion: null,
  };
}
