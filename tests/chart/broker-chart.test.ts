// The runner broker's chart as a cluster would receive it: every rendering (its ct values files
// and one with every optional object on) validated the way tests/chart/render.ts validates the main
// chart (core kinds with kubernetes-models, ESO against its CRDs, ServiceMonitor and PrometheusRule
// against prometheus-operator's), the App's credentials wired to the Secret the Deployment reads,
// no secret as a plain value, the chart's `fail`s holding without the values schema, and the policy
// file the chart renders read by the broker's own parser.
import { describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runCommand } from "../helpers/run.ts";
import { renderChart, ROOT, tool, validateObjects, type K8sObject } from "./render.ts";

export const BROKER_CHART = join(ROOT, "charts/ghapp-runner-broker");
const SQLITE = join(BROKER_CHART, "ci/sqlite-values.yaml");
const POSTGRES = join(BROKER_CHART, "ci/postgres-values.yaml");
/** Every optional object on, on PostgreSQL with the credentials from External Secrets. */
export const EVERYTHING = join(BROKER_CHART, "tests/values/everything.yaml");

const kinds = (objects: K8sObject[]) => objects.map((o) => o.kind).sort();
type Env = { name: string; value?: string; valueFrom?: { secretKeyRef?: { name: string; key: string } } };
const containerEnv = (objects: K8sObject[]) =>
  (objects.find((o) => o.kind === "Deployment") as unknown as { spec: { template: { spec: { containers: Array<{ env: Env[] }> } } } }).spec.template.spec.containers[0]!.env;

/** helm template without the values schema, to show a template's own `fail`. */
async function failureWithoutSchema(sets: string[]): Promise<string> {
  const r = await runCommand([tool("helm3"), "template", "rb", BROKER_CHART, "--namespace", "runners", "--skip-schema-validation", ...sets.flatMap((s) => ["--set", s])]);
  expect(r.code).toBe(1);
  return r.stderr;
}

describe("charts/ghapp-runner-broker renders what a cluster accepts", () => {
  for (const [name, files, sets] of [["ci/sqlite-values.yaml", [SQLITE], []], ["ci/postgres-values.yaml", [POSTGRES], []], ["every optional object", [EVERYTHING], []]] as const) {
    test(`${name}: every object is valid for its kind`, async () => {
      const objects = await renderChart([...files], [...sets], BROKER_CHART);
      expect(objects.length).toBeGreaterThan(3);
      expect(await validateObjects(objects)).toEqual([]);
    }, 30_000);
  }

  test("every optional object renders: Ingress, NetworkPolicy, ServiceMonitor, PrometheusRule, PodDisruptionBudget, policies, credentials", async () => {
    const objects = await renderChart([EVERYTHING], [], BROKER_CHART);
    expect(kinds(objects)).toEqual(["ConfigMap", "Deployment", "ExternalSecret", "Ingress", "NetworkPolicy", "PodDisruptionBudget", "PrometheusRule", "SecretStore", "Service", "ServiceAccount", "ServiceMonitor"]);
  }, 30_000);

  test("the validators can fail: a field prometheus-operator's CRD does not define is reported", async () => {
    const objects = await renderChart([EVERYTHING], [], BROKER_CHART);
    const monitor = structuredClone(objects.find((o) => o.kind === "ServiceMonitor")!);
    (monitor.spec as { endpoints: Array<Record<string, unknown>> }).endpoints[0]!.scrapeIntervall = "30s";
    expect(await validateObjects([monitor])).toEqual([expect.stringContaining("spec.endpoints[0].scrapeIntervall: unknown field")]);
  }, 30_000);

  test("the ExternalSecret writes the Secret the Deployment reads the App ID and key from", async () => {
    const objects = await renderChart([SQLITE], [], BROKER_CHART);
    const es = objects.find((o) => o.kind === "ExternalSecret") as unknown as { spec: { target: { name: string } } };
    const appId = containerEnv(objects).find((e) => e.name === "GITHUB_APP_ID")!;
    expect(appId.valueFrom?.secretKeyRef).toEqual({ name: es.spec.target.name, key: "appId" });
    const volume = (objects.find((o) => o.kind === "Deployment") as unknown as { spec: { template: { spec: { volumes: Array<{ name: string; secret?: { secretName: string } }> } } } }).spec.template.spec.volumes.find((v) => v.name === "github-app-key")!;
    expect(volume.secret!.secretName).toBe(es.spec.target.name);
  }, 30_000);

  test("with an existing credentials Secret, no ExternalSecret and no SecretStore are rendered", async () => {
    const objects = await renderChart([POSTGRES], [], BROKER_CHART);
    expect(kinds(objects)).not.toContain("ExternalSecret");
    expect(kinds(objects)).not.toContain("SecretStore");
    expect(containerEnv(objects).find((e) => e.name === "GITHUB_APP_ID")!.valueFrom?.secretKeyRef?.name).toBe("github-app-runner-broker");
  }, 30_000);

  test("PostgreSQL's DATABASE_URL is only ever a Secret reference, and no env value holds a URL with credentials", async () => {
    const objects = await renderChart([EVERYTHING], [], BROKER_CHART);
    const env = containerEnv(objects);
    const url = env.find((e) => e.name === "DATABASE_URL")!;
    expect(url.value).toBeUndefined();
    expect(url.valueFrom?.secretKeyRef).toEqual({ name: "runner-broker-database", key: "DATABASE_URL" });
    for (const e of env) expect(`${e.name}=${e.value ?? ""}`).not.toMatch(/:\/\/[^/\s]*:[^/\s]*@/);
  }, 30_000);

  test("the chart's own checks hold without the values schema (--skip-schema-validation)", async () => {
    const base = ["github.org=acme-org", "oidc.issuer=https://token.actions.githubusercontent.com"];
    expect(await failureWithoutSchema([...base, "replicaCount=2"])).toContain("replicaCount is 2 but database.type is sqlite");
    expect(await failureWithoutSchema([...base, "database.type=mysql"])).toContain("database.type must be sqlite (one replica, a volume) or postgres");
    expect(await failureWithoutSchema([...base, "broker.logLevel=verbose"])).toContain("broker.logLevel must be debug, info, warn or error");
    expect(await failureWithoutSchema([...base, "image.tag=latest"])).toContain("image.tag is latest");
    expect(await failureWithoutSchema([...base, "broker.syncInterval=15 minutes"])).toContain("broker.syncInterval must be a duration such as 90s");
    expect(await failureWithoutSchema([...base, "github.defaultRunnerGroupId=brokered"])).toContain("github.defaultRunnerGroupId must be digits");
    expect(await failureWithoutSchema([...base, "github.allowedRepositoryOwners[0]=acme/api"])).toContain("github.allowedRepositoryOwners[0] must be a GitHub organisation or user login");
    expect(await failureWithoutSchema([...base, "policies.trustPolicies[0]=team-a"])).toContain("policies.trustPolicies[0] must be a trust policy object in the API's shape");
    expect(await failureWithoutSchema([...base, "issuers.jwks[0]=https://kubernetes.default.svc.cluster.local"])).toContain("issuers.jwks[0] must be an object {issuer, configMap, key}");
    expect(await failureWithoutSchema([...base, "tokens.mintRateLimit=10/min"])).toContain("tokens.mintRateLimit must be digits");
  }, 30_000);
});

describe("the README's broker path (Quick start, step 7)", () => {
  const readme = readFileSync(join(ROOT, "README.md"), "utf8");
  const step = readme.slice(readme.indexOf("### 7. Optional: the runner broker"), readme.indexOf("## Why this rather than"));
  const shell = [...step.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]!).join("\n").replace(/\s*\\\n\s*/g, " ");
  const install = shell.split("\n").find((l) => l.startsWith("helm install runner-broker"))!;

  test("builds the Dockerfile's broker target and installs the chart with the image it pushed", () => {
    expect(shell).toContain('--target ghapp-runner-broker -t "$REGISTRY/ghapp-runner-broker:$VERSION" --push .');
    expect(install).toContain('--set image.repository="$REGISTRY/ghapp-runner-broker"');
    expect(shell).toContain("helm dependency build charts/ghapp-runner-broker");
  });

  test("with step 2's store values nested under credentials, renders an ExternalSecret through the existing store and nothing that belongs to the first release", async () => {
    // Step 2's values for the default AWS path, nested as the step's shell does (sed 's/^/  /').
    const dir = mkdtempSync(join(tmpdir(), "readme-broker-"));
    try {
      const nested = join(dir, "runner-broker.values.yaml");
      const storeValues = readFileSync(join(ROOT, "values-examples/aws-secrets-manager.values.yaml"), "utf8");
      writeFileSync(nested, `credentials:\n${storeValues.split("\n").map((l) => `  ${l}`).join("\n")}\n`);
      // Each `--set KEY=VALUE` as the shell passes it: quotes removed, the step's variables filled in.
      const sets = install.split(" --set ").slice(1).map((a) => a.split(" ")[0]!.replaceAll('"', ""))
        .map((s) => s.replaceAll("$REGISTRY", "ghcr.io/acme-org").replaceAll("$ORG", "acme-org"));
      const objects = await renderChart([nested], sets, BROKER_CHART);
      expect(kinds(objects)).toEqual(["Deployment", "ExternalSecret", "PersistentVolumeClaim", "Service", "ServiceAccount"]);
      // The only ServiceAccount is the broker's: the store's belongs to the ghapp-tokens release.
      const deployment = objects.find((o) => o.kind === "Deployment") as unknown as { spec: { template: { spec: { serviceAccountName: string } } } };
      expect(objects.find((o) => o.kind === "ServiceAccount")!.metadata!.name).toBe(deployment.spec.template.spec.serviceAccountName);
      const es = objects.find((o) => o.kind === "ExternalSecret") as unknown as { metadata: { name: string }; spec: { secretStoreRef: { name: string } } };
      expect(es.metadata.name).toBe("github-app-runner-broker");
      expect(es.spec.secretStoreRef.name).toBe("aws-secrets");
      expect(containerEnv(objects).find((e) => e.name === "GITHUB_ORG")!.value).toBe("acme-org");
      expect(await validateObjects(objects)).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 30_000);
});

/** The rendered policy ConfigMap's policies.yaml, and the pods' checksum of it. */
async function policyFile(files: string[], sets: string[] = []) {
  const objects = await renderChart(files, sets, BROKER_CHART);
  const configMap = objects.find((o) => o.kind === "ConfigMap") as unknown as { data: Record<string, string> } | undefined;
  const deployment = objects.find((o) => o.kind === "Deployment") as unknown as { spec: { template: { metadata: { annotations: Record<string, string> } } } };
  return { text: configMap?.data["policies.yaml"], checksum: deployment.spec.template.metadata.annotations["checksum/policies"] };
}

describe("trust policies from values", () => {
  const KEYLESS = join(ROOT, "values-examples/runner-broker-keyless.values.yaml");

  test("the broker's own parser (POLICY_FILE) reads the rendered file: every trust policy by name, the label policies beside them", async () => {
    const { parsePolicyDocument } = await import("../../generator/src/broker/policy-file.ts");
    const everything = parsePolicyDocument((await policyFile([EVERYTHING])).text!, "policies.yaml", 2);
    expect(everything.trustPolicies.map((p) => [p.name, p.mode])).toEqual([["team-a-deployer", "enforce"], ["deploy-from-main", "audit"]]);
    expect(everything.labelPolicies.map((p) => p.userIdentity)).toEqual(["*"]);
    const keyless = parsePolicyDocument((await policyFile([KEYLESS])).text!, "policies.yaml");
    expect(keyless.trustPolicies.map((p) => [p.name, p.subject, p.claims])).toEqual([
      ["team-a-workflows", "system:serviceaccount:team-a:workflows-sa", { "kubernetes.io.namespace": "team-a" }],
      ["team-b-workflows", "system:serviceaccount:team-b:workflows-sa", { "kubernetes.io.namespace": "team-b" }],
    ]);
    expect(keyless.labelPolicies).toEqual([]);
  }, 30_000);

  test("without trust policies the file stays the plain list of label policies it always was", async () => {
    const { text } = await policyFile([SQLITE]);
    expect(Array.isArray(Bun.YAML.parse(text!))).toBe(true);
  }, 30_000);

  test("changing a trust policy rolls the pods: the pods' checksum follows the file", async () => {
    const dir = mkdtempSync(join(tmpdir(), "broker-trust-"));
    try {
      const values = Bun.YAML.parse(readFileSync(KEYLESS, "utf8")) as { policies: { trustPolicies: Array<{ repositories: string[] }> } };
      values.policies.trustPolicies[1]!.repositories = ["infra", "docs"];
      const widened = join(dir, "widened.values.yaml");
      writeFileSync(widened, JSON.stringify(values));
      const [before, after] = [await policyFile([KEYLESS]), await policyFile([widened])];
      expect(after.text).not.toBe(before.text);
      expect(after.checksum).not.toBe(before.checksum);
      // The same policies render the same checksum: no restart without a change.
      expect((await policyFile([KEYLESS])).checksum).toBe(before.checksum);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 30_000);

  test("the ISSUER_JWKS_FILES paths are the files the issuers' ConfigMaps are mounted as", async () => {
    const objects = await renderChart([KEYLESS], [], BROKER_CHART);
    const pod = (objects.find((o) => o.kind === "Deployment") as unknown as { spec: { template: { spec: { containers: Array<{ env: Env[]; volumeMounts: Array<{ name: string; mountPath: string; readOnly?: boolean }> }>; volumes: Array<{ name: string; configMap?: { name: string; items: Array<{ key: string; path: string }> } }> } } } }).spec.template.spec;
    const files = containerEnv(objects).find((e) => e.name === "ISSUER_JWKS_FILES")!.value!.split(",");
    expect(files).toEqual(["https://kubernetes.default.svc.cluster.local=/etc/ghapp-runner-broker/issuers/0/jwks.json"]);
    const mount = pod.containers[0]!.volumeMounts.find((m) => files[0]!.endsWith(`=${m.mountPath}/jwks.json`))!;
    expect(mount.readOnly).toBe(true);
    const volume = pod.volumes.find((v) => v.name === mount.name)!;
    expect(volume.configMap).toEqual({ name: "cluster-a-issuer", items: [{ key: "jwks.json", path: "jwks.json" }] });
  }, 30_000);
});

describe("the chart and the broker agree on its settings", () => {
  test("every variable the chart sets is one the broker reads (generator/src/broker/config.ts), or a runtime's", async () => {
    const { BROKER_OPTIONS } = await import("../../generator/src/broker/config.ts");
    const known = new Set<string>(BROKER_OPTIONS.flatMap((o) => [o.env, ...("aliases" in o ? (o.aliases as readonly string[]) : [])]));
    const notTheBrokers: Record<string, string> = {
      NODE_EXTRA_CA_CERTS: "read by the Bun runtime the broker is compiled with",
    };
    // Settings the EVERYTHING values turn on, each read by the broker.
    const alsoSet = ["ALLOWED_REPOSITORY_OWNERS", "DEFAULT_RUNNER_GROUP_ID", "GITHUB_WEBHOOK_SECRET_FILE", "ISSUER_JWKS_FILES", "TOKEN_RATE_LIMIT", "TOKEN_MINT_RATE_LIMIT"];
    const names = containerEnv(await renderChart([EVERYTHING], [], BROKER_CHART)).map((e) => e.name);
    expect(names).toEqual(expect.arrayContaining([...alsoSet, ...Object.keys(notTheBrokers)]));
    const unknown = names.filter((n) => !known.has(n) && !(n in notTheBrokers));
    expect(unknown).toEqual([]);
  }, 30_000);
});
