// POST /api/v1/tokens: a caller's OIDC token (any issuer a trust policy names) exchanged for a
// GitHub App installation token narrowed to what its trust policy grants and it asks for. A thin
// handler over TokenService (service/tokens.ts); authentication (verifying the token against its
// issuer, http/auth.ts authenticateExchange) and the per-identity rate are middleware.
import { createRoute, z } from "@hono/zod-openapi";
import type { PermissionLevel } from "../../core/permissions.ts";
import type { TokenService } from "../service/tokens.ts";
import { problemResponse } from "./problem.ts";
import { router } from "./router.ts";

export const TokenRequestBody = z
  .object({
    owner: z.string().min(1).max(39).optional().openapi({ example: "acme-org", description: "the account; may be left out when the matching trust policy grants one" }),
    repositories: z.array(z.string().min(1).max(140)).max(500).optional().openapi({ example: ["api", "acme-org/web"], description: "repo or owner/repo, as ghapp-token's REPOSITORIES; left out: all the policy grants" }),
    permissions: z.record(z.string().max(64), z.enum(["read", "write", "admin"])).optional().openapi({ example: { contents: "read" }, description: "names and levels as ghapp-token's PERMISSIONS; left out: all the policy grants" }),
  })
  .strict()
  .openapi("TokenRequest");

export const TokenAnswer = z
  .object({
    token: z.string().openapi({ description: "the installation token; handed to this caller only, never logged or stored" }),
    expires_at: z.string().openapi({ example: "2026-12-07T11:00:00Z", description: "GitHub's expiry (ISO 8601); at least 30 minutes ahead" }),
    owner: z.string().openapi({ example: "acme-org" }),
    installation_id: z.number().int(),
    permissions: z.record(z.string(), z.string()).openapi({ example: { contents: "read", metadata: "read" }, description: "as GitHub granted them" }),
    repositories: z.array(z.string()).nullable().openapi({ example: ["acme-org/api"], description: "owner/name of each repository; null: all the installation's" }),
    repository_selection: z.enum(["all", "selected"]),
  })
  .openapi("InstallationToken");

const exchange = createRoute({
  method: "post",
  path: "/",
  tags: ["tokens"],
  summary: "Exchange an OIDC token for an installation token, narrowed to the intersection of the caller's trust policy and its request",
  security: [{ bearer: [] }],
  // The body may be left out (everything the policy grants); one that is sent is JSON.
  request: { body: { required: false, content: { "application/json": { schema: TokenRequestBody } } } },
  responses: {
    201: { description: "the token", content: { "application/json": { schema: TokenAnswer } } },
    401: problemResponse("no valid OIDC token (unauthenticated): wrong issuer, audience, signature or times"),
    403: problemResponse("no trust policy matches (no_trust_policy), the only match is in audit mode (trust_policy_audit_only), or the request asks beyond the policy (policy_denied, with `refused` naming exactly what)"),
    413: problemResponse("body over 64 KiB"),
    415: problemResponse("a body that is not application/json"),
    422: problemResponse("invalid body (unknown permission, bad repository name), or GitHub refused the scope"),
    429: problemResponse("over the per-identity rate (TOKEN_RATE_LIMIT) or new-token rate (TOKEN_MINT_RATE_LIMIT); Retry-After"),
    502: problemResponse("GitHub refused the App (no installation for the owner, credentials)"),
    503: problemResponse("GitHub or the issuer unavailable; Retry-After"),
  },
});

export function tokensRouter(service: TokenService) {
  return router().openapi(exchange, async (c) => {
    const b = (c.req.valid("json") as z.infer<typeof TokenRequestBody> | undefined) ?? {};
    const t = await service.exchange(c.get("caller"), {
      ...(b.owner !== undefined ? { owner: b.owner } : {}),
      ...(b.repositories !== undefined ? { repositories: b.repositories } : {}),
      ...(b.permissions !== undefined ? { permissions: b.permissions as Record<string, PermissionLevel> } : {}),
    });
    c.header("cache-control", "no-store");
    return c.json(
      {
        token: t.token,
        expires_at: t.expiresAt,
        owner: t.owner,
        installation_id: t.installationId,
        permissions: t.permissions,
        repositories: t.repositories,
        repository_selection: t.repositorySelection as "all" | "selected",
      },
      201,
    );
  });
}
