// Renders the chart with the project's pinned Helm and validates objects the way a cluster would:
// core kinds with kubernetes-models, External Secrets kinds with @kubernetes-models/external-secrets,
// Flux kinds with @kubernetes-models/flux-cd, and Argo's WorkflowTemplates and Workflows with Argo's
// own validator (ci/argo-validate). A kind no validator knows is an error: nothing passes unchecked.
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseAllDocuments, stringify } from "yaml";
import { runCommand } from "../helpers/run.ts";

export const ROOT = resolve(import.meta.dir, "../..");
export const CHART = join(ROOT, "charts/ghapp-tokens");
const TOOLS = join(ROOT, ".tools/bin");

export type K8sObject = { apiVersion: string; kind: string; metadata?: { name?: string; generateName?: string } } & Record<string, unknown>;

export function tool(name: string): string {
  const path = join(TOOLS, name);
  if (!existsSync(path)) throw new Error(`${path} is missing: run \`bash ci/tools.sh\` (npm test does)`);
  return path;
}

/** Helm keeps its cache, config and plugins in .tools/, as ci/env.sh sets for the shell. */
const run = (cmd: string[], stdin?: string) =>
  runCommand(cmd, { ...(stdin === undefined ? {} : { stdin }), env: { ...process.env, HELM_CACHE_HOME: join(ROOT, ".tools/helm/cache"), HELM_CONFIG_HOME: join(ROOT, ".tools/helm/config"), HELM_DATA_HOME: join(ROOT, ".tools/helm/data") } });

export function parseYaml(text: string): K8sObject[] {
  return parseAllDocuments(text)
    .map((d) => d.toJS() as K8sObject | null)
    .filter((o): o is K8sObject => !!o);
}

/** `helm template` of the chart with the given values files and --set pairs. */
export async function renderChart(valuesFiles: string[] = [], sets: string[] = [], chart = CHART): Promise<K8sObject[]> {
  const args = [tool("helm3"), "template", "ghapp-tokens", chart, "--namespace", "workflows", ...valuesFiles.flatMap((f) => ["-f", f]), ...sets.flatMap((s) => ["--set", s])];
  const r = await run(args);
  if (r.code !== 0) throw new Error(`helm template failed: ${r.stderr}`);
  return parseYaml(r.stdout);
}

/** The chart a values example is for: the sidecar library's example chart, or ghapp-tokens. */
export function chartFor(valuesFile: string): string {
  return valuesFile.split("/").at(-1)!.startsWith("sidecar-library") ? join(ROOT, "charts/ghapp-token-sidecar-example") : CHART;
}

export function valuesExamples(): string[] {
  const dir = join(ROOT, "values-examples");
  return readdirSync(dir).filter((f) => f.endsWith(".values.yaml")).sort().map((f) => join(dir, f));
}
export function workflowExamples(): string[] {
  const dir = join(ROOT, "values-examples");
  return readdirSync(dir).filter((f) => f.endsWith(".workflow.yaml")).sort().map((f) => join(dir, f));
}
/** Flux objects (GitRepository, ImageUpdateAutomation, ...) wired to the Secrets the chart renders. */
export function fluxExamples(): string[] {
  const dir = join(ROOT, "values-examples");
  return readdirSync(dir).filter((f) => f.endsWith(".flux.yaml")).sort().map((f) => join(dir, f));
}

const MODULES: Record<string, string> = {
  v1: "kubernetes-models/v1",
  "apps/v1": "kubernetes-models/apps/v1",
  "rbac.authorization.k8s.io/v1": "kubernetes-models/rbac.authorization.k8s.io/v1",
  "external-secrets.io/v1": "@kubernetes-models/external-secrets/external-secrets.io/v1",
  "generators.external-secrets.io/v1alpha1": "@kubernetes-models/external-secrets/generators.external-secrets.io/v1alpha1",
  "source.toolkit.fluxcd.io/v1": "@kubernetes-models/flux-cd/source.toolkit.fluxcd.io/v1",
  "image.toolkit.fluxcd.io/v1beta2": "@kubernetes-models/flux-cd/image.toolkit.fluxcd.io/v1beta2",
  "image.toolkit.fluxcd.io/v1": "@kubernetes-models/flux-cd/image.toolkit.fluxcd.io/v1",
};
const ARGO_KINDS = new Set(["WorkflowTemplate", "Workflow"]);

const label = (o: K8sObject) => `${o.kind}/${o.metadata?.name ?? o.metadata?.generateName ?? "?"}`;

/** Validates objects; returns one message per invalid object (empty: all valid). */
export async function validateObjects(objects: K8sObject[]): Promise<string[]> {
  const errors: string[] = [];
  const argo: K8sObject[] = [];
  for (const o of objects) {
    if (o.apiVersion === "argoproj.io/v1alpha1" && ARGO_KINDS.has(o.kind)) {
      argo.push(o);
      continue;
    }
    const mod = MODULES[o.apiVersion];
    if (!mod) {
      errors.push(`${label(o)}: no validator for apiVersion ${o.apiVersion}`);
      continue;
    }
    const Model = (await import(mod))[o.kind] as (new (data: unknown) => { validate(): void }) | undefined;
    if (!Model) {
      errors.push(`${label(o)}: no validator for kind ${o.kind} in ${o.apiVersion}`);
      continue;
    }
    try {
      new Model(o).validate();
    } catch (e) {
      errors.push(`${label(o)}: ${(e as Error).message}`);
    }
  }
  if (argo.length) errors.push(...(await argoValidate(argo)));
  return errors;
}

/** Runs Argo's own validator over the given WorkflowTemplates and Workflows together. */
export async function argoValidate(objects: K8sObject[]): Promise<string[]> {
  const dir = mkdtempSync(join(tmpdir(), "argo-validate-"));
  try {
    const file = join(dir, "objects.yaml");
    writeFileSync(file, objects.map((o) => stringify(o)).join("---\n"));
    const r = await run([tool("argo-validate"), file]);
    if (r.code === 2) throw new Error(`argo-validate could not read its input: ${r.stderr}`);
    const lines = r.stdout.trim().split("\n").filter(Boolean);
    if (lines.length !== objects.length) throw new Error(`argo-validate judged ${lines.length} of ${objects.length} objects:\n${r.stdout}${r.stderr}`);
    return lines.filter((l) => !l.startsWith("ok ")).map((l) => l.replace(/^error /, ""));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
