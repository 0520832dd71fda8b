// The kubelet for a pod the real Argo controller created: what the API server holds for the pod is
// run on this machine the way tests/chart/kubelet.ts runs a rendered template (bubblewrap, the
// security context's UIDs, volumes as folders), inside the cluster's network namespace, and the
// containers' results are written back to the pod's status, which is all the controller reads.
// Secrets and ConfigMaps come from the API server (the Secrets External Secrets synced), read with
// the admin's credentials as a kubelet reads them with its own; a projected ServiceAccount token
// (what the API server adds to a pod whose account mounts one) is a real TokenRequest token.
// Argo's own containers (init, wait) run the real argoexec built by ci/tools.sh; the caller's main
// container runs under argoexec's emissary, exactly as Argo rewrote its command.
// Where this differs from a node: the "image" is this machine's root filesystem (every image), the
// API server is at 127.0.0.1 rather than the `kubernetes` Service's cluster IP (no kube-proxy), and
// containers of a phase run one after another (init) or side by side (main and wait) as processes.
import { createHash } from "node:crypto";
import { chmodSync, copyFileSync, linkSync, mkdirSync, rmSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { ROOT, tool } from "../chart/render.ts";
import { Pod, type Container, type Fixtures, type PodTemplate } from "../chart/kubelet.ts";
import { API_PORT, type Cluster } from "./cluster.ts";

type EnvVar = { name: string; value?: string; valueFrom?: { fieldRef?: { fieldPath: string }; secretKeyRef?: { name: string; key: string } } };
type ProjectedSource = { serviceAccountToken?: { path: string; expirationSeconds?: number; audience?: string }; configMap?: { name: string; items?: Array<{ key: string; path: string }> }; downwardAPI?: { items: Array<{ path: string; fieldRef: { fieldPath: string } }> } };
type Volume = { name: string; emptyDir?: unknown; secret?: { secretName: string; items?: Array<{ key: string; path: string }>; defaultMode?: number }; configMap?: { name: string; items?: Array<{ key: string; path: string }>; defaultMode?: number }; projected?: { sources: ProjectedSource[]; defaultMode?: number } };
export type ApiContainer = Omit<Container, "env"> & { name: string; image?: string; env?: EnvVar[]; volumeMounts?: Array<{ name: string; mountPath: string; readOnly?: boolean }> };
export type ApiPod = {
  metadata: { name: string; namespace: string; uid: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec: { serviceAccountName?: string; automountServiceAccountToken?: boolean; securityContext?: PodTemplate["securityContext"]; volumes: Volume[]; initContainers?: ApiContainer[]; containers: ApiContainer[] };
  status?: { phase?: string };
};

export interface ContainerResult {
  name: string;
  code: number;
  stdout: string;
  stderr: string;
}

const ARGO_CONTAINERS = new Set(["init", "wait"]);

/** The pod's fieldRef values a kubelet resolves from the pod object. */
function fieldValue(pod: ApiPod, path: string): string {
  const values: Record<string, string | undefined> = {
    "metadata.name": pod.metadata.name,
    "metadata.namespace": pod.metadata.namespace,
    "metadata.uid": pod.metadata.uid,
    "spec.serviceAccountName": pod.spec.serviceAccountName,
  };
  const v = values[path];
  if (v === undefined) throw new Error(`fieldRef ${path} is not emulated`);
  return v;
}

class ApiServerPod extends Pod {
  constructor(spec: PodTemplate, fixtures: Fixtures, prefix: string[], private readonly pod: ApiPod, private readonly argoexecDir: string) {
    super(spec, fixtures, prefix);
  }

  override env(c: Container): Record<string, string> {
    const container = c as unknown as ApiContainer;
    const plain = { ...container, env: (container.env ?? []).filter((e) => !e.valueFrom?.fieldRef) } as Container;
    const env = super.env(plain);
    for (const e of container.env ?? []) if (e.valueFrom?.fieldRef) env[e.name] = fieldValue(this.pod, e.valueFrom.fieldRef.fieldPath);
    // What a kubelet gives every container: where the API server is.
    env.KUBERNETES_SERVICE_HOST = "127.0.0.1";
    env.KUBERNETES_SERVICE_PORT = String(API_PORT);
    // Argo's own image has argoexec on its PATH.
    if (ARGO_CONTAINERS.has(container.name)) env.PATH = `${this.argoexecDir}:${env.PATH}`;
    return env;
  }
}

/** Secrets and ConfigMaps the pod's volumes and env name, read from the API server. */
async function fixturesFor(cluster: Cluster, pod: ApiPod): Promise<{ fixtures: Fixtures; volumes: Volume[] }> {
  const ns = pod.metadata.namespace;
  const fixtures: Fixtures = { secrets: {}, configMaps: {} };
  const secret = async (name: string) => {
    if (fixtures.secrets[name]) return;
    const r = await cluster.kubectl(["get", "secret", name, "-o", "json"], { namespace: ns, check: false });
    if (r.code !== 0) return; // the Pod class reports "not found" as a kubelet would
    const data = (JSON.parse(r.stdout) as { data?: Record<string, string> }).data ?? {};
    fixtures.secrets[name] = Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v, "base64").toString()]));
  };
  const configMap = async (name: string) => {
    const r = await cluster.kubectl(["get", "configmap", name, "-o", "json"], { namespace: ns, check: false });
    if (r.code === 0) fixtures.configMaps[name] = (JSON.parse(r.stdout) as { data?: Record<string, string> }).data ?? {};
  };
  const volumes: Volume[] = [];
  for (const v of pod.spec.volumes) {
    if (v.secret) await secret(v.secret.secretName);
    if (v.configMap) await configMap(v.configMap.name);
    if (!v.projected) {
      volumes.push(v);
      continue;
    }
    // A projected volume becomes a secret volume of a synthetic Secret holding what it projects.
    const files: Record<string, string> = {};
    for (const s of v.projected.sources) {
      if (s.serviceAccountToken) {
        const account = pod.spec.serviceAccountName ?? "default";
        const args = ["create", "token", account, `--bound-object-kind=Pod`, `--bound-object-name=${pod.metadata.name}`, `--bound-object-uid=${pod.metadata.uid}`, `--duration=${s.serviceAccountToken.expirationSeconds ?? 3607}s`];
        if (s.serviceAccountToken.audience) args.push(`--audience=${s.serviceAccountToken.audience}`);
        files[s.serviceAccountToken.path] = (await cluster.kubectl(args, { namespace: ns })).stdout.trim();
      } else if (s.configMap) {
        await configMap(s.configMap.name);
        const data = fixtures.configMaps[s.configMap.name] ?? {};
        for (const item of s.configMap.items ?? Object.keys(data).map((key) => ({ key, path: key }))) files[item.path] = data[item.key] ?? "";
      } else if (s.downwardAPI) {
        for (const item of s.downwardAPI.items) files[item.path] = fieldValue(pod, item.fieldRef.fieldPath);
      } else {
        throw new Error(`projected volume ${v.name}: source ${Object.keys(s).join(",")} is not emulated`);
      }
    }
    const synthetic = `projected:${v.name}`;
    fixtures.secrets[synthetic] = files;
    volumes.push({ name: v.name, secret: { secretName: synthetic, ...(v.projected.defaultMode === undefined ? {} : { defaultMode: v.projected.defaultMode }) } });
  }
  for (const c of [...(pod.spec.initContainers ?? []), ...pod.spec.containers]) {
    for (const e of c.env ?? []) if (e.valueFrom?.secretKeyRef) await secret(e.valueFrom.secretKeyRef.name);
  }
  return { fixtures, volumes };
}

/**
 * Runs the pod to completion: init containers in order (the generator's with `generatorEntrypoint`,
 * its image's ENTRYPOINT, as it sets no command), then the main and wait containers side by side;
 * writes the container states and the phase into the pod's status. Returns each container's result.
 */
/**
 * Argo's image: a folder with argoexec alone, on the PATH of its containers; readable by their
 * UIDs (argoexec looks itself up on PATH to copy itself into /var/run/argo), and outside /tmp,
 * which Argo mounts over in its wait container. A checkout under /tmp (CI clones anywhere) would
 * have both the folder and the built binary hidden there, so then the folder lives in /var/tmp and
 * holds the binary itself (a hard link, or a copy across filesystems), never a link into /tmp.
 */
function argoexecImage(): string {
  const underTmp = ROOT === "/tmp" || ROOT.startsWith("/tmp/");
  const dir = underTmp ? join("/var/tmp", `ghapp-tokens-argoexec-${createHash("sha256").update(ROOT).digest("hex").slice(0, 12)}`) : join(ROOT, ".cache/argoexec-image");
  const target = join(dir, "argoexec");
  mkdirSync(dir, { recursive: true });
  chmodSync(dir, 0o755);
  // Made afresh every run, so a rebuilt argoexec is never shadowed by an old one.
  rmSync(target, { force: true });
  if (!underTmp) symlinkSync(tool("argoexec"), target);
  else {
    try {
      linkSync(tool("argoexec"), target);
    } catch {
      copyFileSync(tool("argoexec"), target);
      chmodSync(target, 0o755);
    }
  }
  return dir;
}

export async function runArgoPod(cluster: Cluster, pod: ApiPod, generatorEntrypoint: string[]): Promise<ContainerResult[]> {
  const { fixtures, volumes } = await fixturesFor(cluster, pod);
  const main = pod.spec.containers.find((c) => c.name === "main");
  if (!main) throw new Error(`pod ${pod.metadata.name} has no main container`);
  const argoexecDir = argoexecImage();
  // The API server already added the token volume when the pod mounts one (a projected volume above).
  const spec: PodTemplate = { automountServiceAccountToken: false, volumes: volumes as PodTemplate["volumes"], initContainers: (pod.spec.initContainers ?? []) as Container[], container: main as Container, ...(pod.spec.securityContext ? { securityContext: pod.spec.securityContext } : {}) };
  const runner = new ApiServerPod(spec, fixtures, cluster.inNetns([]), pod, argoexecDir);
  const results: ContainerResult[] = [];
  const state = (r: ContainerResult, startedAt: string) => ({ name: r.name, ready: false, restartCount: 0, image: "emulated", imageID: "", state: { terminated: { exitCode: r.code, reason: r.code === 0 ? "Completed" : "Error", startedAt, finishedAt: new Date().toISOString().replace(/\.\d+Z$/, "Z") } } });
  const now = () => new Date().toISOString().replace(/\.\d+Z$/, "Z");
  const initStatuses: unknown[] = [];
  const statuses: unknown[] = [];
  let failed = false;
  try {
    await setStatus(cluster, pod, { phase: "Pending", startTime: now() });
    for (const c of pod.spec.initContainers ?? []) {
      const started = now();
      const entry = ARGO_CONTAINERS.has(c.name) || c.command?.length ? [] : generatorEntrypoint;
      const r = { name: c.name, ...(await runner.run(c as Container, entry)) };
      results.push(r);
      initStatuses.push(state(r, started));
      if (r.code !== 0) {
        failed = true;
        break;
      }
    }
    if (!failed) {
      await setStatus(cluster, pod, { phase: "Running", initContainerStatuses: initStatuses, containerStatuses: pod.spec.containers.map((c) => ({ name: c.name, ready: true, restartCount: 0, image: "emulated", imageID: "", state: { running: { startedAt: now() } } })) });
      const started = now();
      const ran = await Promise.all(pod.spec.containers.map(async (c) => ({ name: c.name, ...(await runner.run(c as Container)) })));
      for (const r of ran) {
        results.push(r);
        statuses.push(state(r, started));
      }
      failed = ran.some((r) => r.code !== 0);
    }
    await setStatus(cluster, pod, { phase: failed ? "Failed" : "Succeeded", initContainerStatuses: initStatuses, containerStatuses: statuses });
    return results;
  } finally {
    runner.cleanup();
  }
}

async function setStatus(cluster: Cluster, pod: ApiPod, status: Record<string, unknown>): Promise<void> {
  await cluster.kubectl(["patch", "pod", pod.metadata.name, "--subresource=status", "--type=merge", "-p", JSON.stringify({ status })], { namespace: pod.metadata.namespace });
}
