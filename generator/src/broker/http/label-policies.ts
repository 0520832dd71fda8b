// /api/v1/admin/label-policies: create or replace, list, get, delete: thin handlers over PolicyService.
import { createRoute, z } from "@hono/zod-openapi";
import type { LabelPolicyRecord } from "../storage/storage.ts";
import type { PolicyInput, PolicyService } from "../service/policies.ts";
import { policyAsJson } from "../policy.ts";
import { problemResponse } from "./problem.ts";
import { router } from "./router.ts";

export const PolicyBody = z
  .object({
    user_identity: z.string().min(1).max(256).openapi({ example: "repo:acme-org/api:ref:refs/heads/main", description: '"*" is the default policy' }),
    allowed_labels: z.array(z.string().max(100)).max(500).default([]),
    label_patterns: z.array(z.string().max(200)).max(50).default([]).openapi({ description: "regular expressions, each anchored as a whole", example: ["team-a-.*"] }),
    required_labels: z.array(z.string().max(100)).max(100).default([]),
    max_runners: z.number().int().min(0).max(10_000).default(10),
    allow_registration_token: z.boolean().default(false),
    runner_group_id: z
      .number()
      .int()
      .min(1)
      .optional()
      .openapi({ example: 2, description: "the runner group of this identity's runners (give the broker a dedicated one); when absent, the operator's DEFAULT_RUNNER_GROUP_ID, and without that the policy is refused. It must exist at GitHub." }),
    org: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9-]{0,38}$/, "an organisation login: letters, digits and hyphens")
      .optional()
      .openapi({ example: "acme-org", description: "the organisation of runner_group_id, one of the broker's (GITHUB_ORGS); optional while the broker serves one organisation" }),
    repositories: z
      .array(z.string().max(200))
      .max(100)
      .default([])
      .openapi({ example: ["acme-org/api"], description: "the repositories (owner/name) whose jobs this identity's runners serve: with MANAGE_RUNNER_GROUPS, the only repositories its runner group admits" }),
    workflows: z
      .array(z.string().max(500))
      .max(100)
      .default([])
      .openapi({
        example: ["acme-org/api/.github/workflows/ci.yml@refs/heads/main"],
        description: "the workflows (owner/repo/path@ref) this identity's runner group must be restricted to; the sync reports the group when it is not (GitHub Enterprise Cloud feature)",
      }),
  })
  .strict()
  .openapi("LabelPolicy");

const PolicyRecordSchema = PolicyBody.extend({ runner_group_id: z.number().int(), created_at: z.string(), updated_at: z.string() }).openapi("LabelPolicyRecord");

export function policyFromJson(b: z.infer<typeof PolicyBody>): PolicyInput {
  return {
    userIdentity: b.user_identity,
    allowedLabels: b.allowed_labels,
    labelPatterns: b.label_patterns,
    requiredLabels: b.required_labels,
    maxRunners: b.max_runners,
    allowRegistrationToken: b.allow_registration_token,
    ...(b.runner_group_id !== undefined ? { runnerGroupId: b.runner_group_id } : {}),
    ...(b.org !== undefined ? { org: b.org } : {}),
    repositories: b.repositories,
    workflows: b.workflows,
  };
}

export function policyJson(p: LabelPolicyRecord): z.infer<typeof PolicyRecordSchema> {
  return { ...policyAsJson(p), created_at: p.createdAt.toISOString(), updated_at: p.updatedAt.toISOString() };
}

const json = <T extends z.ZodType>(schema: T, description: string) => ({ description, content: { "application/json": { schema } } });
const security = [{ bearer: [] }];
const common = { 401: problemResponse("no valid OIDC token"), 403: problemResponse("not an administrator"), 429: problemResponse("request rate exceeded") };
const UserParam = z.object({ user: z.string().min(1).max(256).openapi({ param: { name: "user", in: "path" } }) });

const put = createRoute({
  method: "post",
  path: "/",
  tags: ["label-policies"],
  summary: "Create or replace one identity's policy",
  security,
  request: { body: { required: true, content: { "application/json": { schema: PolicyBody } } } },
  responses: { 200: json(PolicyRecordSchema, "replaced"), 201: json(PolicyRecordSchema, "created"), ...common, 415: problemResponse("the body is not application/json"), 422: problemResponse("invalid policy; detail names the field") },
});
const list = createRoute({
  method: "get",
  path: "/",
  tags: ["label-policies"],
  summary: "Every policy",
  security,
  responses: { 200: json(z.object({ policies: z.array(PolicyRecordSchema) }), "all policies"), ...common },
});
const get = createRoute({
  method: "get",
  path: "/{user}",
  tags: ["label-policies"],
  summary: "One identity's policy",
  security,
  request: { params: UserParam },
  responses: { 200: json(PolicyRecordSchema, "the policy"), ...common, 404: problemResponse("no policy for this identity") },
});
const del = createRoute({
  method: "delete",
  path: "/{user}",
  tags: ["label-policies"],
  summary: "Remove one identity's policy (its runners stay)",
  security,
  request: { params: UserParam },
  responses: { 204: { description: "removed" }, ...common, 404: problemResponse("no policy for this identity") },
});

export function labelPoliciesRouter(service: PolicyService) {
  return router()
    .openapi(put, async (c) => {
      const r = await service.put(c.get("identity"), policyFromJson(c.req.valid("json")));
      return r.created ? c.json(policyJson(r.policy), 201) : c.json(policyJson(r.policy), 200);
    })
    .openapi(list, async (c) => c.json({ policies: (await service.list()).map(policyJson) }, 200))
    .openapi(get, async (c) => c.json(policyJson(await service.get(c.req.valid("param").user)), 200))
    .openapi(del, async (c) => {
      await service.delete(c.get("identity"), c.req.valid("param").user);
      return c.body(null, 204);
    });
}
