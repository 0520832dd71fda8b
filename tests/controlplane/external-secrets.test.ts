// The chart installed on a real API server and synced by the real External Secrets controller,
// with ESO's built-in `fake` provider as the store, given through the chart's own provider
// passthrough (`secretStore.provider`): what ESO makes of the chart's SecretStore and ExternalSecrets
// is what a user's cluster would make of them with AWS, Vault, GCP or Azure behind the store.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { stringify } from "yaml";
import { renderChart, type K8sObject } from "../chart/render.ts";
import { generateAppKey } from "../simulator/simulator.ts";
import { Cluster, waitFor, type Proc } from "./cluster.ts";
import { startExternalSecrets } from "./controllers.ts";

const NS = "workflows";
const APPS = ["rex", "clippy", "qa", "triage", "security"];
let cluster: Cluster;
let eso: Proc;

beforeAll(async () => {
  cluster = await Cluster.start();
  await cluster.applyCrds("external-secrets");
  await cluster.applyCrds("argo"); // the chart's WorkflowTemplates come along (minimal schemas)
  await cluster.createNamespace(NS);
  eso = await startExternalSecrets(cluster);
}, 120_000);
afterAll(async () => {
  await cluster?.stop();
}, 60_000);

type FakeEntry = { key: string; value: string };
type ExternalSecretStatus = { metadata: { name: string }; status?: { conditions?: Array<{ type: string; status: string; reason?: string; message?: string }> } };

const credentials = () => Object.fromEntries(APPS.map((app, i) => [app, { appId: String(100 + i), privateKey: generateAppKey().privateKeyPem }]));

/** Renders the chart with a fake store holding `data` and applies it; returns what was applied. */
async function install(data: FakeEntry[], values: Record<string, unknown> = {}): Promise<K8sObject[]> {
  const file = join(cluster.dir, `values-${Date.now()}.yaml`);
  writeFileSync(file, stringify({ secretStore: { provider: { fake: { data } } }, ...values }));
  const objects = await renderChart([file]);
  const r = await cluster.applyObjects(objects, NS);
  if (r.code !== 0) throw new Error(`applying the chart failed: ${r.stderr}`);
  return objects;
}

async function uninstall(objects: K8sObject[]): Promise<void> {
  await cluster.kubectl(["delete", "--wait=true", "-f", "-"], { stdin: objects.map((o) => JSON.stringify(o)).join("\n"), namespace: NS });
  await cluster.kubectl(["delete", "secrets", "-l", "reconcile.external-secrets.io/managed=true", "--ignore-not-found"], { namespace: NS });
}

/** Waits until every ExternalSecret reports Ready=True; fails with their conditions and ESO's log. */
async function waitReady(names: string[]): Promise<void> {
  let last: ExternalSecretStatus[] = [];
  await waitFor(`ExternalSecrets ${names.join(", ")} to be Ready`, 60_000, async () => {
    eso.assertRunning();
    last = (await cluster.get<{ items: ExternalSecretStatus[] }>(["externalsecrets"], NS)).items;
    return names.every((n) => last.find((es) => es.metadata.name === n)?.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True"));
  }, () => `${JSON.stringify(last.map((es) => [es.metadata.name, es.status?.conditions]), null, 1)}\n${eso.tail()}`);
}

async function secretData(name: string): Promise<Record<string, string>> {
  const s = await cluster.get<{ data?: Record<string, string> }>(["secret", name], NS);
  return Object.fromEntries(Object.entries(s.data ?? {}).map(([k, v]) => [k, Buffer.from(v, "base64").toString()]));
}

describe("External Secrets, for real: the fake provider through the chart's passthrough", () => {
  test("the five github-app-* Secrets appear with appId and privateKey, and each ExternalSecret is Ready", async () => {
    const creds = credentials();
    const data = APPS.flatMap((app) => [
      { key: `/github-apps/${app}/appId`, value: creds[app]!.appId },
      { key: `/github-apps/${app}/privateKey`, value: creds[app]!.privateKey },
    ]);
    const objects = await install(data);
    try {
      await waitReady(APPS.map((a) => `github-app-${a}`));
      for (const app of APPS) expect(await secretData(`github-app-${app}`)).toEqual(creds[app]!);
      // The key never reached ESO's log.
      expect(await Bun.file(eso.log).text()).not.toContain(creds.rex!.privateKey.split("\n")[1]!);
    } finally {
      await uninstall(objects);
    }
  }, 120_000);

  test("a rotated key in the store reaches the Secret within the refreshInterval", async () => {
    const creds = credentials();
    const data = (rexKey: string) => APPS.flatMap((app) => [
      { key: `/github-apps/${app}/appId`, value: creds[app]!.appId },
      { key: `/github-apps/${app}/privateKey`, value: app === "rex" ? rexKey : creds[app]!.privateKey },
    ]);
    const objects = await install(data(creds.rex!.privateKey), { externalSecrets: { refreshInterval: "5s" } });
    try {
      await waitReady(["github-app-rex"]);
      expect((await secretData("github-app-rex")).privateKey).toBe(creds.rex!.privateKey);
      // Rotate: the store now holds a new key (as after `aws secretsmanager put-secret-value`).
      const rotated = generateAppKey().privateKeyPem;
      await install(data(rotated), { externalSecrets: { refreshInterval: "5s" } });
      await waitFor("the rotated key to reach Secret github-app-rex", 30_000, async () => (await secretData("github-app-rex")).privateKey === rotated, () => eso.tail());
      expect((await secretData("github-app-rex")).appId).toBe(creds.rex!.appId);
    } finally {
      await uninstall(objects);
    }
  }, 120_000);

  test("one JSON secret per App (layout perApp) is read field by field with property, one app with its own names", async () => {
    const creds = credentials();
    // As in AWS Secrets Manager: one secret per App holding {"appId": ..., "privateKey": ...}; rex's
    // lives elsewhere under other field names.
    const data = APPS.map((app) =>
      app === "rex"
        ? { key: "prod/github/rex-app", value: JSON.stringify({ app_id: creds.rex!.appId, private_key: creds.rex!.privateKey }) }
        : { key: `github-apps/${app}`, value: JSON.stringify(creds[app]) },
    );
    const apps = APPS.map((name) => (name === "rex" ? { name, layout: "perApp", remoteKey: "prod/github/rex-app", properties: { appId: "app_id", privateKey: "private_key" } } : { name }));
    const objects = await install(data, { apps, externalSecrets: { layout: "perApp" } });
    try {
      await waitReady(APPS.map((a) => `github-app-${a}`));
      // Exactly the two keys the templates read, each a field's value, never the whole JSON document.
      for (const app of APPS) expect(await secretData(`github-app-${app}`)).toEqual(creds[app]!);
    } finally {
      await uninstall(objects);
    }
  }, 120_000);
});
