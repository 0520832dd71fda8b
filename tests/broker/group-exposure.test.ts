// Why a runner group reaches more than its policies name (service/group-isolation.ts), decided in one
// place: each reason on its own, and what is not a reason (a policy that names no workflows does not
// ask for a workflow restriction, which needs GitHub Enterprise Cloud).
import { describe, expect, test } from "bun:test";
import type { RunnerGroupSettings } from "../../generator/src/broker/github-runner-groups.ts";
import { exposureReasons, managedGroupName } from "../../generator/src/broker/service/group-isolation.ts";
import type { LabelPolicy } from "../../generator/src/broker/storage/storage.ts";

const WF = "acme-org/api/.github/workflows/ci.yml@refs/heads/main";
const isolated: RunnerGroupSettings = { id: 2, name: "brokered", visibility: "selected", default: false, allowsPublicRepositories: false, restrictedToWorkflows: true, selectedWorkflows: [WF] };
const policy = (p: Partial<LabelPolicy> = {}): LabelPolicy => ({ userIdentity: "acme", allowedLabels: [], labelPatterns: [], requiredLabels: [], maxRunners: 1, allowRegistrationToken: false, runnerGroupId: 2, repositories: ["acme-org/api"], workflows: [WF], ...p });

describe("exposure reasons", () => {
  test("an isolated group has none", () => {
    expect(exposureReasons(isolated, [policy()], { admitted: [9001], allowed: new Set([9001]) })).toEqual([]);
  });

  test("each widening is its own reason", () => {
    expect(exposureReasons({ ...isolated, visibility: "all" }, [policy()])).toEqual(["visibility_all"]);
    expect(exposureReasons({ ...isolated, visibility: "private" }, [policy()])).toEqual(["visibility_private"]);
    expect(exposureReasons({ ...isolated, visibility: "somewhere-new" }, [policy()])).toEqual(["visibility_all"]);
    expect(exposureReasons({ ...isolated, allowsPublicRepositories: true }, [policy()])).toEqual(["public_repositories"]);
    expect(exposureReasons(isolated, [policy()], { admitted: [9001, 9002], allowed: new Set([9001]) })).toEqual(["other_repositories"]);
    expect(exposureReasons({ ...isolated, restrictedToWorkflows: false }, [policy()])).toEqual(["unrestricted_workflows"]);
    expect(exposureReasons({ ...isolated, selectedWorkflows: [WF, "acme-org/web/.github/workflows/x.yml@main"] }, [policy()])).toEqual(["other_workflows"]);
  });

  test("the policies of a group count together, and none naming workflows asks for no restriction", () => {
    const other = "acme-org/web/.github/workflows/x.yml@main";
    expect(exposureReasons({ ...isolated, selectedWorkflows: [WF, other] }, [policy(), policy({ userIdentity: "web", workflows: [other] })])).toEqual([]);
    expect(exposureReasons({ ...isolated, restrictedToWorkflows: false, selectedWorkflows: [] }, [policy({ workflows: [] })])).toEqual([]);
  });

  test("a managed group's name carries no identity text and is stable", () => {
    expect(managedGroupName("repo:acme-org/api:ref:refs/heads/main")).toMatch(/^broker-[0-9a-f]{16}$/);
    expect(managedGroupName("a")).toBe(managedGroupName("a"));
    expect(managedGroupName("a")).not.toBe(managedGroupName("b"));
  });
});
