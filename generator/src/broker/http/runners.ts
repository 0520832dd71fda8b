// /api/v1/runners: provision, list, get, refresh, remove: thin handlers over RunnerService.
import { createRoute, z } from "@hono/zod-openapi";
import { LABEL_RE, RUNNER_NAME_RE } from "../policy.ts";
import { RUNNER_STATUSES, type RunnerRecord } from "../storage/storage.ts";
import { NAME_SUFFIX_LENGTH, type RunnerService } from "../service/runners.ts";
import { problemResponse } from "./problem.ts";
import { router } from "./router.ts";

const RunnerName = z.string().regex(RUNNER_NAME_RE, "1 to 64 of letters, digits, '.', '_' and '-', starting with a letter or digit").openapi({ example: "build-7f3a" });
const Label = z.string().regex(LABEL_RE, "a runner label: 1 to 100 of letters, digits and ._:+/=@-, starting with a letter or digit");

const Org = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9-]{0,38}$/, "an organisation login: letters, digits and hyphens").openapi({ example: "acme-org" });
/** ?org=: only what is in that organisation; a runner in another one is "not found". */
const OrgQuery = z.object({ org: Org.optional().openapi({ description: "the organisation (one of the broker's): a runner in another organisation answers 404, as a missing one" }) });

// Room for the suffix the broker appends ("-" and NAME_SUFFIX_LENGTH characters) within 64.
const PREFIX_MAX = 64 - 1 - NAME_SUFFIX_LENGTH;
const RunnerNamePrefix = z
  .string()
  .regex(new RegExp(`^[A-Za-z0-9][A-Za-z0-9._-]{0,${PREFIX_MAX - 1}}$`), `1 to ${PREFIX_MAX} of letters, digits, '.', '_' and '-', starting with a letter or digit`)
  .openapi({ example: "ci-", description: `the broker names the runner: this prefix, then ${NAME_SUFFIX_LENGTH} random lowercase letters and digits (after a "-" unless the prefix ends in -, _ or .); the answer's runner_name is the name` });

export const ProvisionBody = z
  .object({
    runner_name: RunnerName.optional().openapi({ description: "the runner's name, unique in the organisation; or send runner_name_prefix instead" }),
    runner_name_prefix: RunnerNamePrefix.optional(),
    labels: z.array(Label).min(1).max(100).openapi({ example: ["self-hosted", "linux", "team-a"], description: "registered exactly as given: a JIT runner gets no label GitHub would add (self-hosted, OS, architecture) unless asked for" }),
    ephemeral: z.boolean().default(true),
    mode: z.enum(["jit", "registration_token"]).default("jit"),
    org: Org.optional().openapi({ description: "the organisation the runner is for; when given, it must be the one the identity's policy names (else 403)" }),
  })
  .strict()
  .superRefine((b, ctx) => {
    if ((b.runner_name === undefined) === (b.runner_name_prefix === undefined)) {
      ctx.addIssue({ code: "custom", path: ["runner_name"], message: "give runner_name, or runner_name_prefix for a name the broker picks: exactly one of the two" });
    }
  })
  .openapi("ProvisionRequest");

export const RunnerSchema = z
  .object({
    runner_name: z.string(),
    labels: z.array(z.string()),
    ephemeral: z.boolean(),
    mode: z.enum(["jit", "registration_token"]),
    status: z.enum(RUNNER_STATUSES),
    busy: z.boolean(),
    github_runner_id: z.number().int().nullable(),
    runner_group_id: z.number().int(),
    org: z.string().openapi({ description: "the organisation the runner is in" }),
    provisioned_by: z.string(),
    created_at: z.string(),
    updated_at: z.string(),
    last_seen_at: z.string().nullable(),
    deleted_at: z.string().nullable(),
  })
  .openapi("Runner");

const ProvisionAnswer = z
  .object({
    runner_name: z.string(),
    labels: z.array(z.string()),
    ephemeral: z.boolean(),
    mode: z.enum(["jit", "registration_token"]),
    status: z.literal("pending"),
    runner_url: z.string().openapi({ example: "https://github.com/acme-org" }),
    provisioned_by: z.string(),
    created_at: z.string(),
    encoded_jit_config: z.string().optional().openapi({ description: "JIT mode: run ./run.sh --jitconfig <this>. Returned once, never stored." }),
    github_runner_id: z.number().int().optional(),
    registration_token: z.string().optional().openapi({ description: "registration_token mode: ./config.sh --url <runner_url> --token <this>. Returned once, never stored." }),
    expires_at: z.string().optional(),
  })
  .openapi("ProvisionAnswer");

export function runnerJson(r: RunnerRecord): z.infer<typeof RunnerSchema> {
  return {
    runner_name: r.name,
    labels: r.labels,
    ephemeral: r.ephemeral,
    mode: r.mode,
    status: r.status,
    busy: r.status === "busy",
    github_runner_id: r.githubRunnerId,
    runner_group_id: r.runnerGroupId,
    org: r.org,
    provisioned_by: r.provisionedBy,
    created_at: r.createdAt.toISOString(),
    updated_at: r.updatedAt.toISOString(),
    last_seen_at: r.lastSeenAt?.toISOString() ?? null,
    deleted_at: r.deletedAt?.toISOString() ?? null,
  };
}

const json = <T extends z.ZodType>(schema: T, description: string) => ({ description, content: { "application/json": { schema } } });
const NameParam = z.object({ name: RunnerName.openapi({ param: { name: "name", in: "path" } }) });
const security = [{ bearer: [] }];
const common = { 401: problemResponse("no valid OIDC token"), 429: problemResponse("this identity's request rate is exceeded (Retry-After)") };

const provision = createRoute({
  method: "post",
  path: "/provision",
  tags: ["runners"],
  summary: "Provision a runner: a single-use JIT config (default) or a registration token",
  security,
  request: { body: { required: true, content: { "application/json": { schema: ProvisionBody } } } },
  responses: {
    201: json(ProvisionAnswer, "provisioned; the secret in this answer is shown once"),
    ...common,
    403: problemResponse("refused by policy or quota"),
    409: problemResponse("the runner name is not available (taken by anyone, here or at GitHub)"),
    415: problemResponse("the body is not application/json"),
    422: problemResponse("invalid body; detail names the field"),
    502: problemResponse("GitHub refused the broker's App"),
    503: problemResponse("GitHub unavailable (Retry-After)"),
  },
});
const list = createRoute({
  method: "get",
  path: "/",
  tags: ["runners"],
  summary: "The caller's runners",
  security,
  request: { query: OrgQuery.extend({ status: z.enum(RUNNER_STATUSES).optional() }) },
  responses: { 200: json(z.object({ runners: z.array(RunnerSchema) }), "the caller's runners only"), ...common },
});
const get = createRoute({
  method: "get",
  path: "/{name}",
  tags: ["runners"],
  summary: "One of the caller's runners",
  security,
  request: { params: NameParam, query: OrgQuery },
  responses: { 200: json(RunnerSchema, "the runner"), ...common, 404: problemResponse("no such runner of this caller") },
});
const refresh = createRoute({
  method: "post",
  path: "/{name}/refresh",
  tags: ["runners"],
  summary: "Re-read the runner from GitHub",
  security,
  request: { params: NameParam, query: OrgQuery },
  responses: { 200: json(RunnerSchema, "the runner as GitHub has it now"), ...common, 404: problemResponse("no such runner of this caller"), 503: problemResponse("GitHub unavailable") },
});
const remove = createRoute({
  method: "delete",
  path: "/{name}",
  tags: ["runners"],
  summary: "Remove the runner at GitHub, then mark it deleted",
  security,
  request: { params: NameParam, query: OrgQuery },
  responses: { 204: { description: "removed" }, ...common, 404: problemResponse("no such runner of this caller"), 409: problemResponse("the runner is running a job"), 503: problemResponse("GitHub unavailable") },
});

export function runnersRouter(service: RunnerService) {
  return router()
    .openapi(provision, async (c) => {
      const b = c.req.valid("json");
      const r = await service.provision(c.get("identity"), { runnerName: b.runner_name ?? "", ...(b.runner_name_prefix !== undefined ? { runnerNamePrefix: b.runner_name_prefix } : {}), labels: b.labels, ephemeral: b.ephemeral, mode: b.mode, ...(b.org !== undefined ? { org: b.org } : {}) });
      const base = { runner_name: r.runner.name, labels: r.runner.labels, ephemeral: r.runner.ephemeral, mode: r.runner.mode, status: "pending" as const, runner_url: r.runnerUrl, provisioned_by: r.runner.provisionedBy, created_at: r.runner.createdAt.toISOString() };
      c.header("cache-control", "no-store");
      if (r.mode === "jit") return c.json({ ...base, encoded_jit_config: r.encodedJitConfig, github_runner_id: r.runner.githubRunnerId ?? undefined }, 201);
      return c.json({ ...base, registration_token: r.registrationToken, expires_at: r.expiresAt }, 201);
    })
    .openapi(list, async (c) => {
      const { status, org } = c.req.valid("query");
      return c.json({ runners: (await service.list(c.get("identity"), status, org)).map(runnerJson) }, 200);
    })
    .openapi(get, async (c) => c.json(runnerJson(await service.get(c.get("identity"), c.req.valid("param").name, "runner.get", c.req.valid("query").org)), 200))
    .openapi(refresh, async (c) => c.json(runnerJson(await service.refresh(c.get("identity"), c.req.valid("param").name, c.req.valid("query").org)), 200))
    .openapi(remove, async (c) => {
      await service.remove(c.get("identity"), c.req.valid("param").name, c.req.valid("query").org);
      return c.body(null, 204);
    });
}
