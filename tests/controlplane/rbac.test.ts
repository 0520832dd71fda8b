// The chart's RBAC asked of a real authorizer: the chart's defaults applied to a real API server,
// then `kubectl auth can-i --as=system:serviceaccount:...` for each account a workflow involves.
// A step runs as the workflow's ServiceAccount; Argo's own init and wait containers as the
// executor's; External Secrets authenticates to the store as the store's.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { renderChart, type K8sObject } from "../chart/render.ts";
import { Cluster } from "./cluster.ts";

const NS = "workflows";
const APPS = ["rex", "clippy", "qa", "triage", "security"];
let cluster: Cluster;
let objects: K8sObject[];

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Any = any;
const template = (name: string): Any => objects.find((o) => o.kind === "WorkflowTemplate" && o.metadata?.name === name);

beforeAll(async () => {
  cluster = await Cluster.start();
  // Minimal Argo schemas: this file asks about permissions, server-side-apply.test.ts about schemas.
  await cluster.applyCrds("argo");
  await cluster.applyCrds("external-secrets");
  await cluster.createNamespace(NS);
  objects = await renderChart([], ["secretStore.serviceAccount.create=true"]);
  const r = await cluster.applyObjects(objects, NS);
  if (r.code !== 0) throw new Error(`applying the chart failed: ${r.stderr}`);
  // An unrelated Secret in the same namespace, which nobody here may read.
  await cluster.kubectl(["create", "secret", "generic", "someone-elses", "--from-literal=password=not-yours"], { namespace: NS });
}, 120_000);
afterAll(async () => {
  await cluster?.stop();
}, 60_000);

const SECRET_VERBS = ["get", "list", "watch", "create", "update", "patch", "delete"];

/** Every verb on Secrets, on every app's Secret by name and on Secrets in general. */
async function secretAccess(account: { namespace: string; name: string }): Promise<string[]> {
  const allowed: string[] = [];
  for (const verb of SECRET_VERBS) if (await cluster.canI(account, verb, "secrets")) allowed.push(`${verb} secrets`);
  for (const app of [...APPS, "someone-elses"]) {
    const secret = app === "someone-elses" ? app : `github-app-${app}`;
    if (await cluster.canI(account, "get", `secret/${secret}`)) allowed.push(`get secret/${secret}`);
  }
  return allowed;
}

describe("RBAC, asked of the real authorizer", () => {
  test("the account the workflow pods run as can neither get nor list any Secret", async () => {
    const account = { namespace: NS, name: template("github-app-token").spec.serviceAccountName as string };
    expect(account.name).toBe("workflows-sa");
    expect(await secretAccess(account)).toEqual([]);
    // ... and cannot make Argo report on its behalf either: it holds no permissions at all.
    expect(await cluster.canI(account, "create", "workflowtaskresults.argoproj.io")).toBe(false);
    expect(await cluster.canI(account, "create", "pods")).toBe(false);
  });

  test("the executor's account can create and patch workflowtaskresults, and nothing on Secrets", async () => {
    const name = template("github-app-token").spec.executor?.serviceAccountName as string | undefined;
    expect(name).toBeDefined();
    expect(name).not.toBe(template("github-app-token").spec.serviceAccountName);
    const account = { namespace: NS, name: name! };
    expect(await cluster.canI(account, "create", "workflowtaskresults.argoproj.io")).toBe(true);
    expect(await cluster.canI(account, "patch", "workflowtaskresults.argoproj.io")).toBe(true);
    expect(await secretAccess(account)).toEqual([]);
    // Nothing else: no pods, no other verbs, and nothing outside the release namespace.
    for (const [verb, resource, namespace] of [["get", "pods", NS], ["create", "pods", NS], ["delete", "workflowtaskresults.argoproj.io", NS], ["get", "workflows.argoproj.io", NS], ["create", "workflowtaskresults.argoproj.io", "default"]] as const) {
      expect(`${verb} ${resource} in ${namespace}: ${await cluster.canI(account, verb, resource, namespace)}`).toBe(`${verb} ${resource} in ${namespace}: false`);
    }
  });

  test("the store's ServiceAccount, which the provider authenticates as, holds no Kubernetes permissions on Secrets", async () => {
    const store: Any = objects.find((o) => o.kind === "SecretStore");
    const account = { namespace: NS, name: store.spec.provider.aws.auth.jwt.serviceAccountRef.name as string };
    expect(objects.some((o) => o.kind === "ServiceAccount" && o.metadata?.name === account.name)).toBe(true);
    // It only proves an identity to the cloud (IRSA): ESO requests its token; it reads nothing here.
    expect(await secretAccess(account)).toEqual([]);
  });

  test("the opt-in secret reader (e.g. a store reading the app Secrets through the API) gets exactly the app Secrets by name", async () => {
    const reader = { namespace: NS, name: "secret-reading-tool" };
    const withReader = await renderChart([], ["secretStore.serviceAccount.create=true", "rbac.secretReader.enabled=true", `rbac.secretReader.serviceAccount.name=${reader.name}`]);
    await cluster.kubectl(["create", "serviceaccount", reader.name], { namespace: NS });
    const r = await cluster.applyObjects(withReader, NS);
    expect(r.stderr).toBe("");
    expect(await secretAccess(reader)).toEqual(APPS.map((app) => `get secret/github-app-${app}`));
    // ... and the accounts above still hold nothing on Secrets.
    expect(await secretAccess({ namespace: NS, name: "workflows-sa" })).toEqual([]);
  });
});
