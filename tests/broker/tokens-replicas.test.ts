// The token exchange on three compiled brokers sharing one real PostgreSQL server: a trust policy
// written through one replica applies on the others, the token cache is per replica (a token is
// never stored, so each replica mints once per scope), and the database holds no token.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { startPostgres, type PostgresServer } from "../helpers/postgres.ts";
import { expectNoSecrets } from "../helpers/secrets.ts";
import { ADMIN, AUDIENCE, eventually, startBroker, startWorld, type Broker, type World } from "./harness.ts";
import { kubernetesIssuer, type KubernetesIssuer } from "./kubernetes-issuer.ts";

const K8S = "https://kubernetes.default.svc.cluster.local";
let pg: PostgresServer;
let w: World;
let k8s: KubernetesIssuer;
let brokers: Broker[] = [];
let url: string;
const handedOut: string[] = [];

const exchangeCalls = () => w.sim.requests.filter((r) => r.method === "POST" && r.path.endsWith("/access_tokens") && (r.body as { permissions?: unknown } | null)?.permissions).length;

beforeAll(async () => {
  pg = await startPostgres({ fsync: false });
  w = await startWorld();
  k8s = await kubernetesIssuer(K8S, join(w.dir, "cluster.jwks.json"));
  url = await pg.createDatabase("exchange");
  const env = w.env({ DATABASE_URL: url, ISSUER_JWKS_FILES: `${K8S}=${k8s.jwksFile}` });
  brokers = await Promise.all([0, 1, 2].map(() => startBroker(env)));
}, 60_000);
afterAll(async () => {
  await Promise.all(brokers.map((b) => b.stop().catch(() => undefined)));
  await w?.close();
  await pg?.stop();
});

describe("three replicas on one PostgreSQL", () => {
  test("a policy put through one replica applies on all; each replica mints once per scope, then serves its cache", async () => {
    const admin = await w.token(ADMIN);
    const policy = { name: "team-a", issuer: K8S, audience: AUDIENCE, subject: "system:serviceaccount:team-a:deployer", owner: "acme-org", repositories: ["api"], permissions: { contents: "read" } };
    expect((await brokers[0]!.call("POST", "/api/v1/admin/trust-policies", { token: admin, body: policy })).status).toBe(201);
    const token = await k8s.token({ namespace: "team-a", sa: "deployer", aud: AUDIENCE });
    // Within the policies' refresh interval (5 s) every replica knows the policy.
    await eventually(async () => (await Promise.all(brokers.map((b) => b.call("POST", "/api/v1/tokens", { token, body: {} })))).every((r) => r.status === 201), 10_000, "every replica hands out");
    const before = exchangeCalls();
    const answers = await Promise.all(Array.from({ length: 30 }, (_, i) => brokers[i % 3]!.call("POST", "/api/v1/tokens", { token, body: {} })));
    expect(answers.map((a) => a.status)).toEqual(Array(30).fill(201));
    expect(exchangeCalls() - before).toBe(0);
    for (const a of answers) handedOut.push(a.json.token);
    expect(new Set(answers.map((a) => a.json.token)).size).toBe(3);
    expect(exchangeCalls()).toBe(3);
  });

  test("the database holds the tokens' hashes, never the tokens", async () => {
    const dump = await pg.dump(url);
    expect(dump).toContain("token.issue");
    expectNoSecrets(dump, handedOut);
  });

  test("with the database gone, an exchange is 503 database_unavailable, never a bad token", async () => {
    await pg.stop();
    // past the trust policies' refresh interval (5 s), so they are read from the database again
    await Bun.sleep(5_500);
    const r = await brokers[0]!.call("POST", "/api/v1/tokens", { token: await k8s.token({ namespace: "team-a", sa: "deployer", aud: AUDIENCE }), body: {} });
    expect(r.status).toBe(503);
    expect(r.json.type).toBe("urn:ghapp-runner-broker:problem:database_unavailable");
    expect(Number(r.headers.get("retry-after"))).toBeGreaterThan(0);
  }, 20_000);
});
