// runner_name_prefix when the suffix collides: the runner service on a real SQLite database, with a
// GitHub that answers 409 for names it holds and a suffix source the test controls (randomness is
// injected, as everywhere in the project). A collision is a retry with a new suffix, never a failure
// the caller sees, until the attempts run out.
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createLogger } from "../../generator/src/core/logger.ts";
import { BrokerError } from "../../generator/src/broker/errors.ts";
import type { GitHubRunner, GitHubRunnerApi } from "../../generator/src/broker/github-runners.ts";
import { BrokerMetrics } from "../../generator/src/broker/metrics.ts";
import { Baseline } from "../../generator/src/broker/service/baseline.ts";
import { PolicyService } from "../../generator/src/broker/service/policies.ts";
import { RunnerService } from "../../generator/src/broker/service/runners.ts";
import { openStorage } from "../../generator/src/broker/storage/open.ts";
import type { Storage } from "../../generator/src/broker/storage/storage.ts";

/** A GitHub holding runners by name: generate-jitconfig answers 409 for a name it has (any case), as GitHub does. */
function fakeGitHub(held: string[]): GitHubRunnerApi & { asked: string[] } {
  const runners: GitHubRunner[] = held.map((name, i) => ({ id: 900 + i, name, online: true, busy: false, ephemeral: false, runnerGroupId: 1, labels: ["x"] }));
  const asked: string[] = [];
  return {
    asked,
    async generateJitConfig(input) {
      asked.push(input.name);
      if (runners.some((r) => r.name.toLowerCase() === input.name.toLowerCase())) throw new BrokerError("name_taken", "taken");
      const runner: GitHubRunner = { id: 100 + runners.length, name: input.name, online: false, busy: false, ephemeral: true, runnerGroupId: input.runnerGroupId, labels: input.labels };
      runners.push(runner);
      return { runner, encodedJitConfig: `config-for-${input.name}` };
    },
    createRegistrationToken: async () => ({ token: "AAAAAAAAAAAAAAAAAAAAAAAAAAAAA", expiresAt: new Date().toISOString() }),
    listRunners: async () => runners,
    listGroupRunners: async (group) => runners.filter((r) => r.runnerGroupId === group),
    findRunnerByName: async (name) => runners.find((r) => r.name.toLowerCase() === name.toLowerCase()) ?? null,
    getRunner: async (id) => runners.find((r) => r.id === id) ?? null,
    deleteRunner: async () => true,
    check: async () => undefined,
    runnerGroupExists: async () => true,
  };
}

let dir: string;
let storage: Storage;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), "runner-names-"));
  storage = openStorage(`sqlite://${join(dir, "broker.db")}`);
  await storage.migrate();
});
afterEach(async () => {
  await storage.close();
  rmSync(dir, { recursive: true, force: true });
});

async function service(github: GitHubRunnerApi, suffixes: string[]) {
  const policies = new PolicyService(storage);
  for (const user of ["alice", "bob"]) await policies.put("test", { userIdentity: user, allowedLabels: ["team-a"], labelPatterns: [], requiredLabels: [], maxRunners: 10, allowRegistrationToken: false, runnerGroupId: 2 });
  const next = [...suffixes];
  return new RunnerService({
    storage,
    github,
    policies,
    baseline: new Baseline(storage, github),
    metrics: new BrokerMetrics(),
    logger: createLogger("error", {}),
    githubUrl: "https://github.com",
    org: "acme-org",
    nameSuffix: () => next.shift() ?? "zzzzzzzz",
  });
}

const jit = (prefix: string) => ({ runnerName: "", runnerNamePrefix: prefix, labels: ["team-a"], ephemeral: true, mode: "jit" as const });

describe("runner_name_prefix", () => {
  test("a suffix another identity's runner already has is retried with a new one", async () => {
    const github = fakeGitHub([]);
    const svc = await service(github, ["aaaaaaaa", "aaaaaaaa", "bbbbbbbb"]);
    expect((await svc.provision("alice", jit("ci-"))).runner.name).toBe("ci-aaaaaaaa");
    expect((await svc.provision("bob", jit("ci-"))).runner.name).toBe("ci-bbbbbbbb");
  });

  test("a name GitHub already has (a runner the broker did not make) is retried too, and that runner is left alone", async () => {
    const github = fakeGitHub(["build-cccccccc"]);
    const svc = await service(github, ["cccccccc", "dddddddd"]);
    expect((await svc.provision("alice", jit("build"))).runner.name).toBe("build-dddddddd");
    expect(github.asked).toEqual(["build-cccccccc", "build-dddddddd"]);
    expect((await github.findRunnerByName("build-cccccccc"))?.id).toBe(900);
  });

  test("after five taken names the caller gets 409 name not available, and holds nothing", async () => {
    const github = fakeGitHub(["x-11111111", "x-22222222", "x-33333333", "x-44444444", "x-55555555"]);
    const svc = await service(github, ["11111111", "22222222", "33333333", "44444444", "55555555", "66666666"]);
    const e = await svc.provision("alice", jit("x")).catch((err) => err);
    expect(e).toBeInstanceOf(BrokerError);
    expect([e.code, e.status]).toEqual(["name_taken", 409]);
    expect(github.asked).toHaveLength(5);
    expect(await svc.list("alice")).toEqual([]);
  });
});
