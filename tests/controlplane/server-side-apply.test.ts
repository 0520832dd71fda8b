// Every object the charts render, with their defaults and with every values example, applied to a
// real API server (`kubectl apply --server-side --validate=strict`) that serves the CRDs the pinned
// External Secrets and Argo controllers ship: a field the API server does not know, a wrong type or
// a value outside an enum is refused here exactly as a cluster would refuse it.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { basename } from "node:path";
import { chartFor, renderChart, valuesExamples, type K8sObject } from "../chart/render.ts";
import { Cluster } from "./cluster.ts";

let cluster: Cluster;
const NAMESPACES = ["workflows", "flux-system", "external-secrets"];
/** Each rendering: the defaults, then each values example with the chart it is for. */
const renderings = new Map<string, K8sObject[]>();
const DEFAULTS = "defaults";

beforeAll(async () => {
  renderings.set(DEFAULTS, await renderChart());
  for (const file of valuesExamples()) renderings.set(file, await renderChart([file], [], chartFor(file)));
  // Full Argo schemas for the Argo kinds rendered (megabytes each), minimal ones for the rest.
  const argoKinds = new Set([...renderings.values()].flat().filter((o) => o.apiVersion === "argoproj.io/v1alpha1").map((o) => `${o.kind.toLowerCase()}s`));
  cluster = await Cluster.start();
  await cluster.applyCrds("external-secrets");
  await cluster.applyCrds("argo", [...argoKinds]);
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
