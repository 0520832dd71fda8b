// The trust policies' admin API and POLICY_FILE, against the compiled broker: administrators only,
// every change audited, a bad policy refused naming the field, and policies from the file applied
// at start as the API would.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { ADMIN, ALICE, AUDIENCE, runBroker, startBroker, startWorld, type Broker, type World } from "./harness.ts";

const K8S = "https://kubernetes.default.svc.cluster.local";
const policy = (over: Record<string, unknown> = {}) => ({
  name: "team-a-deployer",
  issuer: K8S,
  audience: AUDIENCE,
  subject: "system:serviceaccount:team-a:deployer",
  claims: { "kubernetes.io.namespace": "team-a" },
  owner: "acme-org",
  repositories: ["api"],
  permissions: { contents: "read" },
  ...over,
});

let w: World;
let b: Broker;
let admin: string;

beforeAll(async () => {
  w = await startWorld();
  const file = join(w.dir, "policies.yaml");
  writeFileSync(
    file,
    `label_policies:
  - user_identity: "${ALICE}"
    allowed_labels: [linux]
    runner_group_id: 2
trust_policies:
  - name: from-file
    issuer: ${K8S}
    audience: ${AUDIENCE}
    subject_pattern: "system:serviceaccount:team-b:[a-z-]+"
    owner: acme-org
    repositories: "*"
    permissions: {contents: read}
    mode: audit
`,
  );
  b = await startBroker(w.env({ POLICY_FILE: file }));
  admin = await w.token(ADMIN);
}, 30_000);
afterAll(async () => {
  await b?.stop();
  await w?.close();
});

describe("the trust policies' admin API", () => {
  test("POLICY_FILE's trust_policies are applied at start, beside its label policies", async () => {
    const r = await b.call("GET", "/api/v1/admin/trust-policies/from-file", { token: admin });
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ name: "from-file", subject_pattern: "system:serviceaccount:team-b:[a-z-]+", repositories: "*", mode: "audit", claims: {}, claim_patterns: {} });
    expect((await b.call("GET", `/api/v1/admin/label-policies/${encodeURIComponent(ALICE)}`, { token: admin })).status).toBe(200);
  });

  test("create (201), replace (200), read, list, delete (204), each audited with the administrator's identity", async () => {
    expect((await b.call("POST", "/api/v1/admin/trust-policies", { token: admin, body: policy() })).status).toBe(201);
    const replaced = await b.call("POST", "/api/v1/admin/trust-policies", { token: admin, body: policy({ permissions: { contents: "write" } }) });
    expect(replaced.status).toBe(200);
    expect(replaced.json.permissions).toEqual({ contents: "write" });
    expect(replaced.json.mode).toBe("enforce");
    const list = await b.call("GET", "/api/v1/admin/trust-policies", { token: admin });
    expect(list.json.policies.map((p: { name: string }) => p.name)).toEqual(["from-file", "team-a-deployer"]);
    expect((await b.call("DELETE", "/api/v1/admin/trust-policies/team-a-deployer", { token: admin })).status).toBe(204);
    expect((await b.call("GET", "/api/v1/admin/trust-policies/team-a-deployer", { token: admin })).status).toBe(404);
    expect((await b.call("DELETE", "/api/v1/admin/trust-policies/team-a-deployer", { token: admin })).status).toBe(404);
    const audit = (await b.call("GET", `/api/v1/admin/audit-log?user=${encodeURIComponent(ADMIN)}`, { token: admin })).json.records;
    expect(audit.filter((r: { action: string }) => r.action.startsWith("trust_policy.")).map((r: { action: string; details: { created?: boolean } }) => `${r.action}:${r.details.created ?? ""}`)).toEqual(["trust_policy.delete:", "trust_policy.put:false", "trust_policy.put:true"]);
  });

  test("a caller who is not an administrator is refused (403) and nothing changes", async () => {
    const alice = await w.token(ALICE);
    const r = await b.call("POST", "/api/v1/admin/trust-policies", { token: alice, body: policy({ name: "sneaky" }) });
    expect(r.status).toBe(403);
    expect((await b.call("GET", "/api/v1/admin/trust-policies/sneaky", { token: admin })).status).toBe(404);
  });

  test("a bad policy is 422 naming the field", async () => {
    for (const [body, field] of [
      [policy({ subject_pattern: "team-a)|(.*" }), "subject"],
      [policy({ subject: undefined, subject_pattern: "system:serviceaccount:team-a:x)|(.*" }), "subject_pattern"],
      [policy({ permissions: { contents: "admin" } }), "permissions.contents"],
      [policy({ issuer: "https://token.actions.githubusercontent.com", subject: undefined, subject_pattern: "repo:.*" }), "claims"],
      [policy({ repositories: [] }), "repositories"],
      [policy({ name: "Has Spaces" }), "name"],
      [policy({ mode: "maybe" }), "mode"],
      [policy({ unknown_field: 1 }), ""],
    ] as const) {
      const r = await b.call("POST", "/api/v1/admin/trust-policies", { token: admin, body });
      expect([field, r.status]).toEqual([field, 422]);
      if (field) expect(r.json.field).toBe(field);
    }
  });

  test("`policies apply` takes a file with trust policies, as the API would", async () => {
    const file = join(w.dir, "apply.yaml");
    writeFileSync(file, `trust_policies:\n  - ${JSON.stringify(policy({ name: "applied" }))}\n`);
    const r = await runBroker(["policies", "apply", file], b.env);
    expect([r.code, r.stdout]).toEqual([0, "created trust policy applied\n"]);
    const bad = join(w.dir, "bad.yaml");
    writeFileSync(bad, `trust_policies:\n  - ${JSON.stringify(policy({ name: "bad", subject_pattern: "a)|(.*", subject: undefined }))}\n`);
    const refused = await runBroker(["policies", "apply", bad], b.env);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain("trust_policies.0.subject_pattern");
  });
});
