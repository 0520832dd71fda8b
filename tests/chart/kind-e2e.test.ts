// The kind job (ci/kind-e2e.sh) cannot run here, so what it would apply is rendered
// (`ci/kind-e2e.sh render`) and checked the way a cluster would check it: every object valid
// against its schema or Argo's validator, and the pieces wired to each other (API URL, CA,
// certificate name, app credentials, image, Workflow arguments).
import { createPrivateKey } from "node:crypto";
import { describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { generateAppKey } from "../simulator/simulator.ts";
import { tempDir } from "../helpers/generator.ts";
import { runCommand } from "../helpers/run.ts";
import { parseYaml, ROOT, validateObjects, type K8sObject } from "./render.ts";

function kindE2e(args: string[], env: Record<string, string> = {}) {
  const clean = { ...process.env, GHAPP_TEST_APP_ID: "", GHAPP_TEST_PRIVATE_KEY: "", GHAPP_TEST_OWNER: "", GHAPP_TEST_API_URL: "", ...env };
  return runCommand(["bash", "ci/kind-e2e.sh", ...args], { cwd: ROOT, env: clean });
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Any = any;
const find = (objects: K8sObject[], kind: string, name?: string): Any =>
  objects.find((o) => o.kind === kind && (name === undefined || o.metadata?.name === name || o.metadata?.generateName === name));
const env = (container: Any, name: string) => (container.env as Array<{ name: string; value?: string }>).find((e) => e.name === name)?.value;

describe("the kind job's objects (ci/kind-e2e.sh render)", () => {
  test("with the simulator: every object is valid, and URL, CA, certificate and credentials fit together", async () => {
    const r = await kindE2e(["render"], { NAMESPACE: "e2e-render" });
    expect(r.code).toBe(0);
    const objects = parseYaml(r.stdout);
    expect(await validateObjects(objects)).toEqual([]);

    const api = "https://github-sim.e2e-render.svc/api/v3";
    // The simulator serves that URL, with the app the store hands out.
    const sim = find(objects, "Deployment", "github-sim").spec.template.spec.containers[0];
    expect(sim.image).toMatch(/^docker\.io\/oven\/bun:\d+\.\d+\.\d+-slim$/);
    expect(sim.args).toEqual(expect.arrayContaining([`--public-url=${api}`, "--prefix=/api/v3", "--app-id=424242", "--listen=0.0.0.0:8443"]));
    expect(find(objects, "Service", "github-sim").spec.ports).toEqual([{ name: "https", port: 443, targetPort: "https" }]);
    const simSecret = find(objects, "Secret", "github-sim").data;
    const appKey = Buffer.from(simSecret["app.pem"], "base64").toString();
    // An RSA key in PKCS#1 PEM, as GitHub issues it: it re-exports to exactly itself.
    expect(createPrivateKey(appKey).export({ type: "pkcs1", format: "pem" }).toString().trim()).toBe(appKey.trim());

    // External Secrets' fake provider holds the same id and key at the chart's remote keys.
    const store = find(objects, "SecretStore", "e2e-fake");
    expect(Object.keys(store.spec.provider)).toEqual(["fake"]);
    // One JSON secret per App, as the README's Quick start stores it on AWS.
    expect(store.spec.provider.fake.data.map((d: Any) => ({ key: d.key, value: JSON.parse(d.value) }))).toEqual([
      { key: "github-apps/rex", value: { appId: "424242", privateKey: appKey } },
    ]);
    const es = find(objects, "ExternalSecret", "github-app-rex");
    expect(es.spec.secretStoreRef).toEqual({ name: "e2e-fake", kind: "SecretStore" });
    // Every remote key the ExternalSecret reads is one the fake store holds (with the property, when it names one).
    for (const { secretKey, remoteRef } of es.spec.data as Array<{ secretKey: string; remoteRef: { key: string; property?: string } }>) {
      const held = (store.spec.provider.fake.data as Array<{ key: string; value: string }>).find((d) => d.key === remoteRef.key);
      expect({ secretKey, held: !!held }).toEqual({ secretKey, held: true });
      const value = remoteRef.property ? JSON.parse(held!.value)[remoteRef.property] : held!.value;
      expect(value).toBe(secretKey === "appId" ? "424242" : appKey);
    }

    // The templates call that URL with the CA the simulator's certificate chains to.
    const ca = find(objects, "ConfigMap", "ghes-ca").data["ca.crt"];
    expect(ca).toStartWith("-----BEGIN CERTIFICATE-----");
    const run = find(objects, "WorkflowTemplate", "github-app-token").spec.templates[0];
    const init = run.initContainers[0];
    expect(init.image).toBe("ghapp-token:e2e");
    expect(init.imagePullPolicy).toBe("Never");
    expect(env(init, "GITHUB_API_URL")).toBe(api);
    expect(env(init, "NODE_EXTRA_CA_CERTS")).toBe("/etc/ghapp-tokens/ca/ca.crt");
    expect(env(run.container, "GH_HOST")).toBe("github-sim.e2e-render.svc");
    expect(run.volumes.find((v: Any) => v.name === "github-ca").configMap.name).toBe("ghes-ca");

    // What `argo submit --from workflowtemplate/test-github-app -p github-app=rex -p owner=acme-org` creates.
    const wf = find(objects, "Workflow", "test-github-app-");
    expect(wf.spec.workflowTemplateRef).toEqual({ name: "test-github-app" });
    expect(wf.spec.arguments.parameters).toEqual([{ name: "github-app", value: "rex" }, { name: "owner", value: "acme-org" }]);
  }, 30_000);

  test("with a real App's id and key: no simulator, no CA, the public API and the App's credentials", async () => {
    const key = generateAppKey().privateKeyPem;
    const r = await kindE2e(["render"], { GHAPP_TEST_APP_ID: "98765", GHAPP_TEST_PRIVATE_KEY: key, GHAPP_TEST_OWNER: "my-org" });
    expect(r.code).toBe(0);
    const objects = parseYaml(r.stdout);
    expect(await validateObjects(objects)).toEqual([]);
    expect(objects.map((o) => o.kind)).not.toContain("Deployment");
    expect(find(objects, "SecretStore").spec.provider.fake.data.map((d: Any) => ({ key: d.key, value: JSON.parse(d.value) }))).toEqual([
      { key: "github-apps/rex", value: { appId: "98765", privateKey: key.endsWith("\n") ? key : `${key}\n` } },
    ]);
    const run = find(objects, "WorkflowTemplate", "github-app-token").spec.templates[0];
    expect(env(run.initContainers[0], "GITHUB_API_URL")).toBe("https://api.github.com");
    expect(env(run.initContainers[0], "NODE_EXTRA_CA_CERTS")).toBeUndefined();
    expect(find(objects, "Workflow").spec.arguments.parameters).toContainEqual({ name: "owner", value: "my-org" });
  }, 30_000);

  test("refuses to install anything into a cluster that is not a kind cluster", async () => {
    const t = tempDir("ghapp-kubeconfig-");
    try {
      const kubeconfig = join(t.dir, "config");
      writeFileSync(
        kubeconfig,
        "apiVersion: v1\nkind: Config\nclusters: [{name: prod, cluster: {server: 'https://127.0.0.1:1'}}]\n" +
          "users: [{name: admin, user: {}}]\ncontexts: [{name: prod-admin, context: {cluster: prod, user: admin}}]\ncurrent-context: prod-admin\n",
      );
      const r = await kindE2e(["operators"], { KUBECONFIG: kubeconfig });
      expect(r.code).toBe(1);
      expect(r.stderr).toContain("the current context is prod-admin, not a kind cluster");
    } finally {
      t.cleanup();
    }
  });
});
