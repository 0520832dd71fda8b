// Label policies: what a policy lets a caller register, and which policies are refused outright.
import { describe, expect, test } from "bun:test";
import { checkLabels, compilePolicy, PolicyError, unexpectedLabels } from "../../generator/src/broker/policy.ts";
import { parsePolicies } from "../../generator/src/broker/policy-file.ts";
import type { LabelPolicy } from "../../generator/src/broker/storage/storage.ts";

const base: LabelPolicy = { userIdentity: "team-a", allowedLabels: ["team-a", "GPU"], labelPatterns: ["build-[0-9]+"], requiredLabels: [], maxRunners: 3, allowRegistrationToken: false, runnerGroupId: 2 };
const policy = (p: Partial<LabelPolicy> = {}) => compilePolicy({ ...base, ...p });

describe("label checks", () => {
  test("allows listed labels case-insensitively and GitHub's own labels always", () => {
    expect(checkLabels(policy(), ["Team-A", "gpu", "self-hosted", "Linux", "X64"])).toEqual({ ok: true, labels: ["Team-A", "gpu", "self-hosted", "Linux", "X64"] });
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

  test("adds required labels and drops case-insensitive duplicates", () => {
    expect(checkLabels(policy({ requiredLabels: ["team-a"] }), ["gpu", "GPU"])).toEqual({ ok: true, labels: ["gpu", "team-a"] });
  });

  test("finds labels a registered runner should not have", () => {
    expect(unexpectedLabels(policy(), ["self-hosted", "Linux", "team-a", "prod"])).toEqual(["prod"]);
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
    expect(refused({ labelPatterns: ["ok", "(unclosed"] })).toBe("label_patterns[1]: is not a valid regular expression");
  });
  test("refuses patterns that backtrack catastrophically or use back-references", () => {
    expect(refused({ labelPatterns: ["(a+)+"] })).toContain("nested quantifiers");
    expect(refused({ labelPatterns: ["(a)\\1"] })).toContain("back-references");
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

describe("policy files", () => {
  test("reads a YAML list in the API's shape with the API's defaults", () => {
    const [p] = parsePolicies("- user_identity: '*'\n  allowed_labels: [linux-small]\n  runner_group_id: 2\n", "test");
    expect(p).toEqual({ userIdentity: "*", allowedLabels: ["linux-small"], labelPatterns: [], requiredLabels: [], maxRunners: 10, allowRegistrationToken: false, runnerGroupId: 2 });
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
