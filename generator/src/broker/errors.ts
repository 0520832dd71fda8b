// The broker's typed errors: a code, a message that says what to do, and optional facts (a
// Retry-After, the refused labels). The service layer throws them; http/problem.ts turns each
// into an RFC 9457 problem document in one place. Messages never carry a secret or text from
// GitHub, an issuer or a caller's token.
export const BROKER_ERRORS = {
  unauthenticated: { status: 401, title: "Unauthenticated" },
  forbidden: { status: 403, title: "Forbidden" },
  policy_denied: { status: 403, title: "Refused by policy" },
  quota_exceeded: { status: 403, title: "Runner quota exceeded" },
  no_trust_policy: { status: 403, title: "No trust policy matches" },
  trust_policy_audit_only: { status: 403, title: "Trust policy in audit mode" },
  not_found: { status: 404, title: "Not found" },
  name_taken: { status: 409, title: "Runner name not available" },
  runner_busy: { status: 409, title: "Runner busy" },
  invalid_request: { status: 422, title: "Invalid request" },
  webhook_unsigned: { status: 401, title: "Unsigned webhook delivery" },
  webhook_bad_signature: { status: 401, title: "Webhook signature does not match" },
  webhook_replayed: { status: 409, title: "Webhook delivery already received" },
  payload_too_large: { status: 413, title: "Payload too large" },
  unsupported_media_type: { status: 415, title: "Unsupported media type" },
  rate_limited: { status: 429, title: "Too many requests" },
  github_misconfigured: { status: 502, title: "GitHub refused the broker" },
  runner_group_missing: { status: 502, title: "Runner group missing at GitHub" },
  github_unavailable: { status: 503, title: "GitHub unavailable" },
  issuer_unavailable: { status: 503, title: "OIDC issuer unavailable" },
  database_unavailable: { status: 503, title: "Database unavailable" },
  not_ready: { status: 503, title: "Not ready" },
  internal: { status: 500, title: "Internal error" },
} as const;

export type BrokerErrorCode = keyof typeof BROKER_ERRORS;

export interface BrokerErrorFacts {
  retryAfterSeconds?: number;
  /** extra members of the problem document (RFC 9457 extensions), e.g. refused_labels */
  extensions?: Record<string, unknown>;
}

export class BrokerError extends Error {
  override readonly name = "BrokerError";
  constructor(
    readonly code: BrokerErrorCode,
    message: string,
    readonly facts: BrokerErrorFacts = {},
  ) {
    super(message);
  }
  get status(): number {
    return BROKER_ERRORS[this.code].status;
  }
}

/**
 * A runner name that is taken, by anyone: the caller's own runner, another identity's, or one at
 * GitHub the broker did not make. Runner names are unique per org at GitHub, so the conflict cannot
 * be hidden the way someone else's runner is hidden behind "not found"; one answer for every case
 * says no more than that, and never whose name it is.
 */
export function nameNotAvailable(name: string): BrokerError {
  return new BrokerError("name_taken", `the runner name "${name}" is not available: choose another runner_name, or send runner_name_prefix and the broker picks a free name`);
}
