// /api/v1/admin/trust-policies: create or replace, list, get, delete: thin handlers over
// TrustPolicyService. The body's schema is also the POLICY_FILE's `trust_policies` entries.
import { createRoute, z } from "@hono/zod-openapi";
import type { PermissionLevel } from "../../core/permissions.ts";
import type { TrustPolicyService } from "../service/trust-policies.ts";
import { trustPolicyAsJson, type TrustPolicy, type TrustPolicyRecord } from "../trust-policy.ts";
import { problemResponse } from "./problem.ts";
import { router } from "./router.ts";

const Level = z.enum(["read", "write", "admin"]);

export const TrustPolicyBody = z
  .object({
    name: z.string().min(1).max(100).openapi({ example: "team-a-deployer", description: "lowercase letters, digits and ._-" }),
    issuer: z.string().min(1).max(512).openapi({ example: "https://kubernetes.default.svc.cluster.local", description: "the token's iss, compared exactly" }),
    audience: z.string().min(1).max(256).openapi({ example: "ghapp-runner-broker", description: "a value the token's aud must hold" }),
    subject: z.string().min(1).max(512).optional().openapi({ example: "system:serviceaccount:team-a:deployer", description: "the token's sub, exactly (or subject_pattern)" }),
    subject_pattern: z.string().min(1).max(200).optional().openapi({ example: "system:serviceaccount:team-a:[a-z0-9-]+", description: "an RE2 pattern the whole sub must match, case-sensitively" }),
    claims: z.record(z.string().max(200), z.string().max(512)).default({}).openapi({ example: { "kubernetes.io.namespace": "team-a" }, description: "claim path (dots reach nested claims) → exact value" }),
    claim_patterns: z.record(z.string().max(200), z.string().max(200)).default({}).openapi({ example: { job_workflow_ref: "acme-org/deploy/\\.github/workflows/[a-z-]+\\.yml@refs/heads/main" }, description: "claim path → RE2 pattern the whole value must match, case-sensitively" }),
    owner: z.string().min(1).max(39).openapi({ example: "acme-org", description: "the account whose installation the token is for" }),
    repositories: z.union([z.literal("*"), z.array(z.string().max(100)).max(500)]).openapi({ example: ["api", "web"], description: 'repository names of the owner, or "*" for all of the installation\'s' }),
    permissions: z.record(z.string().max(64), Level).openapi({ example: { contents: "read", pull_requests: "write" }, description: "the most a token may carry; names and levels as ghapp-token's PERMISSIONS" }),
    mode: z.enum(["enforce", "audit"]).default("enforce").openapi({ description: "audit: record what would have been granted, grant nothing" }),
  })
  .strict()
  .openapi("TrustPolicy");

const TrustPolicyRecordSchema = TrustPolicyBody.extend({ created_at: z.string(), updated_at: z.string() }).openapi("TrustPolicyRecord");

export function trustPolicyFromJson(b: z.infer<typeof TrustPolicyBody>): TrustPolicy {
  return {
    name: b.name,
    issuer: b.issuer,
    audience: b.audience,
    ...(b.subject !== undefined ? { subject: b.subject } : {}),
    ...(b.subject_pattern !== undefined ? { subjectPattern: b.subject_pattern } : {}),
    claims: b.claims,
    claimPatterns: b.claim_patterns,
    owner: b.owner,
    repositories: b.repositories,
    permissions: b.permissions as Record<string, PermissionLevel>,
    mode: b.mode,
  };
}

export function trustPolicyJson(p: TrustPolicyRecord): z.infer<typeof TrustPolicyRecordSchema> {
  return { ...trustPolicyAsJson(p), created_at: p.createdAt.toISOString(), updated_at: p.updatedAt.toISOString() };
}

const json = <T extends z.ZodType>(schema: T, description: string) => ({ description, content: { "application/json": { schema } } });
const security = [{ bearer: [] }];
const common = { 401: problemResponse("no valid OIDC token"), 403: problemResponse("not an administrator"), 429: problemResponse("request rate exceeded") };
const NameParam = z.object({ name: z.string().min(1).max(100).openapi({ param: { name: "name", in: "path" } }) });

const put = createRoute({
  method: "post",
  path: "/",
  tags: ["trust-policies"],
  summary: "Create or replace one trust policy (by name)",
  security,
  request: { body: { required: true, content: { "application/json": { schema: TrustPolicyBody } } } },
  responses: { 200: json(TrustPolicyRecordSchema, "replaced"), 201: json(TrustPolicyRecordSchema, "created"), ...common, 422: problemResponse("invalid policy; detail names the field") },
});
const list = createRoute({
  method: "get",
  path: "/",
  tags: ["trust-policies"],
  summary: "Every trust policy",
  security,
  responses: { 200: json(z.object({ policies: z.array(TrustPolicyRecordSchema) }), "all trust policies, by name"), ...common },
});
const get = createRoute({
  method: "get",
  path: "/{name}",
  tags: ["trust-policies"],
  summary: "One trust policy",
  security,
  request: { params: NameParam },
  responses: { 200: json(TrustPolicyRecordSchema, "the policy"), ...common, 404: problemResponse("no trust policy of this name") },
});
const del = createRoute({
  method: "delete",
  path: "/{name}",
  tags: ["trust-policies"],
  summary: "Remove one trust policy (tokens already handed out live on until they expire)",
  security,
  request: { params: NameParam },
  responses: { 204: { description: "removed" }, ...common, 404: problemResponse("no trust policy of this name") },
});

export function trustPoliciesRouter(service: TrustPolicyService) {
  return router()
    .openapi(put, async (c) => {
      const r = await service.put(c.get("identity"), trustPolicyFromJson(c.req.valid("json")));
      return r.created ? c.json(trustPolicyJson(r.policy), 201) : c.json(trustPolicyJson(r.policy), 200);
    })
    .openapi(list, async (c) => c.json({ policies: (await service.list()).map(trustPolicyJson) }, 200))
    .openapi(get, async (c) => c.json(trustPolicyJson(await service.get(c.req.valid("param").name)), 200))
    .openapi(del, async (c) => {
      await service.delete(c.get("identity"), c.req.valid("param").name);
      return c.body(null, 204);
    });
}
