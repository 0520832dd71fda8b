// The token exchange, end to end: the compiled broker against the GitHub simulator (which is also
// GitHub Actions' issuer) and a Kubernetes cluster's issuer whose keys reach the broker as a JWKS
// file. What a caller sees (statuses, problem bodies, the token's scope at GitHub), what GitHub
// sees (how many access_tokens calls), and what the audit log keeps.
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { expectNoSecrets } from "../helpers/secrets.ts";
import { ADMIN, AUDIENCE, logLines, runBroker, startBroker, startWorld, type Broker, type World } from "./harness.ts";
import { kubernetesIssuer, type KubernetesIssuer } from "./kubernetes-issuer.ts";

const K8S = "https://kubernetes.default.svc.cluster.local";
const OTHER_CLUSTER = "https://oidc.cluster-b.example";

let w: World;
let b: Broker;
let k8s: KubernetesIssuer;
let admin: string;
const handedOut: string[] = [];
/** the callers' OIDC tokens: secrets too */
const presented: string[] = [];

const teamA = {
  name: "team-a-deployer",
  issuer: K8S,
  audience: AUDIENCE,
  subject: "system:serviceaccount:team-a:deployer",
  claims: { "kubernetes.io.namespace": "team-a" },
  owner: "acme-org",
  repositories: ["api", "web"],
  permissions: { contents: "write", pull_requests: "write" },
};
const teamB = {
  name: "team-b-ci",
  issuer: K8S,
  audience: AUDIENCE,
  subject_pattern: "system:serviceaccount:team-b:[a-z-]+",
  claim_patterns: { "kubernetes.io.serviceaccount.name": "ci|release" },
  owner: "acme-org",
  repositories: "*",
  permissions: { contents: "read" },
};
const teamC = { name: "team-c-trial", issuer: K8S, audience: AUDIENCE, subject: "system:serviceaccount:team-c:builder", owner: "acme-org", repositories: ["api"], permissions: { issues: "write" }, mode: "audit" };

/** access_tokens calls the exchange made (it always sends permissions; the runner API's own token sends none). */
const exchangeCalls = () => w.sim.requests.filter((r) => r.method === "POST" && /^\/app\/installations\/\d+\/access_tokens$/.test(r.path) && (r.body as { permissions?: unknown } | null)?.permissions).length;

async function exchange(token: string, body: unknown = {}, broker = b) {
  presented.push(token);
  const r = await broker.call("POST", "/api/v1/tokens", { token, body });
  if (r.status === 201) handedOut.push(r.json.token);
  return r;
}

const teamAToken = (extra: Parameters<KubernetesIssuer["token"]>[0] extends infer T ? Partial<T> : never = {}) => k8s.token({ namespace: "team-a", sa: "deployer", aud: AUDIENCE, ...extra });

beforeAll(async () => {
  w = await startWorld();
  k8s = await kubernetesIssuer(K8S, join(w.dir, "cluster-a.jwks.json"));
  // Cluster B's file is a valid key set at start (checked then: exit 2 otherwise) and grows past
  // the bound afterwards, before the broker first needs it.
  writeFileSync(join(w.dir, "cluster-b.jwks.json"), readFileSync(k8s.jwksFile));
  b = await startBroker(w.env({ LOG_LEVEL: "debug", ISSUER_JWKS_FILES: `${K8S}=${k8s.jwksFile},${OTHER_CLUSTER}=${join(w.dir, "cluster-b.jwks.json")}`, TOKEN_RATE_LIMIT: "1000", TOKEN_MINT_RATE_LIMIT: "1000" }));
  writeFileSync(join(w.dir, "cluster-b.jwks.json"), JSON.stringify({ keys: [] }) + " ".repeat(300 * 1024));
  admin = await w.token(ADMIN);
  for (const p of [teamA, teamB, teamC, { ...teamA, name: "cluster-b", issuer: OTHER_CLUSTER }]) {
    const r = await b.call("POST", "/api/v1/admin/trust-policies", { token: admin, body: p });
    expect(r.status).toBe(201);
  }
}, 30_000);
afterAll(async () => {
  if (process.env.DUMP_LOGS) console.log(b?.logs());
  await b?.stop();
  await w?.close();
});
beforeEach(() => w.sim.clearFaults());

describe("a Kubernetes service account's token", () => {
  test("without a body gets an installation token with everything its policy grants, and GitHub minted exactly that", async () => {
    const r = await exchange(await teamAToken());
    expect(r.status).toBe(201);
    expect(r.headers.get("cache-control")).toBe("no-store");
    expect(r.json).toMatchObject({ owner: "acme-org", installation_id: 1001, repository_selection: "selected", permissions: { contents: "write", pull_requests: "write" } });
    expect(r.json.repositories.sort()).toEqual(["acme-org/api", "acme-org/web"]);
    expect(Date.parse(r.json.expires_at) - Date.now()).toBeGreaterThan(55 * 60_000);
    const issued = w.sim.tokens.get(r.json.token)!;
    expect(issued.permissions).toEqual({ contents: "write", pull_requests: "write" });
    expect(issued.repositories!.map((x) => x.name).sort()).toEqual(["api", "web"]);
  });

  test("a request without a body is a request for everything the policy grants; a body that is not JSON is 415", async () => {
    const token = await teamAToken();
    const none = await fetch(`${b.url}/api/v1/tokens`, { method: "POST", headers: { authorization: `Bearer ${token}` } });
    expect(none.status).toBe(201);
    const answer = (await none.json()) as { token: string; permissions: Record<string, string> };
    handedOut.push(answer.token);
    expect(answer.permissions).toEqual({ contents: "write", pull_requests: "write" });
    const text = await fetch(`${b.url}/api/v1/tokens`, { method: "POST", headers: { authorization: `Bearer ${token}`, "content-type": "text/plain" }, body: "owner=acme-org" });
    expect(text.status).toBe(415);
  });

  test("asking for less gets exactly the intersection", async () => {
    const r = await exchange(await teamAToken(), { owner: "acme-org", repositories: ["acme-org/api"], permissions: { contents: "read" } });
    expect(r.status).toBe(201);
    const issued = w.sim.tokens.get(r.json.token)!;
    expect(issued.permissions).toEqual({ contents: "read" });
    expect(issued.repositories!.map((x) => x.name)).toEqual(["api"]);
    expect(r.json.repositories).toEqual(["acme-org/api"]);
  });

  test("asking beyond the policy is 403 naming exactly what was refused, a security event, and no GitHub call", async () => {
    const before = exchangeCalls();
    const r = await exchange(await teamAToken(), { repositories: ["api", "infra"], permissions: { contents: "read", issues: "write", administration: "read" } });
    expect(r.status).toBe(403);
    expect(r.headers.get("content-type")).toContain("application/problem+json");
    expect(r.json).toMatchObject({ type: "urn:ghapp-runner-broker:problem:policy_denied", status: 403, policy: "team-a-deployer", refused: { repositories: ["infra"], permissions: { issues: "write", administration: "read" } } });
    expect(r.json.detail).toContain("infra");
    expect(exchangeCalls()).toBe(before);
    const events = (await b.call("GET", "/api/v1/admin/security-events?event_type=token_scope_refused", { token: admin })).json.events;
    expect(events[0]).toMatchObject({ user_identity: "system:serviceaccount:team-a:deployer", details: { policy: "team-a-deployer", refused: { repositories: ["infra"] } } });
  });

  test("another owner than the policy's is refused as such", async () => {
    const r = await exchange(await teamAToken(), { owner: "Octo-User" });
    expect(r.status).toBe(403);
    expect(r.json.refused).toEqual({ owner: "Octo-User" });
  });

  test("a token of another service account, or of the right name in another namespace, matches no policy: 403", async () => {
    for (const t of [await k8s.token({ namespace: "team-a", sa: "intruder", aud: AUDIENCE }), await teamAToken({ claims: { "kubernetes.io": { namespace: "team-z", serviceaccount: { name: "deployer" } } } })]) {
      const r = await exchange(t);
      expect(r.status).toBe(403);
      expect(r.json.type).toBe("urn:ghapp-runner-broker:problem:no_trust_policy");
    }
  });

  test("nested claim patterns are anchored and case-sensitive: ci and release match, ci-evil and CI do not", async () => {
    for (const [sa, status] of [["ci", 201], ["release", 201], ["ci-evil", 403], ["evil-ci", 403], ["CI", 403]] as const) {
      const r = await exchange(await k8s.token({ namespace: "team-b", sa, aud: AUDIENCE }));
      expect([sa, r.status]).toEqual([sa, status]);
    }
  });

  test('a policy granting "*" hands out a token for all of the installation\'s repositories', async () => {
    const r = await exchange(await k8s.token({ namespace: "team-b", sa: "ci", aud: AUDIENCE }));
    expect(r.json.repositories).toBeNull();
    expect(w.sim.tokens.get(r.json.token)!.repositories).toBeNull();
    expect(r.json.permissions).toEqual({ contents: "read" });
  });

  test("a token for another audience, expired, unsigned, or signed by a key the cluster never published is 401", async () => {
    const other = await k8s.token({ namespace: "team-a", sa: "deployer", aud: "https://kubernetes.default.svc" });
    const expired = await teamAToken({ claims: { iat: Math.floor(Date.now() / 1000) - 7200, nbf: Math.floor(Date.now() / 1000) - 7200, exp: Math.floor(Date.now() / 1000) - 600 } });
    const unsigned = await teamAToken({ alg: "none" });
    const forged = (await teamAToken()).replace(/\.[^.]+$/, ".") + Buffer.from("x".repeat(256)).toString("base64url");
    for (const [t, reason] of [[other, "wrong_audience"], [expired, "expired"], [unsigned, "bad_algorithm"], [forged, "bad_signature"]] as const) {
      const r = await exchange(t);
      expect([reason, r.status, r.json.reason]).toEqual([reason, 401, reason]);
      expect(r.headers.get("www-authenticate")).toBe('Bearer error="invalid_token"');
    }
  });

  test("the audit record keeps the identity, the issuer, the policy, the scope, the pod's name and uid, and the token's SHA-256", async () => {
    const pod = { name: "deployer-5f7c9-x2x2x", uid: "6a1f0e5c-6c4d-4b1e-9f43-2a7d0c8e1b11" };
    const r = await exchange(await teamAToken({ pod }), { repositories: ["web"], permissions: { contents: "read" } });
    expect(r.status).toBe(201);
    const records = (await b.call("GET", `/api/v1/admin/audit-log?user=${encodeURIComponent("system:serviceaccount:team-a:deployer")}&limit=5`, { token: admin })).json.records;
    const rec = records.find((x: { action: string; result: string }) => x.action === "token.issue" && x.result === "success");
    expect(rec.details).toMatchObject({
      issuer: K8S,
      subject: "system:serviceaccount:team-a:deployer",
      kubernetes: { namespace: "team-a", service_account: "deployer", pod: pod.name, pod_uid: pod.uid },
      policy: "team-a-deployer",
      scope: { owner: "acme-org", repositories: ["web"], permissions: { contents: "read" } },
      installation_id: 1001,
      token_sha256: createHash("sha256").update(r.json.token).digest("hex"),
    });
  });
});

describe("issuers", () => {
  test("a token whose issuer no policy names is 401, and the broker fetches nothing from the issuer it names", async () => {
    const before = w.sim.requests.length;
    const t = await w.sim.oidc.mint({ sub: "system:serviceaccount:team-a:deployer", aud: AUDIENCE, iss: `${w.sim.origin}/attacker` });
    const r = await exchange(t);
    expect([r.status, r.json.reason]).toEqual([401, "wrong_issuer"]);
    expect(w.sim.requests.slice(before).filter((x) => x.path.includes("attacker"))).toEqual([]);
  });

  test("a JWKS file larger than the bound is not read: the issuer is unavailable (503), not the token bad", async () => {
    const t = await k8s.token({ namespace: "team-a", sa: "deployer", aud: AUDIENCE, claims: { iss: OTHER_CLUSTER } });
    const r = await exchange(t);
    expect(r.status).toBe(503);
    expect(r.json.type).toBe("urn:ghapp-runner-broker:problem:issuer_unavailable");
    expect(Number(r.headers.get("retry-after"))).toBeGreaterThan(0);
  });

  test("GitHub Actions' tokens are matched on nested and top-level claims with anchored, case-sensitive patterns", async () => {
    const policy = {
      name: "actions-infra",
      issuer: w.sim.oidc.issuer,
      audience: AUDIENCE,
      subject_pattern: "repo:acme-org/[a-z]+:ref:refs/heads/main",
      claims: { repository_owner: "acme-org" },
      claim_patterns: { job_workflow_ref: "acme-org/[a-z]+/\\.github/workflows/deploy\\.yml@refs/heads/main" },
      owner: "acme-org",
      repositories: ["infra"],
      permissions: { issues: "write" },
    };
    expect((await b.call("POST", "/api/v1/admin/trust-policies", { token: admin, body: policy })).status).toBe(201);
    const mint = (sub: string, workflow: string) => w.sim.oidc.mint({ sub, aud: AUDIENCE, claims: { job_workflow_ref: workflow } });
    const ok = await exchange(await mint("repo:acme-org/api:ref:refs/heads/main", "acme-org/api/.github/workflows/deploy.yml@refs/heads/main"), { permissions: { issues: "write" } });
    expect(ok.status).toBe(201);
    expect(ok.json.repositories).toEqual(["acme-org/infra"]);
    for (const [sub, wf] of [
      ["repo:acme-org/api:ref:refs/heads/MAIN", "acme-org/api/.github/workflows/deploy.yml@refs/heads/MAIN"],
      ["repo:acme-org/api:ref:refs/heads/main", "acme-org/api/.github/workflows/deploy.yml@refs/heads/main-attacker"],
      ["repo:acme-org/api:ref:refs/heads/main", "acme-org/api/.github/workflows/other.yml@refs/heads/main"],
    ]) {
      expect((await exchange(await mint(sub!, wf!))).status).toBe(403);
    }
  });
});

describe("audit mode", () => {
  test("records what would have been granted and grants nothing", async () => {
    const before = exchangeCalls();
    const r = await exchange(await k8s.token({ namespace: "team-c", sa: "builder", aud: AUDIENCE }), { permissions: { issues: "read" } });
    expect(r.status).toBe(403);
    expect(r.json.type).toBe("urn:ghapp-runner-broker:problem:trust_policy_audit_only");
    expect(exchangeCalls()).toBe(before);
    const records = (await b.call("GET", `/api/v1/admin/audit-log?user=${encodeURIComponent("system:serviceaccount:team-c:builder")}`, { token: admin })).json.records;
    expect(records.find((x: { action: string }) => x.action === "token.audit").details).toMatchObject({ policy: "team-c-trial", mode: "audit", would_grant: { owner: "acme-org", repositories: ["api"], permissions: { issues: "read" } } });
  });
});

describe("audit mode beside a policy in force", () => {
  test("the policy in force decides; the audit policy's verdict on the same request is recorded", async () => {
    const narrower = { ...teamA, name: "team-a-narrower", repositories: ["api"], permissions: { contents: "read" }, mode: "audit" };
    expect((await b.call("POST", "/api/v1/admin/trust-policies", { token: admin, body: narrower })).status).toBe(201);
    try {
      const r = await exchange(await teamAToken(), { repositories: ["web"], permissions: { contents: "read" } });
      expect(r.status).toBe(201);
      const records = (await b.call("GET", `/api/v1/admin/audit-log?user=${encodeURIComponent("system:serviceaccount:team-a:deployer")}&limit=5`, { token: admin })).json.records;
      const audit = records.find((x: { action: string }) => x.action === "token.audit");
      expect(audit).toMatchObject({ result: "denied", details: { policy: "team-a-narrower", mode: "audit", would_refuse: { repositories: ["web"] } } });
    } finally {
      await b.call("DELETE", "/api/v1/admin/trust-policies/team-a-narrower", { token: admin });
    }
  });
});

describe("no GitHub call per pod", () => {
  test("a second identical request is served from the cache: the same token, no GitHub call, and audited again", async () => {
    const body = { repositories: ["api"], permissions: { pull_requests: "read" } };
    const first = await exchange(await teamAToken(), body);
    const calls = exchangeCalls();
    const second = await exchange(await teamAToken({ pod: { name: "deployer-other", uid: "11111111-2222-3333-4444-555555555555" } }), body);
    expect(second.status).toBe(201);
    expect(second.json.token).toBe(first.json.token);
    expect(exchangeCalls()).toBe(calls);
    const sha = createHash("sha256").update(first.json.token).digest("hex");
    const records = (await b.call("GET", "/api/v1/admin/audit-log?limit=50", { token: admin })).json.records.filter((x: { details: { token_sha256?: string } }) => x.details.token_sha256 === sha);
    expect(records.map((x: { details: { cached: boolean } }) => x.details.cached).sort()).toEqual([false, true]);
  });

  test("100 concurrent identical requests cause exactly one access_tokens call", async () => {
    const tokens = await Promise.all(Array.from({ length: 100 }, () => teamAToken()));
    const before = exchangeCalls();
    w.sim.inject({ kind: "delay", ms: 300, match: { path: "/access_tokens" } });
    const answers = await Promise.all(tokens.map((t) => exchange(t, { repositories: ["web"], permissions: { pull_requests: "read" } })));
    expect(answers.map((a) => a.status)).toEqual(Array(100).fill(201));
    expect(new Set(answers.map((a) => a.json.token)).size).toBe(1);
    expect(exchangeCalls() - before).toBe(1);
  });

  test("a token with less than 30 minutes left is not handed out again: the next request mints a new one", async () => {
    w.sim.setTokenTtl(29 * 60);
    try {
      const body = { repositories: ["api", "web"], permissions: { contents: "read", pull_requests: "read" } };
      const before = exchangeCalls();
      const a = await exchange(await teamAToken(), body);
      const c = await exchange(await teamAToken(), body);
      expect([a.status, c.status]).toEqual([201, 201]);
      expect(c.json.token).not.toBe(a.json.token);
      expect(exchangeCalls() - before).toBe(2);
    } finally {
      w.sim.setTokenTtl(3600);
    }
  });
});

describe("GitHub and the caller's budget", () => {
  test("GitHub unavailable is 503 with Retry-After", async () => {
    w.sim.inject({ kind: "status", status: 503, match: { path: "/access_tokens" }, times: 20 });
    // a scope no earlier test asked for: not in the cache
    const r = await exchange(await teamAToken(), { repositories: ["web"], permissions: { contents: "write" } });
    expect(r.status).toBe(503);
    expect(r.json.type).toBe("urn:ghapp-runner-broker:problem:github_unavailable");
    expect(Number(r.headers.get("retry-after"))).toBeGreaterThan(0);
  }, 30_000);

  test("with GitHub down, a scope in the cache is still handed out", async () => {
    const body = { repositories: ["api"], permissions: { contents: "read" } };
    const cached = await exchange(await teamAToken(), body);
    w.sim.inject({ kind: "status", status: 503, times: 50 });
    const r = await exchange(await teamAToken(), body);
    w.sim.clearFaults();
    expect(r.status).toBe(201);
    expect(r.json.token).toBe(cached.json.token);
  });

  test("over the per-identity rate: 429 with Retry-After, while another identity still gets its token", async () => {
    const limited = await startBroker({ ...b.env, TOKEN_RATE_LIMIT: "2", ISSUER_JWKS_FILES: `${K8S}=${k8s.jwksFile}`, LISTEN_ADDR: "127.0.0.1:0" });
    try {
      const statuses = [];
      for (let i = 0; i < 3; i++) statuses.push((await exchange(await teamAToken(), {}, limited)).status);
      expect(statuses).toEqual([201, 201, 429]);
      const r = await exchange(await teamAToken(), {}, limited);
      expect(Number(r.headers.get("retry-after"))).toBeGreaterThan(0);
      expect((await exchange(await k8s.token({ namespace: "team-b", sa: "ci", aud: AUDIENCE }), {}, limited)).status).toBe(201);
    } finally {
      await limited.stop();
    }
  });

  test("a policy granting an owner the App is not installed on is 502 saying so", async () => {
    const put = await b.call("POST", "/api/v1/admin/trust-policies", { token: admin, body: { ...teamA, name: "team-e-elsewhere", subject: "system:serviceaccount:team-e:x", claims: {}, owner: "not-installed-org" } });
    expect(put.status).toBe(201);
    const r = await exchange(await k8s.token({ namespace: "team-e", sa: "x", aud: AUDIENCE }));
    expect(r.status).toBe(502);
    expect(r.json.type).toBe("urn:ghapp-runner-broker:problem:github_misconfigured");
    expect(r.json.detail).toContain("not-installed-org");
  });

  test("new scopes beyond TOKEN_MINT_RATE_LIMIT a minute are 429 with Retry-After; scopes already handed out still are", async () => {
    const limited = await startBroker({ ...b.env, TOKEN_MINT_RATE_LIMIT: "2", ISSUER_JWKS_FILES: `${K8S}=${k8s.jwksFile}`, LISTEN_ADDR: "127.0.0.1:0" });
    try {
      const ask = async (permissions: Record<string, string>) => exchange(await teamAToken(), { repositories: ["api"], permissions }, limited);
      const before = exchangeCalls();
      const statuses = [(await ask({ contents: "read" })).status, (await ask({ pull_requests: "read" })).status];
      const third = await ask({ contents: "write" });
      expect([...statuses, third.status]).toEqual([201, 201, 429]);
      expect(third.json.type).toBe("urn:ghapp-runner-broker:problem:rate_limited");
      expect(Number(third.headers.get("retry-after"))).toBeGreaterThan(0);
      expect(exchangeCalls() - before).toBe(2);
      expect((await ask({ contents: "read" })).status).toBe(201);
    } finally {
      await limited.stop();
    }
  });

  test("a body naming a permission GitHub does not have is 422 naming the field", async () => {
    const r = await exchange(await teamAToken(), { permissions: { contnets: "read" } });
    expect(r.status).toBe(422);
    expect(r.json.field).toBe("permissions.contnets");
  });
});

describe("the token goes to the caller only", () => {
  test("never in the logs (debug level) nor the database, nor the callers' OIDC tokens; the audit log has its SHA-256", async () => {
    expect(handedOut.length).toBeGreaterThan(5);
    expectNoSecrets(b.logs(), [...handedOut, ...presented]);
    const path = b.env.DATABASE_URL!.slice("sqlite://".length);
    const bytes = [path, `${path}-wal`].filter(existsSync).map((f) => readFileSync(f).toString("latin1")).join("\n");
    expect(bytes).toContain(createHash("sha256").update(handedOut[0]!).digest("hex"));
    expectNoSecrets(bytes, [...handedOut, ...presented]);
  });
});

describe("large policies", () => {
  test("a policy of 500 repositories is stored and audited in bounds; GitHub refusing its scope is 422, and the refusal is audited", async () => {
    const repositories = Array.from({ length: 500 }, (_, i) => `repository-${String(i).padStart(3, "0")}-${"x".repeat(80)}`);
    const put = await b.call("POST", "/api/v1/admin/trust-policies", { token: admin, body: { ...teamA, name: "team-d-big", subject: "system:serviceaccount:team-d:big", claims: {}, repositories } });
    expect(put.status).toBe(201);
    const r = await exchange(await k8s.token({ namespace: "team-d", sa: "big", aud: AUDIENCE }));
    expect(r.status).toBe(422);
    expect(r.json.type).toBe("urn:ghapp-runner-broker:problem:invalid_request");
    const records = (await b.call("GET", "/api/v1/admin/audit-log?limit=20", { token: admin })).json.records;
    const putRecord = records.find((x: { action: string; details: { name?: string } }) => x.action === "trust_policy.put" && x.details.name === "team-d-big");
    expect(putRecord.details.policy.repositories_count).toBe(500);
    const failure = records.find((x: { action: string; actor: string }) => x.action === "token.issue" && x.actor === "system:serviceaccount:team-d:big");
    expect(failure).toMatchObject({ result: "failure", details: { scope: { repositories_count: 500 }, reason: "invalid_request" } });
    expect(failure.details.scope.repositories).toHaveLength(50);
  });
});

describe("operating the exchange", () => {
  test("exchanges are counted by result and cache in /metrics, with no identity or token in it", async () => {
    const metrics = (await b.call("GET", "/metrics")).text;
    expect(metrics).toMatch(/ghapp_broker_token_exchanges_total\{result="success",cache="hit"\} [1-9]/);
    expect(metrics).toMatch(/ghapp_broker_token_exchanges_total\{result="policy_denied",cache="none"\} [1-9]/);
    expect(metrics).toContain("ghapp_broker_github_rate_limit_remaining");
    expect(metrics).not.toContain("serviceaccount");
  });

  test("the OpenAPI document describes the exchange and the trust policies from their schemas", async () => {
    const doc = (await b.call("GET", "/openapi.json")).json;
    expect(Object.keys(doc.paths["/api/v1/tokens"])).toEqual(["post"]);
    expect(Object.keys(doc.paths["/api/v1/tokens"].post.responses).sort()).toEqual(["201", "401", "403", "413", "415", "422", "429", "502", "503"]);
    expect(doc.paths["/api/v1/admin/trust-policies/{name}"]).toBeDefined();
    expect(Object.keys(doc.components.schemas)).toEqual(expect.arrayContaining(["TokenRequest", "InstallationToken", "TrustPolicy"]));
  });

  test.each([
    ["ISSUER_JWKS_FILES without a path", { ISSUER_JWKS_FILES: K8S }, /ISSUER_JWKS_FILES entry .* is not ISSUER=\/absolute\/path/],
    ["ISSUER_JWKS_FILES with a relative path", { ISSUER_JWKS_FILES: `${K8S}=jwks.json` }, /ISSUER_JWKS_FILES entry/],
    ["ISSUER_JWKS_FILES over plain http", { ISSUER_JWKS_FILES: "http://issuer.example=/x.json" }, /ISSUER_JWKS_FILES uses plain http/],
    ["TOKEN_RATE_LIMIT", { TOKEN_RATE_LIMIT: "lots" }, /TOKEN_RATE_LIMIT "lots" is not a positive whole number/],
    ["ISSUER_JWKS_FILES naming a file that is not there", { ISSUER_JWKS_FILES: `${K8S}=/nonexistent/jwks.json` }, /ISSUER_JWKS_FILES: the file for https:\/\/kubernetes.default.svc.cluster.local \(\/nonexistent\/jwks.json\) cannot be read/],
  ])("bad %s: exit 2 naming the variable and the fix", async (_, bad, message) => {
    const r = await runBroker(["serve"], w.env(bad as Record<string, string>));
    expect(r.code).toBe(2);
    expect(String(logLines(r.stderr).at(-1)?.message ?? "")).toMatch(message);
  });
});
