// Every object the charts render, with their defaults and with every values example (the runner
// broker's chart: with its ct values files and every optional object, trust policies and issuers' key
// set volumes included), applied to a real API server
// (`kubectl apply --server-side --validate=strict`) that serves the CRDs the pinned External
// Secrets and Argo controllers ship, and prometheus-operator's ServiceMonitor and PrometheusRule: a field the API server does not know, a wrong type or
// a value outside an enum is refused here exactly as a cluster would refuse it.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { basename, join } from "node:path";
import { chartFor, parseYaml, PROMETHEUS_CRDS, renderChart, ROOT, valuesExamples, type K8sObject } from "../chart/render.ts";
import { Cluster } from "./cluster.ts";

let cluster: Cluster;
const NAMESPACES = ["workflows", "flux-system", "external-secrets"];
/** Each rendering: the defaults, then each values example with the chart it is for. */
const renderings = new Map<string, K8sObject[]>();
const DEFAULTS = "defaults";
/** The runner broker's chart has no renderable defaults: its ct values files and every optional object. */
const BROKER_CHART = join(ROOT, "charts/ghapp-runner-broker");
const BROKER_VALUES = ["ci/sqlite-values.yaml", "ci/postgres-values.yaml", "tests/values/everything.yaml"];

beforeAll(async () => {
  renderings.set(DEFAULTS, await renderChart());
  for (const file of valuesExamples()) renderings.set(file, await renderChart([file], [], chartFor(file)));
  for (const file of BROKER_VALUES) renderings.set(file, await renderChart([join(BROKER_CHART, file)], [], BROKER_CHART));
  // Full Argo schemas for the Argo kinds rendered (megabytes each), minimal ones for the rest.
  const argoKinds = new Set([...renderings.values()].flat().filter((o) => o.apiVersion === "argoproj.io/v1alpha1").map((o) => `${o.kind.toLowerCase()}s`));
  cluster = await Cluster.start();
  await cluster.applyCrds("external-secrets");
  await cluster.applyCrds("argo", [...argoKinds]);
  // prometheus-operator's ServiceMonitor and PrometheusRule (vendored: tests/chart/crds/prometheus-operator).
  const prometheus = readdirSync(PROMETHEUS_CRDS).filter((f) => f.endsWith(".yaml")).flatMap((f) => parseYaml(readFileSync(join(PROMETHEUS_CRDS, f), "utf8")));
  await cluster.kubectl(["apply", "--server-side", "-f", "-"], { stdin: prometheus.map((o) => JSON.stringify(o)).join("\n"), timeoutMs: 120_000 });
  await cluster.kubectl(["wait", "--for=condition=Established", "--timeout=120s", ...prometheus.map((o) => `crd/${o.metadata!.name}`)], { timeoutMs: 130_000 });
  for (const ns of NAMESPACES) await cluster.createNamespace(ns);
}, 240_000);
afterAll(async () => {
  await cluster?.stop();
}, 60_000);

const label = (o: K8sObject) => `${o.kind}/${o.metadata?.name}`;

/** Applies one rendering, checks every object was accepted, then deletes them for the next one. */
async function applyAndRemove(objects: K8sObject[]): Promise<void> {
  expect(objects.length).toBeGreaterThan(0);
  const r = await cluster.applyObjects(objects, "workflows");
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
  // kubectl prints one "<kind>/<name> serverside-applied" line per object it applied.
  expect(r.stdout.trim().split("\n").length).toBe(objects.length);
  const names = objects.map((o) => JSON.stringify(o)).join("\n");
  await cluster.kubectl(["delete", "--wait=true", "-f", "-"], { stdin: names, namespace: "workflows" });
}

describe("server-side apply: the API server accepts everything the charts render", () => {
  test("ghapp-tokens with its defaults", async () => {
    const objects = renderings.get(DEFAULTS)!;
    expect(objects.map(label)).toContain("WorkflowTemplate/test-github-app");
    await applyAndRemove(objects);
  }, 60_000);

  for (const file of valuesExamples()) {
    test(`${basename(file)} (${basename(chartFor(file))})`, async () => {
      await applyAndRemove(renderings.get(file)!);
    }, 60_000);
  }

  for (const file of BROKER_VALUES) {
    test(`ghapp-runner-broker with ${file}`, async () => {
      const objects = renderings.get(file)!;
      if (file === "tests/values/everything.yaml") {
        // The keyless settings are part of what is applied: the policy file as the mapping with trust
        // policies, and an issuer's key set mounted from its ConfigMap.
        const policies = objects.find((o) => o.kind === "ConfigMap") as unknown as { data: Record<string, string> };
        expect(policies.data["policies.yaml"]).toContain("\ntrust_policies:\n");
        expect(JSON.stringify(objects.find((o) => o.kind === "Deployment"))).toContain('"name":"issuer-jwks-0","configMap":{"name":"cluster-a-issuer"');
      }
      // The API server adds kubernetes.io/pvc-protection to a claim; the controller-manager, absent
      // here, would drop it once no pod uses the claim. Do that, so the clean-up can delete it.
      for (const claim of objects.filter((o) => o.kind === "PersistentVolumeClaim")) {
        const applied = await cluster.applyObjects(objects, "workflows");
        expect(applied.code).toBe(0);
        await cluster.kubectl(["patch", "pvc", claim.metadata!.name!, "--type=merge", "-p", '{"metadata":{"finalizers":null}}'], { namespace: "workflows" });
      }
      await applyAndRemove(objects);
    }, 60_000);
  }

  test("a field the CRD does not define is refused, naming the field (the check can fail)", async () => {
    const es = structuredClone(renderings.get(DEFAULTS)!.find((o) => o.kind === "ExternalSecret")!);
    (es.spec as Record<string, unknown>).refreshIntervall = "1h";
    const r = await cluster.applyObjects([es], "workflows");
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(".spec.refreshIntervall: field not declared in schema");
  }, 60_000);

  test("a value outside ESO's enum is refused by the API server (the check can fail)", async () => {
    const es = structuredClone(renderings.get(DEFAULTS)!.find((o) => o.kind === "ExternalSecret")!);
    (es.spec as { target: Record<string, unknown> }).target.creationPolicy = "Sometimes";
    const r = await cluster.applyObjects([es], "workflows");
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("spec.target.creationPolicy");
  }, 60_000);
});
