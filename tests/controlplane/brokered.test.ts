// Keyless, end to end on the test suite's real API server (issue 21): the chart in mode: brokered,
// applied to the API server; the broker (dist/ghapp-runner-broker, plain HTTP behind TLS as an
// ingress would put it) trusting the API server's service-account issuer through its JWKS
// (/openid/v1/jwks) in a file; tokens from TokenRequest with the broker's audience; and the rendered
// template's containers run as the pod-wiring test runs them (tests/chart/kubelet.ts), inside the
// cluster's network namespace, against the broker and the GitHub simulator. A step whose service
// account a trust policy names gets a token narrowed as asked; one whose service account no policy
// names is refused (exit 3, no file); one asking beyond its policy is refused (exit 4, no file); and
// no Secret in the workflow namespace holds an App key.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { stringify } from "yaml";
import { renderChart, ROOT, type K8sObject } from "../chart/render.ts";
import { Pod, substitute, type PodTemplate } from "../chart/kubelet.ts";
import { BINARY, requireBinary } from "../helpers/generator.ts";
import { expectNoSecrets } from "../helpers/secrets.ts";
import { makeSelfSignedCert } from "../simulator/tls.ts";
import { BROKER, requireBroker } from "../broker/harness.ts";
import { Cluster, waitFor, type Proc } from "./cluster.ts";

const NS = "workflows";
const ISSUER = "https://kubernetes.default.svc.cluster.local";
const AUDIENCE = "ghapp-runner-broker";
const SIM_PORT = 8443;
const BROKER_PORT = 8000;
const TLS_PORT = 8444;

let cluster: Cluster;
let sim: Proc;
let broker: Proc;
let objects: K8sObject[];
let run: PodTemplate & { inputs: { parameters: Array<{ name: string; value?: string }> } };
let brokerCa = "";
let appKey = "";

beforeAll(async () => {
  requireBinary();
  requireBroker();
  cluster = await Cluster.start();
  await cluster.createNamespace(NS);
  for (const sa of ["builder", "stranger"]) await cluster.kubectl(["create", "serviceaccount", sa], { namespace: NS });

  // GitHub, inside the cluster's network namespace.
  const state = join(cluster.dir, "simulator");
  sim = cluster.spawn("simulator", [process.execPath, join(ROOT, "tests/simulator/cli.ts"), "--state-dir", state, "--listen", `127.0.0.1:${SIM_PORT}`]);
  const simState = await waitFor("the simulator to write its state", 30_000, async () => {
    const text = await Bun.file(join(state, "simulator.json")).text().catch(() => "");
    return text ? (JSON.parse(text) as { appId: number; url: string }) : undefined;
  }, () => sim.tail());
  appKey = readFileSync(join(state, "app.pem"), "utf8");

  // The broker trusts the API server's service-account issuer through its published keys, in a file.
  const brokerDir = join(cluster.dir, "broker");
  mkdirSync(brokerDir, { mode: 0o700 });
  writeFileSync(join(brokerDir, "jwks.json"), (await cluster.kubectl(["get", "--raw", "/openid/v1/jwks"])).stdout);
  writeFileSync(
    join(brokerDir, "policies.yaml"),
    stringify({
      trust_policies: [
        {
          name: "workflows-builder",
          issuer: ISSUER,
          audience: AUDIENCE,
          subject: `system:serviceaccount:${NS}:builder`,
          claims: { "kubernetes.io.namespace": NS, "kubernetes.io.serviceaccount.name": "builder" },
          owner: "acme-org",
          repositories: ["api", "web"],
          permissions: { contents: "write", issues: "read" },
        },
      ],
    }),
  );
  broker = cluster.spawn("broker", [BROKER, "serve"], {
    GITHUB_APP_ID: String(simState.appId),
    GITHUB_APP_PRIVATE_KEY_FILE: join(state, "app.pem"),
    GITHUB_ORG: "acme-org",
    GITHUB_API_URL: simState.url,
    DATABASE_URL: `sqlite://${join(brokerDir, "broker.db")}`,
    LISTEN_ADDR: `127.0.0.1:${BROKER_PORT}`,
    OIDC_ISSUER: ISSUER,
    OIDC_AUDIENCE: AUDIENCE,
    ISSUER_JWKS_FILES: `${ISSUER}=${join(brokerDir, "jwks.json")}`,
    POLICY_FILE: join(brokerDir, "policies.yaml"),
    SYNC_INTERVAL: "1h",
  });
  await waitFor("the broker to listen", 30_000, async () => {
    broker.assertRunning();
    return readFileSync(broker.log, "utf8").includes('"listening"');
  }, () => broker.tail());
  const tls = makeSelfSignedCert(brokerDir);
  brokerCa = tls.cert;
  writeFileSync(join(brokerDir, "tls.crt"), tls.cert);
  writeFileSync(join(brokerDir, "tls.key"), tls.key);
  const proxy = cluster.spawn("broker-tls", [process.execPath, join(ROOT, "tests/controlplane/tls-proxy.ts"), "--listen", `127.0.0.1:${TLS_PORT}`, "--upstream", `http://127.0.0.1:${BROKER_PORT}`, "--cert", join(brokerDir, "tls.crt"), "--key", join(brokerDir, "tls.key")]);
  await waitFor("the TLS proxy to listen", 30_000, async () => {
    proxy.assertRunning();
    return readFileSync(proxy.log, "utf8").includes("listening");
  }, () => proxy.tail());

  // The chart in mode: brokered, applied to the API server (Argo's objects are validated by
  // tests/chart/brokered.test.ts with Argo's own validator; their CRDs are not needed here).
  await cluster.kubectl(["create", "configmap", "broker-ca", `--from-file=ca.crt=${join(brokerDir, "tls.crt")}`], { namespace: NS });
  const values = join(cluster.dir, "values.yaml");
  writeFileSync(values, stringify({ mode: "brokered", broker: { url: `https://localhost:${TLS_PORT}`, audience: AUDIENCE, caConfigMap: "broker-ca" }, github: { apiUrl: simState.url } }));
  objects = await renderChart([values]);
  const r = await cluster.applyObjects(objects.filter((o) => o.apiVersion !== "argoproj.io/v1alpha1"), NS);
  if (r.code !== 0) throw new Error(`applying the chart failed: ${r.stderr}`);
  await cluster.fillServiceAccountTokens(NS);
  const template = objects.find((o) => o.metadata?.name === "github-app-token")!;
  run = (template.spec as { templates: Array<typeof run & { name: string }> }).templates.find((t) => t.name === "run")!;
}, 180_000);

afterAll(async () => {
  await cluster?.stop();
});

/** A TokenRequest token of `serviceAccount` for `audience`, as the kubelet asks for the projected volume. */
async function tokenRequest(serviceAccount: string, audience = AUDIENCE): Promise<string> {
  return (await cluster.kubectl(["create", "token", serviceAccount, `--audience=${audience}`, "--duration=10m"], { namespace: NS })).stdout.trim();
}

/** Runs the rendered template's initContainer for a pod of `serviceAccount` with the step's parameters. */
async function runStep(serviceAccount: string, params: Record<string, string>) {
  const defaults: Record<string, string> = {};
  for (const p of run.inputs.parameters) if (p.value !== undefined) defaults[p.name] = p.value;
  const spec = substitute(run, { ...defaults, image: "busybox", script: "true", ...params });
  const projected = await tokenRequest(serviceAccount);
  const pod = new Pod(spec, { secrets: {}, configMaps: { "broker-ca": { "ca.crt": brokerCa } }, projectedTokens: { [AUDIENCE]: projected } }, cluster.inNetns([]));
  const init = await pod.run(spec.initContainers![0]!, [BINARY]);
  const tokenFile = join(pod.volume("github-token"), "token");
  const token = existsSync(tokenFile) ? readFileSync(tokenFile, "utf8") : undefined;
  const metadata = existsSync(`${tokenFile}.json`) ? (JSON.parse(readFileSync(`${tokenFile}.json`, "utf8")) as Record<string, unknown>) : undefined;
  return { pod, spec, init, token, metadata, projected };
}

describe("keyless on a real API server", () => {
  test("a step whose service account a policy names gets a token narrowed as asked, and its main container uses it", async () => {
    const { pod, spec, init, token, metadata, projected } = await runStep("builder", { owner: "acme-org", repositories: "api", permissions: "contents=read" });
    try {
      expect(init.stderr.split("\n").filter((l) => l.includes('"error"'))).toEqual([]);
      expect(init.code).toBe(0);
      expect(token).toMatch(/^ghs_/);
      expect(metadata).toMatchObject({ owner: "acme-org", repositories: ["acme-org/api"], permissions: { contents: "read" } });
      expect((metadata!.permissions as Record<string, string>).issues).toBeUndefined();
      expectNoSecrets(init.stdout + init.stderr, [token!, projected]);
      // The main container reads the token, and sees no service-account token of any kind.
      const main = await pod.run({ ...spec.container, command: ["sh", "-c"], args: ['test -s "$GITHUB_TOKEN_FILE" || exit 2; for f in /var/run/secrets/ghapp-broker /run/secrets/ghapp-broker /run/secrets/kubernetes.io; do if [ -e "$f" ]; then echo "visible: $f"; exit 1; fi; done'] });
      expect(main.stdout).toBe("");
      expect(main.code).toBe(0);
      // GitHub (the simulator) sees a token for exactly the repository asked for.
      const call = await pod.run({ ...spec.container, command: ["sh", "-c"], args: [`curl -sf -H "Authorization: token $(cat "$GITHUB_TOKEN_FILE")" "$GITHUB_API_URL/installation/repositories"`] });
      expect(call.code).toBe(0);
      expect((JSON.parse(call.stdout) as { repositories: Array<{ full_name: string }> }).repositories.map((r) => r.full_name)).toEqual(["acme-org/api"]);
      // The broker's log has the hand-out and nothing of either token.
      expectNoSecrets(readFileSync(broker.log, "utf8"), [token!, projected]);
    } finally {
      pod.cleanup();
    }
  }, 60_000);

  test("run-with-refresh: the sidecar keeps the broker's token on disk and does not revoke it when stopped", async () => {
    const template = objects.find((o) => o.metadata?.name === "github-app-token")!;
    const refresh = (template.spec as { templates: Array<typeof run & { name: string; sidecars: PodTemplate["container"][] }> }).templates.find((t) => t.name === "run-with-refresh")!;
    const defaults: Record<string, string> = {};
    for (const p of refresh.inputs.parameters) if (p.value !== undefined) defaults[p.name] = p.value;
    const spec = substitute(refresh, { ...defaults, image: "busybox", script: "true", repositories: "web" });
    const pod = new Pod(spec, { secrets: {}, configMaps: { "broker-ca": { "ca.crt": brokerCa } }, projectedTokens: { [AUDIENCE]: await tokenRequest("builder") } }, cluster.inNetns([]));
    try {
      expect((await pod.run(spec.initContainers![0]!, [BINARY])).code).toBe(0);
      const tokenFile = join(pod.volume("github-token"), "token");
      const first = readFileSync(tokenFile, "utf8");
      const writtenAt = () => (JSON.parse(readFileSync(`${tokenFile}.json`, "utf8")) as { written_at: string; repositories: string[] });
      const byInit = writtenAt().written_at;
      await Bun.sleep(1100); // written_at has millisecond precision; make the sidecar's write distinguishable
      const sidecar = pod.start(spec.sidecars[0]!, [BINARY]);
      await waitFor("the sidecar's first token", 20_000, async () => (writtenAt().written_at !== byInit ? true : undefined));
      expect(writtenAt().repositories).toEqual(["acme-org/web"]);
      const stopped = await sidecar.stop();
      expect(stopped.code).toBe(0);
      expect(stopped.stderr).not.toContain("revoking the token on exit");
      // The broker's cache handed both containers the same token; it still works at GitHub.
      const token = readFileSync(tokenFile, "utf8");
      expect(token).toBe(first);
      const call = await pod.run({ ...spec.container, command: ["sh", "-c"], args: [`curl -s -o /dev/null -w "%{http_code}" -H "Authorization: token $(cat "$GITHUB_TOKEN_FILE")" "$GITHUB_API_URL/installation/repositories"`] });
      expect(call.stdout).toBe("200");
    } finally {
      pod.cleanup();
    }
  }, 60_000);

  test("a step whose service account no policy names is refused: exit 3, no token file", async () => {
    const { pod, init, token, metadata } = await runStep("stranger", { owner: "acme-org" });
    try {
      expect(init.code).toBe(3);
      expect(token).toBeUndefined();
      expect(metadata).toBeUndefined();
      expect(init.stderr).toContain("no trust policy");
    } finally {
      pod.cleanup();
    }
  }, 60_000);

  test("a step asking beyond its policy is refused: exit 4, no token file", async () => {
    const { pod, init, token } = await runStep("builder", { repositories: "infra", permissions: "contents=read" });
    try {
      expect(init.code).toBe(4);
      expect(token).toBeUndefined();
      expect(init.stderr).toContain("infra");
    } finally {
      pod.cleanup();
    }
  }, 60_000);

  test("no Secret in the workflow namespace holds an App key", async () => {
    const secrets = await cluster.get<{ items: Array<{ metadata: { name: string }; type: string; data?: Record<string, string> }> }>(["secrets"], NS);
    expect(secrets.items.map((s) => s.type)).toEqual(["kubernetes.io/service-account-token"]);
    const keyBody = appKey.split("\n").slice(1, 3).join("");
    for (const s of secrets.items) {
      expect(Object.keys(s.data ?? {}).filter((k) => /private|key|appId/i.test(k))).toEqual([]);
      for (const v of Object.values(s.data ?? {})) {
        const text = Buffer.from(v, "base64").toString("utf8");
        expect(text.includes("PRIVATE KEY") || text.replace(/\s/g, "").includes(keyBody)).toBe(false);
      }
    }
    expect(objects.some((o) => /SecretStore|ExternalSecret/.test(o.kind))).toBe(false);
  });
});
