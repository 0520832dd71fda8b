// The runner broker's chart as a cluster would receive it: every rendering (its ct values files
// and one with every optional object on) validated the way tests/chart/render.ts validates the main
// chart (core kinds with kubernetes-models, ESO against its CRDs, ServiceMonitor and PrometheusRule
// against prometheus-operator's), the App's credentials wired to the Secret the Deployment reads,
// no secret as a plain value, and the chart's `fail`s holding without the values schema.
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

describe("the chart and the broker agree on its settings", () => {
  test("every variable the chart sets is one the broker reads (generator/src/broker/config.ts), or a runtime's", async () => {
    const { BROKER_OPTIONS } = await import("../../generator/src/broker/config.ts");
    const known = new Set<string>(BROKER_OPTIONS.flatMap((o) => [o.env, ...("aliases" in o ? (o.aliases as readonly string[]) : [])]));
    const notTheBrokers: Record<string, string> = {
      NODE_EXTRA_CA_CERTS: "read by the Bun runtime the broker is compiled with",
    };
    // Settings the EVERYTHING values turn on, each read by the broker.
    const alsoSet = ["ALLOWED_REPOSITORY_OWNERS", "DEFAULT_RUNNER_GROUP_ID", "GITHUB_WEBHOOK_SECRET_FILE"];
    const names = containerEnv(await renderChart([EVERYTHING], [], BROKER_CHART)).map((e) => e.name);
    expect(names).toEqual(expect.arrayContaining([...alsoSet, ...Object.keys(notTheBrokers)]));
    const unknown = names.filter((n) => !known.has(n) && !(n in notTheBrokers));
    expect(unknown).toEqual([]);
  }, 30_000);
});
