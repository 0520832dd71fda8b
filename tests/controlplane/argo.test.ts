// Argo for real: the chart installed on a real API server, its app Secrets synced by the real
// External Secrets controller (fake store holding the simulator's App), the real Argo workflow
// controller turning `argo submit --from workflowtemplate/test-github-app` into a pod, that pod's
// containers run here (argo-pod.ts) with the real argoexec, and the Workflow reaching Succeeded with
// `gh` authenticated against the GitHub API simulator. A step that tries to read a Secret through
// the Kubernetes API from inside its container is refused.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { stringify } from "yaml";
import { renderChart, ROOT, type K8sObject } from "../chart/render.ts";
import { BINARY, requireBinary } from "../helpers/generator.ts";
import { expectNoSecrets } from "../helpers/secrets.ts";
import { Cluster, waitFor, type Proc } from "./cluster.ts";
import { startArgo, startExternalSecrets } from "./controllers.ts";
import { runArgoPod, type ApiPod, type ContainerResult } from "./argo-pod.ts";

const NS = "workflows";
const SIM_PORT = 8443;
let cluster: Cluster;
let argo: Proc;
let eso: Proc;
let sim: Proc;
let objects: K8sObject[];
let simState: { appId: number };
let appKey: string;

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Any = any;

beforeAll(async () => {
  requireBinary();
  cluster = await Cluster.start();
  await cluster.applyCrds("external-secrets");
  await cluster.applyCrds("argo", ["workflows", "workflowtemplates", "workflowtaskresults"]);
  await cluster.createNamespace(NS);
  // The simulated GitHub Enterprise Server, inside the cluster's network namespace.
  const state = join(cluster.dir, "simulator");
  // The cluster's processes get a minimal environment; the simulator still logs its exchanges for the
  // conformance check (docs/maintainers.md, "Keeping the simulator faithful").
  const record: Record<string, string> = process.env.GHAPP_SIM_EXCHANGES_DIR ? { GHAPP_SIM_EXCHANGES_DIR: process.env.GHAPP_SIM_EXCHANGES_DIR } : {};
  sim = cluster.spawn("simulator", [process.execPath, join(ROOT, "tests/simulator/cli.ts"), "--state-dir", state, "--listen", `127.0.0.1:${SIM_PORT}`, "--prefix", "/api/v3", "--tls"], record);
  simState = await waitFor("the simulator to write its state", 30_000, async () => {
    const text = await Bun.file(join(state, "simulator.json")).text().catch(() => "");
    return text ? (JSON.parse(text) as { appId: number }) : undefined;
  }, () => sim.tail());
  appKey = readFileSync(join(state, "app.pem"), "utf8");
  await cluster.kubectl(["create", "configmap", "ghes-ca", `--from-file=ca.crt=${join(state, "ca.pem")}`], { namespace: NS });

  eso = await startExternalSecrets(cluster);
  // The store holds the simulator's App for every app name (the same App five times is enough here).
  const apps = ["rex", "clippy", "qa", "triage", "security"];
  const data = apps.flatMap((app) => [
    { key: `/github-apps/${app}/appId`, value: String(simState.appId) },
    { key: `/github-apps/${app}/privateKey`, value: appKey },
  ]);
  const values = join(cluster.dir, "values.yaml");
  writeFileSync(values, stringify({ secretStore: { provider: { fake: { data } } }, github: { apiUrl: `https://localhost:${SIM_PORT}/api/v3`, caConfigMap: "ghes-ca" } }));
  objects = await renderChart([values]);
  const r = await cluster.applyObjects(objects, NS);
  if (r.code !== 0) throw new Error(`applying the chart failed: ${r.stderr}`);
  await cluster.fillServiceAccountTokens(NS);
  await waitFor("Secret github-app-rex to be synced", 60_000, async () => (await cluster.kubectl(["get", "secret", "github-app-rex"], { namespace: NS, check: false })).code === 0, () => eso.tail());
  argo = await startArgo(cluster);
}, 180_000);
afterAll(async () => {
  await cluster?.stop();
}, 60_000);

/** What `argo submit --from workflowtemplate/NAME -p k=v` creates. */
async function submitFrom(template: string, parameters: Record<string, string>): Promise<string> {
  const wf = {
    apiVersion: "argoproj.io/v1alpha1",
    kind: "Workflow",
    metadata: { generateName: `${template}-`, namespace: NS, labels: { "workflows.argoproj.io/workflow-template": template } },
    spec: { workflowTemplateRef: { name: template }, arguments: { parameters: Object.entries(parameters).map(([name, value]) => ({ name, value })) } },
  };
  const r = await cluster.kubectl(["create", "-f", "-", "-o", "jsonpath={.metadata.name}"], { stdin: JSON.stringify(wf), namespace: NS });
  return r.stdout.trim();
}

const workflow = (name: string) => cluster.get<Any>(["workflow", name], NS);

/** Waits for the controller to create the workflow's pod, failing with the workflow's status. */
async function podOf(name: string): Promise<ApiPod> {
  return waitFor(`a pod for Workflow ${name}`, 60_000, async () => {
    argo.assertRunning();
    const pods = await cluster.get<{ items: ApiPod[] }>(["pods", "-l", `workflows.argoproj.io/workflow=${name}`], NS);
    return pods.items[0];
  }, async () => `${JSON.stringify((await workflow(name)).status ?? {}, null, 1)}\n${argo.tail()}`);
}

/** Each container's name and exit code, with its output when it failed (what `kubectl logs` would show). */
const summary = (results: ContainerResult[]) => results.map((r) => (r.code === 0 ? `${r.name}: 0` : `${r.name}: ${r.code}\n${r.stdout}${r.stderr}`));

async function waitPhase(name: string, results: ContainerResult[]): Promise<Any> {
  let wf: Any;
  await waitFor(`Workflow ${name} to finish`, 60_000, async () => {
    argo.assertRunning();
    wf = await workflow(name);
    return ["Succeeded", "Failed", "Error"].includes(wf.status?.phase);
  }, () => `${JSON.stringify(wf?.status ?? {}, null, 1)}\n${results.map((r) => `--- ${r.name} exit ${r.code}\n${r.stdout}${r.stderr}`).join("\n")}\n${argo.tail()}`);
  return wf;
}

describe("Argo, for real: test-github-app submitted, run, and Succeeded", () => {
  test("the controller turns test-github-app into a pod whose step has no API token and only its volumes", async () => {
    const name = await submitFrom("test-github-app", { "github-app": "rex", owner: "acme-org" });
    const pod = await podOf(name);
    const executor = objects.find((o: Any) => o.kind === "WorkflowTemplate" && o.metadata.name === "github-app-token") as Any;
    expect(pod.spec.serviceAccountName).toBe("workflows-sa");
    expect(pod.spec.automountServiceAccountToken).toBe(false);
    // No projected ServiceAccount token volume; the executor's token only as Argo's own volume.
    expect(pod.spec.volumes.filter((v) => v.projected)).toEqual([]);
    const tokenVolume = pod.spec.volumes.find((v) => v.name === "exec-sa-token");
    expect(tokenVolume?.secret?.secretName).toBe(`${executor.spec.executor.serviceAccountName}.service-account-token`);
    const mountsOf = (c: { volumeMounts?: Array<{ name: string; mountPath: string }> }) => (c.volumeMounts ?? []).map((m) => `${m.name}:${m.mountPath}`);
    const containers = [...(pod.spec.initContainers ?? []), ...pod.spec.containers];
    const withToken = containers.filter((c) => mountsOf(c).some((m) => m.startsWith("exec-sa-token:"))).map((c) => c.name).sort();
    expect(withToken).toEqual(["init", "wait"]);
    const main = pod.spec.containers.find((c) => c.name === "main")!;
    expect(mountsOf(main).some((m) => m.includes("/var/run/secrets"))).toBe(false);
    // The step sees what the chart's `run` template gives it (token folder, scratch space, CA) and
    // Argo's own /var/run/argo, never the App's key.
    const run = executor.spec.templates.find((t: Any) => t.name === "run");
    expect(mountsOf(main).filter((m) => !m.startsWith("var-run-argo:")).sort()).toEqual(mountsOf(run.container).sort());
    expect(mountsOf(main).some((m) => m.startsWith("github-app-key:"))).toBe(false);
    expect(mountsOf(main)).toContain("github-token:/var/run/github");
    const generator = pod.spec.initContainers!.find((c) => c.name === "github-app-token")!;
    expect(mountsOf(generator)).toContain("github-app-key:/var/run/github-app");

    const results = await runArgoPod(cluster, pod, [BINARY]);
    expect(summary(results).sort()).toEqual(["github-app-token: 0", "init: 0", "main: 0", "wait: 0"]);
    const wf = await waitPhase(name, results);
    const out = Object.fromEntries(results.map((r) => [r.name, r]));
    expect(out.main?.stdout).toContain("token works: the installation grants access to");
    expect(out.main?.stdout).toContain("acme-org/api");
    expect(wf.status.phase).toBe("Succeeded");
    expectNoSecrets(results.map((r) => r.stdout + r.stderr).join("\n"));
  }, 180_000);

  test("a step that tries to read a Secret through the Kubernetes API is refused", async () => {
    // A caller's own workflow using the chart's template, whose script tries the API with whatever
    // credentials its container holds (none: it is anonymous).
    const script = [
      "set -u",
      "tokenfile=/var/run/secrets/kubernetes.io/serviceaccount/token",
      'auth=""; if [ -r "$tokenfile" ]; then echo "a ServiceAccount token is mounted"; auth="Authorization: Bearer $(cat "$tokenfile")"; fi',
      'code=$(curl -s -o /dev/null -w "%{http_code}" -k -H "${auth:-X-None: 1}" "https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT/api/v1/namespaces/workflows/secrets/github-app-rex")',
      'echo "GET secret github-app-rex through the API: HTTP $code"',
      'test "$code" = 401 || test "$code" = 403',
    ].join("\n");
    const wfObject = {
      apiVersion: "argoproj.io/v1alpha1",
      kind: "Workflow",
      metadata: { generateName: "read-secret-", namespace: NS },
      spec: {
        serviceAccountName: "workflows-sa",
        entrypoint: "main",
        templates: [{ name: "main", steps: [[{ name: "try", templateRef: { name: "github-app-token", template: "run" }, arguments: { parameters: [{ name: "github-app", value: "rex" }, { name: "owner", value: "acme-org" }, { name: "image", value: "docker.io/curlimages/curl:8.11.1" }, { name: "script", value: script }] } }]] }],
      },
    };
    const name = (await cluster.kubectl(["create", "-f", "-", "-o", "jsonpath={.metadata.name}"], { stdin: JSON.stringify(wfObject), namespace: NS })).stdout.trim();
    const pod = await podOf(name);
    const results = await runArgoPod(cluster, pod, [BINARY]);
    expect(summary(results).sort()).toEqual(["github-app-token: 0", "init: 0", "main: 0", "wait: 0"]);
    const wf = await waitPhase(name, results);
    const main = results.find((r) => r.name === "main")!;
    expect(main.stdout).not.toContain("a ServiceAccount token is mounted");
    expect(main.stdout).toMatch(/GET secret github-app-rex through the API: HTTP 40[13]/);
    expect(wf.status.phase).toBe("Succeeded");
  }, 180_000);
});
