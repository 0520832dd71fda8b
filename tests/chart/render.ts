// Renders the chart with the project's pinned Helm and validates objects the way a cluster would:
// core kinds with kubernetes-models, External Secrets kinds with @kubernetes-models/external-secrets
// and again against the exact ESO v2.9.0 CRDs (tests/chart/crds, vendored; unknown fields count as
// errors, as kubectl's strict field validation makes them), Flux kinds with @kubernetes-models/flux-cd,
// prometheus-operator's ServiceMonitor and PrometheusRule against their vendored CRDs,
// and Argo's WorkflowTemplates, ClusterWorkflowTemplates and Workflows with Argo's own validator
// (ci/argo-validate). A kind no validator knows is an error: nothing passes unchecked.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import Ajv from "ajv";
import { RE2JS } from "re2js";
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

/** The chart a values example is for, from its first line `# Chart: charts/<name>`. */
export function chartFor(valuesFile: string): string {
  const first = readFileSync(valuesFile, "utf8").split("\n", 1)[0]!;
  const match = /^# Chart: (charts\/[a-z0-9-]+)(\s|$)/.exec(first);
  if (!match) throw new Error(`${valuesFile}: the first line must name the chart the file is for, e.g. "# Chart: charts/ghapp-tokens"`);
  return join(ROOT, match[1]!);
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
  "networking.k8s.io/v1": "kubernetes-models/networking.k8s.io/v1",
  "policy/v1": "kubernetes-models/policy/v1",
};
const ARGO_KINDS = new Set(["WorkflowTemplate", "ClusterWorkflowTemplate", "Workflow"]);

type Schema = { type?: string; properties?: Record<string, Schema>; items?: Schema; additionalProperties?: boolean | Schema; "x-kubernetes-preserve-unknown-fields"?: boolean };
const ESO = JSON.parse(readFileSync(join(import.meta.dir, "crds/eso-v2.9.0.json"), "utf8")) as { externalSecret: Schema; secretStore: Schema };
const ESO_SCHEMAS: Record<string, Schema> = { ExternalSecret: ESO.externalSecret, SecretStore: ESO.secretStore, ClusterSecretStore: ESO.secretStore };
// Formats (int64, date-time, ...) and Kubernetes' x- keywords are the API server's business, not JSON Schema's.
const ajv = new Ajv({ allErrors: true, strict: false, validateFormats: false });
const esoValidators = Object.fromEntries(Object.entries(ESO_SCHEMAS).map(([kind, schema]) => [kind, ajv.compile(schema)]));

/** Fields the API server would refuse under strict field validation: not in the schema, not preserved. */
function unknownFields(value: unknown, schema: Schema, path: string): string[] {
  if (schema["x-kubernetes-preserve-unknown-fields"]) return [];
  if (Array.isArray(value)) return schema.items ? value.flatMap((v, i) => unknownFields(v, schema.items!, `${path}[${i}]`)) : [];
  if (!value || typeof value !== "object") return [];
  return Object.entries(value).flatMap(([key, inner]) => {
    const known = schema.properties?.[key] ?? (typeof schema.additionalProperties === "object" ? schema.additionalProperties : undefined);
    if (known) return unknownFields(inner, known, `${path}.${key}`);
    return schema.additionalProperties === true ? [] : [`${path}.${key}: unknown field`];
  });
}

/** Errors of an External Secrets object against its exact CRD schema. */
function esoCrdErrors(o: K8sObject): string[] {
  const validate = esoValidators[o.kind];
  if (!validate) return [];
  const errors = validate(o) ? [] : (validate.errors ?? []).map((e) => `${e.instancePath || "/"} ${e.message}`);
  return [...errors, ...unknownFields(o.spec, ESO_SCHEMAS[o.kind]!.properties!.spec!, "spec")];
}

/**
 * prometheus-operator's ServiceMonitor and PrometheusRule (the runner broker's chart), against the
 * v1 schemas of the CRDs vendored in tests/chart/crds/prometheus-operator (no models package has them).
 */
export const PROMETHEUS_CRDS = join(import.meta.dir, "crds/prometheus-operator");
const PROMETHEUS_SCHEMAS: Record<string, Schema> = Object.fromEntries(
  readdirSync(PROMETHEUS_CRDS).filter((f) => f.endsWith(".yaml")).map((f) => {
    const crd = parseYaml(readFileSync(join(PROMETHEUS_CRDS, f), "utf8"))[0] as unknown as { spec: { names: { kind: string }; versions: Array<{ name: string; schema: { openAPIV3Schema: Schema } }> } };
    return [crd.spec.names.kind, crd.spec.versions.find((v) => v.name === "v1")!.schema.openAPIV3Schema];
  }),
);
// Their patterns are Go's (RE2: `^(?i)(abort|warn)?$`), which JavaScript's RegExp does not read.
const re2 = (source: string) => {
  const compiled = RE2JS.compile(source);
  return { test: (text: string) => compiled.matcher(text).find(), source, flags: "" } as unknown as RegExp;
};
const prometheusAjv = new Ajv({ allErrors: true, strict: false, validateFormats: false, code: { regExp: re2 as never } });
const prometheusValidators = Object.fromEntries(Object.entries(PROMETHEUS_SCHEMAS).map(([kind, schema]) => [kind, prometheusAjv.compile(schema)]));

function prometheusCrdErrors(o: K8sObject): string[] {
  const validate = prometheusValidators[o.kind];
  if (!validate) return [`no prometheus-operator CRD for kind ${o.kind}`];
  const errors = validate(o) ? [] : (validate.errors ?? []).map((e) => `${e.instancePath || "/"} ${e.message}`);
  return [...errors, ...unknownFields(o.spec, PROMETHEUS_SCHEMAS[o.kind]!.properties!.spec!, "spec")];
}

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
    if (o.apiVersion === "monitoring.coreos.com/v1") {
      errors.push(...prometheusCrdErrors(o).map((e) => `${label(o)} (prometheus-operator CRD): ${e}`));
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
    if (o.apiVersion === "external-secrets.io/v1") errors.push(...esoCrdErrors(o).map((e) => `${label(o)} (ESO v2.9.0 CRD): ${e}`));
  }
  if (argo.length) errors.push(...(await argoValidate(argo)));
  return errors;
}

/**
 * ci/argo-validate resolves templateRefs among namespaced templates only. A ClusterWorkflowTemplate
 * has the same spec (Argo validates both with the same code), so it is judged as a WorkflowTemplate
 * of its name, and `clusterScope: true` references to it as references to that template.
 */
function asNamespaced(objects: K8sObject[]): K8sObject[] {
  const cluster = new Set(objects.filter((o) => o.kind === "ClusterWorkflowTemplate").map((o) => o.metadata?.name));
  const unscope = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(unscope);
    if (!value || typeof value !== "object") return value;
    const entries = Object.entries(value as Record<string, unknown>);
    const ref = value as { name?: string; clusterScope?: boolean; template?: string };
    if (ref.clusterScope === true && ref.template !== undefined && cluster.has(ref.name)) return Object.fromEntries(entries.filter(([k]) => k !== "clusterScope"));
    return Object.fromEntries(entries.map(([k, v]) => [k, unscope(v)]));
  };
  return objects.map((o) => {
    const namespaced = unscope(o) as K8sObject;
    return o.kind === "ClusterWorkflowTemplate" ? { ...namespaced, kind: "WorkflowTemplate" } : namespaced;
  });
}

/** Runs Argo's own validator over the given WorkflowTemplates, ClusterWorkflowTemplates and Workflows together. */
export async function argoValidate(objects: K8sObject[]): Promise<string[]> {
  const dir = mkdtempSync(join(tmpdir(), "argo-validate-"));
  try {
    const file = join(dir, "objects.yaml");
    writeFileSync(file, asNamespaced(objects).map((o) => stringify(o)).join("---\n"));
    const r = await run([tool("argo-validate"), file]);
    if (r.code === 2) throw new Error(`argo-validate could not read its input: ${r.stderr}`);
    const lines = r.stdout.trim().split("\n").filter(Boolean);
    if (lines.length !== objects.length) throw new Error(`argo-validate judged ${lines.length} of ${objects.length} objects:\n${r.stdout}${r.stderr}`);
    return lines.filter((l) => !l.startsWith("ok ")).map((l) => l.replace(/^error /, ""));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
