// The one place where the conformance check (conformance.ts) departs from GitHub's OpenAPI description,
// each entry with its reason. Nothing is silenced in bulk: a flaw names one spot of one description and
// the value found there (if the description changes, the entry fails loudly and must be revisited), and
// a status the description does not list is allowed for one operation, with the GitHub page that
// promises it, and its body is still checked against GitHub's error schema.
type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);

/** A mistake of the description itself, corrected at one JSON pointer. */
export interface DescriptionFlaw {
  descriptions: string[];
  /** JSON pointer into the description */
  pointer: string;
  /** what the description says there now (checked: a fixed description makes the entry fail) */
  found: (value: unknown) => boolean;
  /** the corrected value */
  corrected: (value: Json) => Json;
  reason: string;
}

export const DESCRIPTION_FLAWS: DescriptionFlaw[] = [
  {
    descriptions: ["api.github.com", "ghes-3.17"],
    pointer: "/paths/~1app~1installations/get/responses/200/content/application~1json/schema/items/properties/account",
    found: (v) => isObject(v) && Array.isArray(v.allOf) && v.allOf.length === 2 && v.anyOf === undefined,
    corrected: ({ allOf, ...rest }) => ({ ...rest, anyOf: allOf }),
    reason:
      "list-installations inlines the Installation schema with `account: allOf [Simple User, Enterprise]`, which requires " +
      "every account to be both (an Enterprise needs `slug` and `name`, a user has neither). The same object from " +
      "get-installation (#/components/schemas/installation) says `anyOf`, and GitHub's example for list-installations " +
      "shows a plain user account: https://docs.github.com/rest/apps/apps#list-installations-for-the-authenticated-app",
  },
];

/** Corrects the description's known flaws in place; throws when a flaw is no longer there. */
export function applyDescriptionFlaws(name: string, doc: Json): void {
  for (const flaw of DESCRIPTION_FLAWS.filter((f) => f.descriptions.includes(name))) {
    const keys = flaw.pointer.slice(1).split("/").map((k) => k.replace(/~1/g, "/").replace(/~0/g, "~"));
    const last = keys.pop()!;
    const parent = keys.reduce<unknown>((o, k) => (isObject(o) ? o[k] : undefined), doc);
    const value = isObject(parent) ? parent[last] : undefined;
    if (!isObject(parent) || !isObject(value) || !flaw.found(value)) {
      throw new Error(`description-flaws.ts: the flaw at ${flaw.pointer} is no longer in ${name}; remove or update its entry (${flaw.reason.slice(0, 80)}...)`);
    }
    parent[last] = flaw.corrected(value);
  }
}

/** A status GitHub answers for an operation whose description does not list it, promised in prose. */
export interface ProseStatus {
  operationId: string;
  status: number;
  /** the description's schema the body must match (GitHub's error bodies) */
  schema: "basic-error" | "validation-error-simple";
  /** the GitHub page that promises this answer */
  doc: string;
  reason: string;
}

// GitHub's description lists, per operation, the statuses its reference page shows; many pages leave out
// the answers every endpoint can give. Each group below names the operations it applies to one by one.
const RUNNER_OPERATIONS = [
  "actions/list-self-hosted-runners-for-org",
  "actions/get-self-hosted-runner-for-org",
  "actions/delete-self-hosted-runner-from-org",
  "actions/generate-runner-jitconfig-for-org",
  "actions/create-registration-token-for-org",
  "actions/list-self-hosted-runner-groups-for-org",
  "actions/get-self-hosted-runner-group-for-org",
  "actions/list-self-hosted-runners-in-group-for-org",
  "actions/create-self-hosted-runner-group-for-org",
  "actions/update-self-hosted-runner-group-for-org",
  "actions/list-repo-access-to-self-hosted-runner-group-in-org",
  "actions/set-repo-access-to-self-hosted-runner-group-in-org",
];

/** 422 for a selected workflow without a ref: the description's own words for selected_workflows. */
const WORKFLOW_WITHOUT_REF = {
  status: 422,
  schema: "basic-error",
  doc: "https://docs.github.com/rest/actions/self-hosted-runner-groups#update-a-self-hosted-runner-group-for-an-organization",
  reason:
    "selected_workflows: \"Name of workflow the runner group should be allowed to run. Note that a ref, tag, or long SHA is " +
    "required\" (the description of the field); GitHub refuses a body that breaks it with 422 Validation Failed, as it does " +
    "for every body it cannot accept (https://docs.github.com/rest/using-the-rest-api/troubleshooting-the-rest-api#validation-failed)",
} as const;

/** 401 for a missing, expired, revoked or undecodable credential, or the wrong kind of credential. */
const UNAUTHENTICATED = {
  status: 401,
  schema: "basic-error",
  doc: "https://docs.github.com/rest/authentication/authenticating-to-the-rest-api#failed-login-limit",
  reason:
    "GitHub: authenticating with invalid credentials returns 401 Unauthorized; an App's JWT where an installation token is " +
    "needed (and the reverse) is refused the same way (\"A JSON web token could not be decoded\", octokit/auth-app.js#375)",
} as const;

/** 403 for an installation token without the operation's permission, with x-accepted-github-permissions. */
const NOT_PERMITTED = {
  status: 403,
  schema: "basic-error",
  doc: "https://docs.github.com/apps/creating-github-apps/registering-a-github-app/choosing-permissions-for-a-github-app#choosing-permissions-for-rest-api-access",
  reason:
    "GitHub: \"If your app makes a REST API request with insufficient permissions, the API will return a 403 response\" " +
    "(\"Resource not accessible by integration\", https://docs.github.com/rest/using-the-rest-api/troubleshooting-the-rest-api#resource-not-accessible)",
} as const;

/** 404 for what does not exist or the credential cannot see: an account, an organization, a runner, a group. */
const NOT_FOUND = {
  status: 404,
  schema: "basic-error",
  doc: "https://docs.github.com/rest/using-the-rest-api/troubleshooting-the-rest-api#404-not-found-for-an-existing-resource",
  reason:
    "GitHub answers 404 Not Found for a resource that does not exist or that the credential may not see (it uses 404, " +
    "not 403, so as not to confirm what exists); the description lists only the success for these operations, e.g. " +
    "only 200 for get-self-hosted-runner-for-org, whose {runner_id} can name a runner that was deleted",
} as const;

export const PROSE_STATUSES: ProseStatus[] = [
  ...[
    "apps/get-authenticated",
    "apps/list-installations",
    "apps/get-installation",
    "apps/get-org-installation",
    "apps/get-user-installation",
    "apps/get-repo-installation",
    "apps/revoke-installation-access-token",
    "apps/list-webhook-deliveries",
    "apps/redeliver-webhook-delivery",
    ...RUNNER_OPERATIONS,
  ].map((operationId) => ({ operationId, ...UNAUTHENTICATED })),
  ...RUNNER_OPERATIONS.map((operationId) => ({ operationId, ...NOT_PERMITTED })),
  ...["actions/create-self-hosted-runner-group-for-org", "actions/update-self-hosted-runner-group-for-org"].map((operationId) => ({ operationId, ...WORKFLOW_WITHOUT_REF })),
  // An unknown organization for all of them; an unknown runner or group for those that name one.
  // A delivery id the App's log does not hold, for redelivery.
  ...["apps/get-org-installation", "apps/get-user-installation", "apps/redeliver-webhook-delivery", ...RUNNER_OPERATIONS.filter((o) => o !== "actions/generate-runner-jitconfig-for-org" && o !== "actions/create-self-hosted-runner-group-for-org")].map(
    (operationId) => ({ operationId, ...NOT_FOUND }),
  ),
];

export function proseStatus(operationId: string, status: number): ProseStatus | undefined {
  return PROSE_STATUSES.find((p) => p.operationId === operationId && p.status === status);
}
