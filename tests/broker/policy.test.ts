// Label policies: what a policy lets a caller register, and which policies are refused outright.
import { describe, expect, test } from "bun:test";
import { checkLabels, compilePolicy, PolicyError, unexpectedLabels } from "../../generator/src/broker/policy.ts";
import { parsePolicies } from "../../generator/src/broker/policy-file.ts";
import type { LabelPolicy } from "../../generator/src/broker/storage/storage.ts";

const base: LabelPolicy = { userIdentity: "team-a", allowedLabels: ["team-a", "GPU"], labelPatterns: ["build-[0-9]+"], requiredLabels: [], maxRunners: 3, allowRegistrationToken: false, runnerGroupId: 2 };
const policy = (p: Partial<LabelPolicy> = {}) => compilePolicy({ ...base, ...p });

describe("label checks", () => {
  test("allows listed labels case-insensitively, and self-hosted without being listed", () => {
    expect(checkLabels(policy(), ["Team-A", "gpu", "self-hosted", "Self-Hosted"])).toEqual({ ok: true, labels: ["Team-A", "gpu", "self-hosted"] });
  });

  test("OS and architecture labels pass only when the policy allows them, like any other label", () => {
    expect(checkLabels(policy(), ["team-a", "Linux", "X64", "macOS", "arm64", "windows"])).toEqual({ ok: false, refused: ["Linux", "X64", "macOS", "arm64", "windows"] });
    expect(checkLabels(policy({ allowedLabels: ["team-a", "linux"], labelPatterns: ["x64|arm64"] }), ["team-a", "Linux", "ARM64"])).toEqual({ ok: true, labels: ["team-a", "Linux", "ARM64"] });
  });

  test("refuses a label that is neither listed nor matched, and names it", () => {
    expect(checkLabels(policy(), ["team-a", "prod-deploy"])).toEqual({ ok: false, refused: ["prod-deploy"] });
  });

  test("anchors patterns as a whole: a prefix or suffix around a match is refused", () => {
    expect(checkLabels(policy(), ["build-42"]).ok).toBe(true);
    expect(checkLabels(policy(), ["xbuild-42"]).ok).toBe(false);
    expect(checkLabels(policy(), ["build-42-prod"]).ok).toBe(false);
    // An alternation cannot escape the anchors either.
    expect(checkLabels(policy({ labelPatterns: ["a|b"] }), ["a-evil"]).ok).toBe(false);
  });

  test("keeps whole-label anchoring against every operator that could break out of it", () => {
    // One pattern per operator (octo-sts shipped `main|develop` matching `main-attacker`, PR #1643).
    const cases: [string, string[], string[]][] = [
      ["team-a|team-b", ["team-a", "team-b"], ["team-a-prod", "xteam-b"]],
      ["(team-a)", ["team-a"], ["team-a2"]],
      ["(?:gpu|cpu)-[0-9]+", ["gpu-1", "CPU-22"], ["gpu-1x", "tpu-1"]],
      ["team-[a-c]?", ["team-", "team-b"], ["team-d", "team-bb"]],
      ["a.*", ["a", "a-anything"], ["ba"]],
    ];
    for (const [pattern, good, bad] of cases) {
      const p = policy({ labelPatterns: [pattern] });
      for (const l of good) expect([pattern, l, checkLabels(p, [l]).ok]).toEqual([pattern, l, true]);
      for (const l of bad) expect([pattern, l, checkLabels(p, [l]).ok]).toEqual([pattern, l, false]);
    }
  });

  test("matches in linear time: patterns that backtrack catastrophically in JavaScript check 100 labels in milliseconds", () => {
    const labels = Array.from({ length: 100 }, (_, i) => `${"a".repeat(90)}${i}c`);
    for (const pattern of ["((a)+)+b", "(a|a)*b", ".*.*.*.*.*.*.*x", "(a+)+"]) {
      const p = policy({ allowedLabels: [], labelPatterns: [pattern] });
      const started = performance.now();
      const decision = checkLabels(p, labels);
      // Seconds to a minute with backtracking; far under a second without.
      expect([pattern, decision.ok, performance.now() - started < 1000]).toEqual([pattern, false, true]);
    }
  });

  test("adds required labels and drops case-insensitive duplicates", () => {
    expect(checkLabels(policy({ requiredLabels: ["team-a"] }), ["gpu", "GPU"])).toEqual({ ok: true, labels: ["gpu", "team-a"] });
  });

  test("finds labels a registered runner should not have, GitHub's read-only ones included", () => {
    expect(unexpectedLabels(policy(), ["self-hosted", "Linux", "team-a", "prod"])).toEqual(["Linux", "prod"]);
  });
});

describe("policy validation", () => {
  const refused = (p: Partial<LabelPolicy>) => {
    try {
      compilePolicy({ ...base, ...p });
    } catch (e) {
      return e instanceof PolicyError ? `${e.field}: ${e.message}` : `other: ${String(e)}`;
    }
    return "accepted";
  };
  test("refuses an invalid regular expression, naming the pattern", () => {
    expect(refused({ labelPatterns: ["ok", "(unclosed"] })).toStartWith("label_patterns[1]: is not a regular expression the broker accepts");
  });
  test("refuses a pattern that closes the anchoring group itself, which would allow every label", () => {
    expect(refused({ labelPatterns: ["team-x)|(?:.*"] })).toStartWith("label_patterns[0]: is not a regular expression the broker accepts");
  });
  test("refuses back-references and look-around, which no linear-time engine runs", () => {
    expect(refused({ labelPatterns: ["(a)\\1"] })).toStartWith("label_patterns[0]: is not a regular expression the broker accepts");
    expect(refused({ labelPatterns: ["(?=team)team-.*"] })).toStartWith("label_patterns[0]: is not a regular expression the broker accepts");
    expect(refused({ labelPatterns: ["x".repeat(201)] })).toBe("label_patterns[0]: a pattern is 1..200 characters");
  });
  test("refuses short patterns that compile to large programs, alone or together, which would make every check slow", () => {
    expect(refused({ labelPatterns: ["(?:a?){1000}"] })).toStartWith("label_patterns[0]: compiles to 2002 RE2 instructions, more than 300");
    expect(refused({ labelPatterns: Array.from({ length: 5 }, (_, i) => `(?:[a-z0-9-]{0,20}){5}${i}`) })).toStartWith("label_patterns: the patterns compile to");
    expect(refused({ labelPatterns: ["[a-z0-9-]{1,100}", "build-[0-9]+"] })).toBe("accepted");
  });
  test("refuses a required label the policy itself does not allow", () => {
    expect(refused({ requiredLabels: ["other"] })).toContain('required label "other" is not allowed');
  });
  test("refuses labels GitHub would not take and a negative quota", () => {
    expect(refused({ allowedLabels: ["has space"] })).toStartWith("allowed_labels[0]");
    expect(refused({ maxRunners: -1 })).toStartWith("max_runners");
    expect(refused({ runnerGroupId: 0 })).toStartWith("runner_group_id");
  });
});

describe("repositories and workflows", () => {
  test("a policy may name its repositories and workflows as GitHub writes them", () => {
    const p = policy({ repositories: ["acme-org/api"], workflows: ["acme-org/api/.github/workflows/ci.yml@refs/heads/main", "acme-org/api/.github/workflows/deploy.yaml@v1"] });
    expect(p.source.workflows).toHaveLength(2);
  });

  test("a repository without its owner, or a workflow without a ref, is refused naming the entry", () => {
    expect(() => policy({ repositories: ["api"] })).toThrow(expect.objectContaining({ field: "repositories[0]" }));
    expect(() => policy({ workflows: ["acme-org/api/.github/workflows/ci.yml"] })).toThrow(expect.objectContaining({ field: "workflows[0]" }));
    expect(() => policy({ workflows: ["ci.yml@main"] })).toThrow(PolicyError);
  });
});

describe("policy files", () => {
  test("reads a YAML list in the API's shape with the API's defaults", () => {
    const [p] = parsePolicies("- user_identity: '*'\n  allowed_labels: [linux-small]\n  runner_group_id: 2\n", "test");
    expect(p).toEqual({ userIdentity: "*", allowedLabels: ["linux-small"], labelPatterns: [], requiredLabels: [], maxRunners: 10, allowRegistrationToken: false, runnerGroupId: 2, repositories: [], workflows: [] });
  });
  test("a policy without runner_group_id takes DEFAULT_RUNNER_GROUP_ID, and is refused without it (never group 1 by accident)", () => {
    expect(parsePolicies("- user_identity: a\n", "f", 7)[0]!.runnerGroupId).toBe(7);
    expect(() => parsePolicies("- user_identity: a\n  runner_group_id: 2\n- user_identity: b\n", "POLICY_FILE p.yaml")).toThrow(/POLICY_FILE p.yaml: 1.runner_group_id \(the policy for "b"\) is required.*DEFAULT_RUNNER_GROUP_ID/);
  });
  test("refuses an unknown key, naming where it is", () => {
    expect(() => parsePolicies("- user_identity: a\n  allowed_lables: [x]\n", "POLICY_FILE p.yaml")).toThrow(/POLICY_FILE p.yaml: 0/);
  });
  test("refuses two policies for one identity", () => {
    expect(() => parsePolicies("- user_identity: a\n- user_identity: a\n", "f", 2)).toThrow(/appears twice/);
  });
});
