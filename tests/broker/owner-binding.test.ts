// Owner binding: which verified tokens may reach the policies at all, and the setting that widens it.
// The end-to-end attacks (a stranger's repository through the compiled broker) are in trust.test.ts.
import { describe, expect, test } from "bun:test";
import { GhappError } from "../../generator/src/core/errors.ts";
import { parseBrokerConfig } from "../../generator/src/broker/config.ts";
import { isGitHubActionsIssuer, OwnerBinding } from "../../generator/src/broker/owner-binding.ts";

const binding = () => new OwnerBinding({ orgs: ["acme-org"], allowedOwners: ["Partner-Org"] });

describe("which issuers are GitHub Actions'", () => {
  test("github.com's and a GitHub Enterprise Server's issuer, and one whose discovery lists repository_owner", () => {
    expect(isGitHubActionsIssuer("https://token.actions.githubusercontent.com", undefined)).toBe(true);
    expect(isGitHubActionsIssuer("https://token.actions.githubusercontent.com/", undefined)).toBe(true);
    expect(isGitHubActionsIssuer("https://ghes.example.com/_services/token", undefined)).toBe(true);
    expect(isGitHubActionsIssuer("http://127.0.0.1:9/oidc", ["sub", "repository_owner"])).toBe(true);
  });
  test("not a Kubernetes cluster's issuer, whose tokens carry no repository_owner", () => {
    expect(isGitHubActionsIssuer("https://kubernetes.default.svc.cluster.local", ["sub", "iss", "aud"])).toBe(false);
    expect(isGitHubActionsIssuer("https://oidc.eks.eu-west-1.amazonaws.com/id/ABC", undefined)).toBe(false);
  });
});

describe("the owner check", () => {
  test("admits the organisation and the allowed owners, whatever the case", () => {
    expect(binding().check({ repository_owner: "ACME-org" }, true)).toBeNull();
    expect(binding().check({ repository_owner: "partner-org" }, true)).toBeNull();
  });
  test("refuses another owner, naming the claim and its value", () => {
    expect(binding().check({ repository_owner: "evil-corp" }, false)).toEqual({ claim: "repository_owner", reason: "not_allowed", value: "evil-corp" });
  });
  test("refuses a token without repository_owner only from GitHub Actions' issuer", () => {
    expect(binding().check({ sub: "system:serviceaccount:ci:runner" }, false)).toBeNull();
    expect(binding().check({ sub: "repo:acme-org/api:ref:refs/heads/main" }, true)).toEqual({ claim: "repository_owner", reason: "missing" });
  });
  test("checks repository_owner_id once the organisation's id is known, and only for the organisation", () => {
    const b = binding();
    expect(b.check({ repository_owner: "acme-org", repository_owner_id: "1" }, true)).toBeNull();
    b.learnOrgId("Acme-Org", 5001);
    b.learnOrgId("partner-org", 7);
    expect(b.check({ repository_owner: "acme-org", repository_owner_id: "5001" }, true)).toBeNull();
    expect(b.check({ repository_owner: "acme-org", repository_owner_id: "1" }, true)).toEqual({ claim: "repository_owner_id", reason: "id_mismatch", value: "1" });
    expect(b.check({ repository_owner: "acme-org" }, true)).toEqual({ claim: "repository_owner_id", reason: "id_mismatch", value: "" });
    expect(b.check({ repository_owner: "partner-org", repository_owner_id: "1" }, true)).toBeNull();
  });
});

describe("ALLOWED_REPOSITORY_OWNERS", () => {
  const config = (owners: string) => parseBrokerConfig({ "allowed-repository-owners": owners }, "database");
  test("takes logins separated by commas or blanks", () => {
    expect(config("partner-org, acme-labs\nthird").allowedRepositoryOwners).toEqual(["partner-org", "acme-labs", "third"]);
  });
  test("refuses a wildcard or anything that is not a login, naming the variable (exit 2)", () => {
    for (const bad of ["*", "acme/api", "https://github.com/acme"]) {
      const e = (() => {
        try {
          config(bad);
        } catch (err) {
          return err;
        }
      })();
      expect(e).toBeInstanceOf(GhappError);
      expect((e as GhappError).exitCode).toBe(2);
      expect((e as GhappError).message).toStartWith("ALLOWED_REPOSITORY_OWNERS has");
    }
  });
});
