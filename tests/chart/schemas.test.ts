// Every object the chart renders, for the default values and each values-examples/*.values.yaml,
// is valid against the schemas a cluster enforces; example Workflows are valid against the
// templates they reference, and example Flux objects (*.flux.yaml) against Flux's schemas. And
// each validator is shown to reject a broken object, so a pass means something.
import { describe, expect, test } from "bun:test";
import { basename, join } from "node:path";
import { existsSync, readFileSync } from "node:fs";
import { argoValidate, chartFor, fluxExamples, parseYaml, renderChart, validateObjects, valuesExamples, workflowExamples, type K8sObject } from "./render.ts";

describe("rendered objects are valid", () => {
  test("with the default values: store, five ExternalSecrets, two accounts, the executor's token and RBAC, two WorkflowTemplates", async () => {
    const objects = await renderChart();
    expect(objects.map((o) => o.kind).sort()).toEqual([
      "ExternalSecret", "ExternalSecret", "ExternalSecret", "ExternalSecret", "ExternalSecret",
      "Role", "RoleBinding", "Secret", "SecretStore", "ServiceAccount", "ServiceAccount", "WorkflowTemplate", "WorkflowTemplate",
    ]);
    expect(await validateObjects(objects)).toEqual([]);
  });

  test("every values example names on its first line the chart it is for, and that chart exists", () => {
    for (const file of valuesExamples()) expect(existsSync(join(chartFor(file), "Chart.yaml"))).toBe(true);
    expect(valuesExamples().map((f) => basename(chartFor(f))).sort()).toContain("ghapp-token-sidecar-example");
  });

  for (const file of valuesExamples()) {
    test(`with ${basename(file)}`, async () => {
      const objects = await renderChart([file], [], chartFor(file));
      expect(objects.length).toBeGreaterThan(0);
      expect(await validateObjects(objects)).toEqual([]);
    });
  }

  test("with workflowTemplates.kind=ClusterWorkflowTemplate: cluster-scoped templates, and test-github-app calls them with clusterScope", async () => {
    const objects = await renderChart([], ["workflowTemplates.kind=ClusterWorkflowTemplate"]);
    const cluster = objects.filter((o) => o.kind === "ClusterWorkflowTemplate");
    expect(cluster.map((o) => o.metadata?.name).sort()).toEqual(["github-app-token", "test-github-app"]);
    expect(cluster.every((o) => !(o.metadata as { namespace?: string }).namespace)).toBe(true);
    expect(JSON.stringify(cluster)).toContain('"clusterScope":true');
    expect(await validateObjects(objects)).toEqual([]);
  });

  for (const file of workflowExamples()) {
    test(`${basename(file)} is valid against the chart's templates`, async () => {
      const templates = (await renderChart()).filter((o) => o.kind === "WorkflowTemplate");
      const workflows = parseYaml(readFileSync(file, "utf8"));
      expect(await argoValidate([...templates, ...workflows])).toEqual([]);
    });
  }

  for (const file of fluxExamples()) {
    test(`${basename(file)} is valid against Flux's schemas`, async () => {
      const objects = parseYaml(readFileSync(file, "utf8"));
      expect(objects.length).toBeGreaterThan(0);
      expect(await validateObjects(objects)).toEqual([]);
    });
  }
});

describe("each validator rejects a broken object", () => {
  const broken = async (o: Record<string, unknown>) => validateObjects([o as K8sObject]);

  test("kubernetes-models rejects a ServiceAccount with a string where a boolean belongs", async () => {
    const errors = await broken({ apiVersion: "v1", kind: "ServiceAccount", metadata: { name: "sa" }, automountServiceAccountToken: "yes" });
    expect(errors.join()).toContain("ServiceAccount/sa");
  });

  test("kubernetes-models rejects a Role rule without verbs", async () => {
    const errors = await broken({ apiVersion: "rbac.authorization.k8s.io/v1", kind: "Role", metadata: { name: "r" }, rules: [{ apiGroups: [""], resources: ["secrets"] }] });
    expect(errors.join()).toContain("verbs");
  });

  test("the External Secrets models reject an ExternalSecret with a malformed secretStoreRef", async () => {
    const errors = await broken({
      apiVersion: "external-secrets.io/v1", kind: "ExternalSecret", metadata: { name: "es" },
      spec: { secretStoreRef: { name: "aws-secrets", kind: "Vault" }, data: [{ secretKey: "appId" }] },
    });
    expect(errors.join()).toContain("ExternalSecret/es");
  });

  test("the ESO v2.9.0 CRD rejects a misspelt remoteRef field, which the API server would refuse", async () => {
    const errors = await broken({
      apiVersion: "external-secrets.io/v1", kind: "ExternalSecret", metadata: { name: "es" },
      spec: { secretStoreRef: { name: "aws-secrets", kind: "SecretStore" }, target: { name: "es" }, data: [{ secretKey: "appId", remoteRef: { key: "/github-apps/rex", propety: "appId" } }] },
    });
    expect(errors.join()).toContain("spec.data[0].remoteRef.propety: unknown field");
  });

  test("the ESO v2.9.0 CRD rejects an AWS store without a region and a provider it does not know", async () => {
    const store = (provider: unknown) => ({ apiVersion: "external-secrets.io/v1", kind: "SecretStore", metadata: { name: "s" }, spec: { provider } });
    expect((await broken(store({ aws: { service: "SecretsManager" } }))).join()).toContain("must have required property 'region'");
    expect((await broken(store({ awz: { region: "eu-west-1" } }))).join()).toContain("spec.provider.awz: unknown field");
  });

  test("the Flux models reject a GitRepository without a url", async () => {
    const errors = await broken({ apiVersion: "source.toolkit.fluxcd.io/v1", kind: "GitRepository", metadata: { name: "repo" }, spec: { interval: "1m" } });
    expect(errors.join()).toContain("url");
  });

  test("the External Secrets models reject a GithubAccessToken generator without installID", async () => {
    const errors = await broken({
      apiVersion: "generators.external-secrets.io/v1alpha1", kind: "GithubAccessToken", metadata: { name: "token" },
      spec: { appID: "123456", auth: { privateKey: { secretRef: { name: "github-app-flux", key: "privateKey" } } } },
    });
    expect(errors.join()).toContain("must have required property installID");
  });

  test("the External Secrets models reject an ExternalSecret whose generatorRef names no generator kind", async () => {
    const errors = await broken({
      apiVersion: "external-secrets.io/v1", kind: "ExternalSecret", metadata: { name: "es" },
      spec: { dataFrom: [{ sourceRef: { generatorRef: { apiVersion: "generators.external-secrets.io/v1alpha1", kind: "GitHubAccessToken", name: "token" } } }] },
    });
    expect(errors.join()).toContain("generatorRef/kind must be equal to one of the allowed values");
  });

  test("the External Secrets models reject a template engine other than v2", async () => {
    const errors = await broken({
      apiVersion: "external-secrets.io/v1", kind: "ExternalSecret", metadata: { name: "es" },
      spec: { target: { template: { engineVersion: "v1", data: { githubAppID: "{{ .appId }}" } } } },
    });
    expect(errors.join()).toContain("engineVersion must be equal to one of the allowed values");
  });

  test("the Flux models reject a GitRepository with an unknown provider", async () => {
    const errors = await broken({
      apiVersion: "source.toolkit.fluxcd.io/v1", kind: "GitRepository", metadata: { name: "repo" },
      spec: { interval: "1m", url: "https://github.com/acme/fleet-infra", provider: "gitlab" },
    });
    expect(errors.join()).toContain("provider must be equal to one of the allowed values");
  });

  test("the Flux models reject an ImageUpdateAutomation without a sourceRef", async () => {
    const errors = await broken({ apiVersion: "image.toolkit.fluxcd.io/v1", kind: "ImageUpdateAutomation", metadata: { name: "iua" }, spec: { interval: "30m" } });
    expect(errors.join()).toContain("must have required property sourceRef");
  });

  test("Argo's validator rejects a WorkflowTemplate that uses an undeclared parameter", async () => {
    const [template] = (await renderChart()).filter((o) => o.metadata?.name === "github-app-token");
    const spec = structuredClone(template!.spec) as { templates: Array<{ container: { args: string[] } }> };
    spec.templates[0]!.container.args = ["{{inputs.parameters.no-such-parameter}}"];
    const errors = await argoValidate([{ ...template!, spec }]);
    expect(errors.join()).toContain("failed to resolve {{inputs.parameters.no-such-parameter}}");
  });

  test("Argo's validator rejects a Workflow whose templateRef names a missing template", async () => {
    const workflow = {
      apiVersion: "argoproj.io/v1alpha1", kind: "Workflow", metadata: { generateName: "x-" },
      spec: { entrypoint: "main", templates: [{ name: "main", steps: [[{ name: "s", templateRef: { name: "github-app-token", template: "no-such-template" } }]] }] },
    } as K8sObject;
    const templates = (await renderChart()).filter((o) => o.kind === "WorkflowTemplate");
    expect((await argoValidate([...templates, workflow])).join()).toContain("no-such-template");
  });

  test("an object of a kind no validator knows is an error, not a pass", async () => {
    expect((await broken({ apiVersion: "example.com/v1", kind: "Widget", metadata: { name: "w" } })).join()).toContain("no validator");
  });
});
