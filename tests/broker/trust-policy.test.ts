// Trust policies as data: what compiles, what a policy matches (anchored, case-sensitive, nested
// claims), and the intersection it grants. One test per pattern operator keeps the anchoring honest
// (octo-sts matched `main|develop` against `main-attacker` until its PR #1643).
import { describe, expect, test } from "bun:test";
import { claimAt, compileTrustPolicy, decideScope, normaliseRequest, policyMatches, TrustPolicyError, type TrustPolicy, type VerifiedToken } from "../../generator/src/broker/trust-policy.ts";

const K8S = "https://kubernetes.default.svc.cluster.local";
const base = (over: Partial<TrustPolicy> = {}): TrustPolicy => ({
  name: "p",
  issuer: K8S,
  audience: "ghapp-runner-broker",
  subject: "system:serviceaccount:team-a:deployer",
  claims: {},
  claimPatterns: {},
  owner: "acme-org",
  repositories: ["api", "web"],
  permissions: { contents: "write", pull_requests: "read" },
  mode: "enforce",
  ...over,
});
const token = (over: Partial<VerifiedToken> = {}): VerifiedToken => ({
  issuer: K8S,
  subject: "system:serviceaccount:team-a:deployer",
  audiences: ["ghapp-runner-broker"],
  claims: { "kubernetes.io": { namespace: "team-a", serviceaccount: { name: "deployer" } }, ref: "refs/heads/main" },
  ...over,
});
const refusal = (p: TrustPolicy): string => {
  try {
    compileTrustPolicy(p);
    return "compiled";
  } catch (e) {
    if (e instanceof TrustPolicyError) return e.field;
    throw e;
  }
};

describe("a pattern matches the whole claim, whatever operator it uses", () => {
  const matches = (pattern: string, ref: string) => policyMatches(compileTrustPolicy(base({ claimPatterns: { ref: pattern } })), token({ claims: { ref } }));
  test("alternation: main|develop does not match main-attacker", () => {
    expect(matches("refs/heads/main|refs/heads/develop", "refs/heads/develop")).toBe(true);
    expect(matches("refs/heads/main|refs/heads/develop", "refs/heads/main-attacker")).toBe(false);
    expect(matches("refs/heads/main|refs/heads/develop", "x-refs/heads/develop")).toBe(false);
  });
  test("a group: refs/heads/(main|release-[0-9]+) does not match a suffix", () => {
    expect(matches("refs/heads/(main|release-[0-9]+)", "refs/heads/release-12")).toBe(true);
    expect(matches("refs/heads/(main|release-[0-9]+)", "refs/heads/release-12-evil")).toBe(false);
  });
  test("a pattern that closes the group itself is refused, not unanchored", () => {
    expect(refusal(base({ claimPatterns: { ref: "refs/heads/main)|(.*" } }))).toBe("claim_patterns.ref");
  });
  test("patterns are case-sensitive: refs/heads/main does not match refs/heads/MAIN", () => {
    expect(matches("refs/heads/main", "refs/heads/MAIN")).toBe(false);
  });
  test("back-references and look-around are refused (RE2)", () => {
    expect(refusal(base({ subject: undefined, subjectPattern: "(?=system).*" }))).toBe("subject_pattern");
  });
  test("a pattern whose program is too large is refused", () => {
    expect(refusal(base({ claimPatterns: { ref: "(?:a?){400}" } }))).toBe("claim_patterns.ref");
  });
});

describe("claims", () => {
  test("a dotted path reaches nested claims, and a claim name holding a dot wins over nesting", () => {
    const claims = { "kubernetes.io": { namespace: "team-a", serviceaccount: { name: "ci" } }, kubernetes: { io: { namespace: "decoy" } } };
    expect(claimAt(claims, "kubernetes.io.namespace")).toBe("team-a");
    expect(claimAt(claims, "kubernetes.io.serviceaccount.name")).toBe("ci");
    expect(claimAt(claims, "kubernetes.io.pod.name")).toBeUndefined();
  });
  test("an exact condition on a nested claim must hold; a missing claim or an object never matches", () => {
    const p = compileTrustPolicy(base({ claims: { "kubernetes.io.namespace": "team-a" } }));
    expect(policyMatches(p, token())).toBe(true);
    expect(policyMatches(p, token({ claims: { "kubernetes.io": { namespace: "team-b" } } }))).toBe(false);
    expect(policyMatches(p, token({ claims: {} }))).toBe(false);
    expect(policyMatches(compileTrustPolicy(base({ claims: { "kubernetes.io": "[object Object]" } })), token())).toBe(false);
  });
  test("issuer and audience must be exactly the policy's", () => {
    const p = compileTrustPolicy(base());
    expect(policyMatches(p, token({ issuer: `${K8S}/` }))).toBe(false);
    expect(policyMatches(p, token({ audiences: ["other"] }))).toBe(false);
    expect(policyMatches(p, token({ audiences: ["other", "ghapp-runner-broker"] }))).toBe(true);
  });
});

describe("what compiles", () => {
  test("exactly one of subject and subject_pattern", () => {
    expect(refusal(base({ subject: undefined }))).toBe("subject");
    expect(refusal(base({ subjectPattern: "x" }))).toBe("subject");
  });
  test("a policy for GitHub Actions with a subject pattern must name the owner exactly", () => {
    const actions = base({ issuer: "https://token.actions.githubusercontent.com", subject: undefined, subjectPattern: "repo:.*:ref:refs/heads/main" });
    expect(refusal(actions)).toBe("claims");
    expect(refusal({ ...actions, claims: { repository_owner: "acme-org" } })).toBe("compiled");
  });
  test("permissions as GitHub has them, and at least one", () => {
    expect(refusal(base({ permissions: {} }))).toBe("permissions");
    expect(refusal(base({ permissions: { contnets: "read" } }))).toBe("permissions.contnets");
    expect(refusal(base({ permissions: { workflows: "read" } }))).toBe("permissions.workflows");
  });
  test("conditions may not name the policy's own fields", () => {
    expect(refusal(base({ claims: { sub: "x" } }))).toBe("claims.sub");
  });
  test("an http issuer is refused except on loopback", () => {
    expect(refusal(base({ issuer: "http://issuer.example" }))).toBe("issuer");
    expect(refusal(base({ issuer: "http://127.0.0.1:8080/oidc" }))).toBe("compiled");
  });
});

describe("the intersection", () => {
  const p = compileTrustPolicy(base());
  test("nothing asked: everything the policy grants", () => {
    expect(decideScope(p, {})).toEqual({ ok: true, scope: { owner: "acme-org", repositories: ["api", "web"], permissions: { contents: "write", pull_requests: "read" } } });
  });
  test("less asked: exactly what was asked; metadata=read is always allowed", () => {
    expect(decideScope(p, normaliseRequest({ repositories: ["acme-org/API"], permissions: { contents: "read", metadata: "read" } }))).toEqual({ ok: true, scope: { owner: "acme-org", repositories: ["api"], permissions: { contents: "read", metadata: "read" } } });
  });
  test("more asked: refused, naming exactly what", () => {
    expect(decideScope(p, { owner: "other", repositories: ["api", "infra"], permissions: { contents: "write", pull_requests: "write", issues: "read" } })).toEqual({ ok: false, refused: { owner: "other", repositories: ["infra"], permissions: { pull_requests: "write", issues: "read" } } });
  });
  test('"*" grants any repository of the installation', () => {
    expect(decideScope(compileTrustPolicy(base({ repositories: "*" })), { repositories: ["anything"] })).toMatchObject({ ok: true, scope: { repositories: ["anything"] } });
    expect(decideScope(compileTrustPolicy(base({ repositories: "*" })), {})).toMatchObject({ ok: true, scope: { repositories: null } });
  });
  test("repositories of two owners in one request are refused before any policy", () => {
    expect(() => normaliseRequest({ owner: "acme-org", repositories: ["other/x"] })).toThrow(/one account/);
  });
});
