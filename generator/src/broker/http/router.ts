// The one way a resource module makes its router: an OpenAPIHono whose validation failures
// become 422 problems naming the field (never zod's own text dump), and the context variables the
// authentication middleware sets.
import { OpenAPIHono } from "@hono/zod-openapi";
import { BrokerError } from "../errors.ts";
import type { VerifiedToken } from "../trust-policy.ts";

export interface BrokerEnv {
  Variables: {
    identity: string;
    isAdmin: boolean;
    /** POST /api/v1/tokens: the verified caller (its issuer, subject and claims), never the raw token */
    caller: VerifiedToken;
  };
}

export function router(): OpenAPIHono<BrokerEnv> {
  return new OpenAPIHono<BrokerEnv>({
    defaultHook: (result) => {
      if (result.success) return;
      const issue = result.error.issues[0];
      const field = issue && issue.path.length ? issue.path.map(String).join(".") : result.target;
      const what = issue?.message ? issue.message.replace(/\s+/g, " ").slice(0, 200) : "invalid";
      throw new BrokerError("invalid_request", `${field}: ${what}`, { extensions: { field, errors: result.error.issues.slice(0, 20).map((i) => ({ field: i.path.map(String).join("."), message: i.message.slice(0, 200) })) } });
    },
  });
}
