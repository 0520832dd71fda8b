// Who gets Kubernetes API credentials, read from what the chart renders (defaults and every
// values example of the main chart): no step container gets a ServiceAccount token, nothing may
// read Secrets through the API unless rbac.secretReader names an account, Argo's executor gets a
// token of its own account that may do exactly workflowtaskresults create and patch, and no main
// container mounts the key. docs/security.md, "Trust boundary", states these; this file checks them.
import { describe, expect, test } from "bun:test";
import { basename } from "node:path";
import { CHART, chartFor, renderChart, valuesExamples, type K8sObject } from "./render.ts";

type Rule = { apiGroups?: string[]; resources?: string[]; verbs?: string[]; resourceNames?: string[] };
type Subject = { kind: string; name: string; namespace?: string };
type Mount = { name: string };
type Container = { name?: string; volumeMounts?: Mount[]; env?: Array<{ name: string; valueFrom?: { secretKeyRef?: unknown } }>; envFrom?: unknown[] };
type Template = {
  name: string;
  container?: Container;
  script?: Container;
  initContainers?: Container[];
  sidecars?: Container[];
  volumes?: Array<{ name: string; secret?: { secretName: string } }>;
  automountServiceAccountToken?: boolean;
  executor?: { serviceAccountName?: string };
};

const byKind = (objects: K8sObject[], kind: string) => objects.filter((o) => o.kind === kind);
const rules = (o: K8sObject) => (o.rules as Rule[] | undefined) ?? [];
const name = (o: K8sObject) => o.metadata?.name ?? "";

/** The accounts a Role is bound to, through every RoleBinding that references it. */
function subjectsOf(objects: K8sObject[], role: string): Subject[] {
  return byKind(objects, "RoleBinding")
    .filter((b) => (b.roleRef as { kind: string; name: string }).kind === "Role" && (b.roleRef as { name: string }).name === role)
    .flatMap((b) => b.subjects as Subject[]);
}

/** Every Argo template that becomes a pod. */
function podTemplates(objects: K8sObject[]): Template[] {
  return byKind(objects, "WorkflowTemplate").flatMap((wt) => (wt.spec as { templates: Template[] }).templates).filter((t) => t.container || t.script);
}

function checkTrustBoundary(objects: K8sObject[]): void {
  // Nothing in the chart may read Secrets through the API, and there is no cluster-wide grant.
  expect(byKind(objects, "ClusterRole")).toEqual([]);
  expect(byKind(objects, "ClusterRoleBinding")).toEqual([]);
  for (const role of byKind(objects, "Role")) {
    expect({ role: name(role), secrets: rules(role).some((r) => r.resources?.includes("secrets") || r.resources?.includes("*")) }).toEqual({ role: name(role), secrets: false });
  }

  const templates = podTemplates(objects);
  expect(templates.length).toBeGreaterThan(0);
  const executors = new Set<string>();
  for (const t of templates) {
    expect({ template: t.name, automount: t.automountServiceAccountToken }).toEqual({ template: t.name, automount: false });
    expect(t.executor?.serviceAccountName).toBeTruthy();
    executors.add(t.executor!.serviceAccountName!);
    // The main container never mounts a secret volume, nor takes Secret values in its env.
    const secretVolumes = new Set((t.volumes ?? []).filter((v) => v.secret).map((v) => v.name));
    const main = (t.container ?? t.script)!;
    expect({ template: t.name, mounts: (main.volumeMounts ?? []).filter((m) => secretVolumes.has(m.name)).map((m) => m.name) }).toEqual({ template: t.name, mounts: [] });
    expect((main.env ?? []).filter((e) => e.valueFrom?.secretKeyRef)).toEqual([]);
    expect(main.envFrom).toBeUndefined();
    // Only the generator's containers mount the key.
    for (const c of [...(t.initContainers ?? []), ...(t.sidecars ?? [])]) {
      if ((c.volumeMounts ?? []).some((m) => secretVolumes.has(m.name))) expect(c.name).toStartWith("github-app-token");
    }
  }

  // The workflow pods' account: no token of its own, bound to nothing.
  const podAccounts = new Set(byKind(objects, "WorkflowTemplate").map((wt) => (wt.spec as { serviceAccountName?: string }).serviceAccountName));
  for (const sa of byKind(objects, "ServiceAccount").filter((s) => podAccounts.has(name(s)))) {
    expect(sa.automountServiceAccountToken).toBe(false);
    expect(byKind(objects, "RoleBinding").flatMap((b) => b.subjects as Subject[]).filter((s) => s.name === name(sa))).toEqual([]);
  }

  // The executor: its account, the token Secret Argo mounts, and a Role of exactly what it needs.
  for (const executor of executors) {
    expect(podAccounts.has(executor)).toBe(false);
    expect(byKind(objects, "ServiceAccount").map(name)).toContain(executor);
    const token = byKind(objects, "Secret").find((s) => name(s) === `${executor}.service-account-token`);
    expect(token?.type).toBe("kubernetes.io/service-account-token");
    expect((token?.metadata as { annotations?: Record<string, string> }).annotations?.["kubernetes.io/service-account.name"]).toBe(executor);
    const grants = byKind(objects, "Role").filter((r) => subjectsOf(objects, name(r)).some((s) => s.name === executor));
    expect(grants.flatMap(rules)).toEqual([{ apiGroups: ["argoproj.io"], resources: ["workflowtaskresults"], verbs: ["create", "patch"] }]);
  }
}

describe("no step gets Kubernetes API credentials", () => {
  test("with the default values", async () => {
    checkTrustBoundary(await renderChart());
  });

  for (const file of valuesExamples().filter((f) => chartFor(f) === CHART)) {
    test(`with ${basename(file)}`, async () => {
      checkTrustBoundary(await renderChart([file]));
    });
  }

  test("the check fails on what the chart rendered before: get on the app Secrets for the pods' account", async () => {
    const objects = await renderChart();
    const role = byKind(objects, "Role")[0]!;
    const leaky = objects.map((o) => (o === role ? { ...o, rules: [...rules(o), { apiGroups: [""], resources: ["secrets"], verbs: ["get"], resourceNames: ["github-app-rex"] }] } : o));
    expect(() => checkTrustBoundary(leaky)).toThrow();
    const mounted = objects.map((o) =>
      o.kind === "WorkflowTemplate" ? { ...o, spec: { ...(o.spec as object), templates: (o.spec as { templates: Template[] }).templates.map(({ automountServiceAccountToken: _, ...t }) => t) } } : o,
    );
    expect(() => checkTrustBoundary(mounted)).toThrow();
  });

  test("the opt-in Secret reader reads exactly the app Secrets and is bound only to the account named", async () => {
    const objects = await renderChart([], ["rbac.secretReader.enabled=true", "rbac.secretReader.serviceAccount.name=secrets-sync", "apps[0].name=rex", "apps[1].name=clippy"]);
    const reader = byKind(objects, "Role").find((r) => rules(r).some((x) => x.resources?.includes("secrets")))!;
    expect(byKind(objects, "ExternalSecret").map(name)).toEqual(["github-app-rex", "github-app-clippy"]);
    expect(rules(reader)).toEqual([{ apiGroups: [""], resources: ["secrets"], verbs: ["get"], resourceNames: ["github-app-rex", "github-app-clippy"] }]);
    expect(subjectsOf(objects, name(reader))).toEqual([{ kind: "ServiceAccount", name: "secrets-sync", namespace: "workflows" }]);
  });
});
