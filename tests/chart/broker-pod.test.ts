// The runner broker's chart and the broker agree: the rendered Deployment's container (its args,
// env, mounts, user and fsGroup) run the way a kubelet would (tests/chart/kubelet.ts), with the
// compiled broker as the image's entrypoint, against the GitHub simulator (also the callers' OIDC
// issuer) and, for PostgreSQL, a real server. Fixtures stand for the cluster's objects: the App's
// credentials Secret, the database Secret, the rendered policy ConfigMap, the claim's volume, and
// for the token exchange a cluster issuer's key set (the simulator's issuer keys, as a ConfigMap).
//
// One difference from a cluster, and only one: pods here share this host's network, so each
// replica's LISTEN_ADDR gets a free port instead of the rendered 0.0.0.0:8000 (asserted first).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { SQL } from "bun";
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stringify } from "yaml";
import { BROKER, requireBroker } from "../broker/harness.ts";
import { freePort } from "../helpers/run.ts";
import { startPostgres, type PostgresServer } from "../helpers/postgres.ts";
import { expectNoSecrets, keyFragments } from "../helpers/secrets.ts";
import { startSimulator, type Simulator } from "../simulator/simulator.ts";
import { Pod, requireRoot, type Container, type Fixtures, type PodTemplate } from "./kubelet.ts";
import { renderChart, ROOT, type K8sObject } from "./render.ts";

const CHART = join(ROOT, "charts/ghapp-runner-broker");
const ADMIN = "repo:acme-org/platform:ref:refs/heads/main";
const CALLER = "repo:acme-org/api:ref:refs/heads/main";
const AUDIENCE = "ghapp-runner-broker";

let sim: Simulator;
let pg: PostgresServer;
const dirs: string[] = [];

beforeAll(async () => {
  requireRoot();
  requireBroker();
  sim = await startSimulator();
  pg = await startPostgres({ fsync: false });
}, 60_000);

afterAll(async () => {
  await sim?.close();
  await pg?.stop();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** The chart rendered for this simulator, with the caller's policy in the chart's ConfigMap. */
async function render(sets: string[], valuesFiles: string[] = []): Promise<K8sObject[]> {
  return renderChart(valuesFiles, [
    "github.org=acme-org",
    `github.apiUrl=${sim.url}`,
    `oidc.issuer=${sim.oidc.issuer}`,
    `adminIdentities[0]=${ADMIN}`,
    `policies.items[0].user_identity=${CALLER}`,
    "policies.items[0].allowed_labels[0]=team-api",
    "policies.items[0].max_runners=1",
    "policies.items[0].runner_group_id=2",
    "broker.syncInterval=1h",
    ...sets,
  ], CHART);
}

type Deployment = { spec: { replicas: number; template: { spec: PodTemplate & { containers: Container[] } } } };

function podOf(objects: K8sObject[]): { spec: PodTemplate; container: Container; replicas: number } {
  const deployment = objects.find((o) => o.kind === "Deployment") as unknown as Deployment;
  const spec = deployment.spec.template.spec;
  return { spec: { ...spec, container: spec.containers[0]! }, container: spec.containers[0]!, replicas: deployment.spec.replicas };
}

/** The cluster's objects the pod reads: the credentials Secret, the policy ConfigMap as rendered. */
function fixtures(objects: K8sObject[], extra: Partial<Fixtures> = {}): Fixtures {
  const policies = objects.find((o) => o.kind === "ConfigMap") as unknown as { metadata: { name: string }; data: Record<string, string> };
  return {
    secrets: { "github-app-runner-broker": { appId: String(sim.app.id), privateKey: sim.app.privateKeyPem }, ...(extra.secrets ?? {}) },
    configMaps: { [policies.metadata.name]: policies.data, ...(extra.configMaps ?? {}) },
    ...(extra.claims ? { claims: extra.claims } : {}),
  };
}

/** The container as rendered, but listening on a free port of this shared host network. */
function onPort(c: Container, port: number): Container {
  const env = (c.env ?? []).map((e) => (e.name === "LISTEN_ADDR" ? { name: e.name, value: `0.0.0.0:${port}` } : e));
  return { ...c, env };
}

async function waitReady(port: number, path: string, logs: () => string): Promise<void> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const status = await fetch(`http://127.0.0.1:${port}${path}`).then((r) => r.status).catch(() => 0);
    if (status === 200) return;
    if (Date.now() > deadline) throw new Error(`${path} did not answer 200 within 20 s (last ${status}):\n${logs()}`);
    await Bun.sleep(150);
  }
}

async function call(port: number, method: string, path: string, token: string, body?: unknown) {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body ? { "content-type": "application/json" } : {}) },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  return { status: res.status, json: (await res.json().catch(() => undefined)) as any };
}

/** Starts one replica of the rendered pod; `stop` sends SIGTERM as the kubelet does. */
function startReplica(spec: PodTemplate, container: Container, fx: Fixtures) {
  const port = freePort();
  const pod = new Pod(spec, fx);
  const running = pod.start(onPort(container, port), [BROKER]);
  return { port, pod, stop: async () => { try { return await running.stop(); } finally { pod.cleanup(); } } };
}

describe("the broker's chart, run as a kubelet runs it", () => {
  test("renders the container the image expects: serve on 0.0.0.0:8000, probes on /health and /ready, UID 65532", async () => {
    const { container, spec } = podOf(await render([]));
    expect(container.args).toEqual(["serve"]);
    expect(container.env?.find((e) => e.name === "LISTEN_ADDR")?.value).toBe("0.0.0.0:8000");
    const c = container as Container & { ports: Array<{ containerPort: number }>; readinessProbe: { httpGet: { path: string } }; livenessProbe: { httpGet: { path: string } } };
    expect(c.ports[0]!.containerPort).toBe(8000);
    expect([c.livenessProbe.httpGet.path, c.readinessProbe.httpGet.path]).toEqual(["/health", "/ready"]);
    expect(container.securityContext?.runAsUser ?? spec.securityContext?.runAsUser).toBe(65532);
  });

  test("SQLite: serves and is ready, applies the ConfigMap's policy, provisions a runner, and keeps its database on the claim across a restart", async () => {
    const objects = await render([]);
    const { spec, container, replicas } = podOf(objects);
    expect(replicas).toBe(1);
    const claim = mkdtempSync(join(tmpdir(), "broker-claim-"));
    dirs.push(claim);
    const claimName = (spec.volumes.find((v) => v.name === "data") as { persistentVolumeClaim: { claimName: string } }).persistentVolumeClaim.claimName;
    const fx = fixtures(objects, { claims: { [claimName]: claim } });
    const readyPath = (container as unknown as { readinessProbe: { httpGet: { path: string } } }).readinessProbe.httpGet.path;

    const first = startReplica(spec, container, fx);
    let logs = "";
    try {
      await waitReady(first.port, readyPath, () => "");
      const token = await sim.oidc.mint({ sub: CALLER, aud: AUDIENCE });
      const provision = await call(first.port, "POST", "/api/v1/runners/provision", token, { runner_name: "api-1", labels: ["team-api"] });
      expect(provision.status).toBe(201);
      expect(provision.json.encoded_jit_config).toBeString();
      // max_runners: 1 from the ConfigMap: the policy file was applied at start.
      const second = await call(first.port, "POST", "/api/v1/runners/provision", token, { runner_name: "api-2", labels: ["team-api"] });
      expect(second.status).toBe(403);
      expect(second.json.type).toBe("urn:ghapp-runner-broker:problem:quota_exceeded");
      // The database is on the claim, written as the image's user, readable by it alone.
      const db = join(claim, "broker.db");
      expect(existsSync(db)).toBe(true);
      expect([statSync(db).uid, statSync(db).mode & 0o777]).toEqual([65532, 0o600]);
      const stopped = await first.stop();
      logs = stopped.stderr;
      expect(stopped.code).toBe(0);
      expectNoSecrets(stopped.stdout + stopped.stderr, [provision.json.encoded_jit_config, ...keyFragments(sim.app.privateKeyPem)]);
    } finally {
      await first.stop().catch(() => undefined);
    }

    // Recreate: the next pod opens the same file and knows the runner.
    const next = startReplica(spec, container, fx);
    try {
      await waitReady(next.port, readyPath, () => logs);
      const token = await sim.oidc.mint({ sub: CALLER, aud: AUDIENCE });
      const list = await call(next.port, "GET", "/api/v1/runners", token);
      expect(list.status).toBe(200);
      expect(JSON.stringify(list.json)).toContain('"api-1"');
      expect(readdirSync(claim).filter((f) => f.startsWith("broker.db")).sort()[0]).toBe("broker.db");
    } finally {
      expect((await next.stop()).code).toBe(0);
    }
  }, 60_000);

  test("keyless: applies the trust policy from values and exchanges a token from the cluster issuer whose keys are in a ConfigMap; refuses an identity no policy names", async () => {
    // A cluster whose API server the broker cannot reach: its issuer's keys come from a ConfigMap
    // (issuers.jwks). The simulator's issuer signs the service-account tokens, under that issuer.
    const CLUSTER = "https://kubernetes.default.svc.cluster.local";
    const dir = mkdtempSync(join(tmpdir(), "broker-keyless-"));
    dirs.push(dir);
    const values = join(dir, "values.yaml");
    writeFileSync(values, stringify({
      policies: {
        trustPolicies: [{
          name: "team-a-deployer",
          issuer: CLUSTER,
          audience: AUDIENCE,
          subject: "system:serviceaccount:team-a:deployer",
          claims: { "kubernetes.io.namespace": "team-a" },
          owner: "acme-org",
          repositories: ["api", "web"],
          permissions: { contents: "write", issues: "read" },
        }],
      },
      issuers: { jwks: [{ issuer: CLUSTER, configMap: "cluster-a-issuer" }] },
      tokens: { mintRateLimit: "1" },
    }));
    const objects = await render([], [values]);
    const { spec, container } = podOf(objects);
    const claim = mkdtempSync(join(tmpdir(), "broker-claim-"));
    dirs.push(claim);
    const claimName = (spec.volumes.find((v) => v.name === "data") as { persistentVolumeClaim: { claimName: string } }).persistentVolumeClaim.claimName;
    const fx = fixtures(objects, {
      claims: { [claimName]: claim },
      configMaps: { "cluster-a-issuer": { "jwks.json": JSON.stringify(await sim.oidc.jwks()) } },
    });
    const serviceAccountToken = (namespace: string, name: string) =>
      sim.oidc.mint({ iss: CLUSTER, sub: `system:serviceaccount:${namespace}:${name}`, aud: AUDIENCE, claims: { "kubernetes.io": { namespace, serviceaccount: { name, uid: crypto.randomUUID() } } } });
    const readyPath = (container as unknown as { readinessProbe: { httpGet: { path: string } } }).readinessProbe.httpGet.path;

    const pod = startReplica(spec, container, fx);
    let stopped: Awaited<ReturnType<typeof pod.stop>> | undefined;
    const tokens: string[] = [];
    try {
      await waitReady(pod.port, readyPath, () => "");
      // The workload named by the policy: a token narrowed to what it asked, within the policy.
      const deployer = await serviceAccountToken("team-a", "deployer");
      tokens.push(deployer);
      const granted = await call(pod.port, "POST", "/api/v1/tokens", deployer, { owner: "acme-org", repositories: ["api"], permissions: { contents: "read" } });
      expect(granted.status).toBe(201);
      expect(granted.json.token).toMatch(/^ghs_/);
      tokens.push(granted.json.token);
      expect(granted.json).toMatchObject({ owner: "acme-org", repositories: ["acme-org/api"] });
      expect(granted.json.permissions.contents).toBe("read");
      expect(granted.json.permissions.issues).toBeUndefined();
      // GitHub (the simulator) sees a token for that one repository.
      const seen = await fetch(`${sim.url}/installation/repositories`, { headers: { authorization: `token ${granted.json.token}` } });
      expect(seen.status).toBe(200);
      expect(((await seen.json()) as { repositories: Array<{ full_name: string }> }).repositories.map((r) => r.full_name)).toEqual(["acme-org/api"]);
      // Beyond the policy: refused, naming what.
      const beyond = await call(pod.port, "POST", "/api/v1/tokens", deployer, { owner: "acme-org", repositories: ["infra"] });
      expect(beyond.status).toBe(403);
      expect(beyond.json.type).toBe("urn:ghapp-runner-broker:problem:policy_denied");
      // tokens.mintRateLimit: 1 reached the broker: a second new token within the minute is refused.
      const second = await call(pod.port, "POST", "/api/v1/tokens", deployer, { owner: "acme-org", repositories: ["web"], permissions: { contents: "read" } });
      expect(second.status).toBe(429);
      expect(second.json.type).toBe("urn:ghapp-runner-broker:problem:rate_limited");
      // A service account no policy names, signed by the same issuer: nothing is granted.
      const stranger = await serviceAccountToken("team-b", "builder");
      tokens.push(stranger);
      const refused = await call(pod.port, "POST", "/api/v1/tokens", stranger, { owner: "acme-org" });
      expect(refused.status).toBe(403);
      expect(refused.json.type).toBe("urn:ghapp-runner-broker:problem:no_trust_policy");
    } finally {
      stopped = await pod.stop();
    }
    expect(stopped.code).toBe(0);
    expectNoSecrets(stopped.stdout + stopped.stderr, [...tokens, ...keyFragments(sim.app.privateKeyPem)]);
  }, 60_000);

  test("PostgreSQL: two replicas started at once migrate a fresh database once between them and share its quota", async () => {
    const databaseUrl = await pg.createDatabase();
    const objects = await render(["database.type=postgres", "database.postgres.existingSecret=runner-broker-database", "replicaCount=2"]);
    const { spec, container, replicas } = podOf(objects);
    expect(replicas).toBe(2);
    expect(spec.volumes.some((v) => v.name === "data")).toBe(false);
    const fx = fixtures(objects, { secrets: { "runner-broker-database": { DATABASE_URL: databaseUrl } } });
    const readyPath = (container as unknown as { readinessProbe: { httpGet: { path: string } } }).readinessProbe.httpGet.path;

    const pods = [startReplica(spec, container, fx), startReplica(spec, container, fx)];
    try {
      await Promise.all(pods.map((p) => waitReady(p.port, readyPath, () => "")));
      const sql = new SQL(databaseUrl);
      try {
        const rows = await sql`SELECT version, count(*)::int AS n FROM schema_migrations GROUP BY version ORDER BY version`;
        expect(rows.length).toBeGreaterThan(0);
        for (const r of rows as Array<{ version: number; n: number }>) expect(`migration ${r.version} applied ${r.n} time(s)`).toBe(`migration ${r.version} applied 1 time(s)`);
      } finally {
        await sql.close();
      }
      // max_runners: 1 holds across the two replicas: one provision each, one refused.
      const token = await sim.oidc.mint({ sub: CALLER, aud: AUDIENCE });
      const answers = await Promise.all(pods.map((p, i) => call(p.port, "POST", "/api/v1/runners/provision", token, { runner_name: `pg-${i}`, labels: ["team-api"] })));
      expect(answers.map((a) => a.status).sort()).toEqual([201, 403]);
    } finally {
      const results = await Promise.all(pods.map((p) => p.stop()));
      for (const r of results) {
        expect(r.code).toBe(0);
        // DATABASE_URL's password never reaches the logs.
        expectNoSecrets(r.stdout + r.stderr, [pg.password]);
      }
    }
  }, 60_000);
});
