// Runs a rendered Argo template's containers the way a kubelet would, on this machine: volumes
// become host folders (emptyDir, secret and configMap items with their modes and the pod's
// fsGroup, a persistentVolumeClaim's folder from the fixtures), env comes from `value` and `secretKeyRef` exactly as rendered, and each container
// runs with bubblewrap (its volumes bound at their mountPaths, the root filesystem read-only)
// under its securityContext's UID/GID, dropped with setpriv. This catches every name, key or
// path on which the chart and the generator disagree. As Kubernetes' ServiceAccount admission
// does, every container also gets the pod's API token at /var/run/secrets/kubernetes.io/serviceaccount
// unless the pod says `automountServiceAccountToken: false`. The "image" is this machine's root
// filesystem; its PATH is the only env added, as an image's config would add it.
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { runCommand } from "../helpers/run.ts";

export interface Fixtures {
  secrets: Record<string, Record<string, string>>;
  configMaps: Record<string, Record<string, string>>;
  /** PersistentVolumeClaims by name: the host folder that is the bound volume (it outlives the pod). */
  claims?: Record<string, string>;
  /** The API token Kubernetes would issue for the pod's ServiceAccount (mounted unless automount is off). */
  serviceAccountToken?: string;
  /**
   * Projected service-account tokens by audience: what the kubelet's TokenRequest for the pod's
   * ServiceAccount returns (tests/controlplane gets them from a real API server).
   */
  projectedTokens?: Record<string, string>;
}

/** Where Kubernetes mounts a pod's ServiceAccount token into each container. */
export const SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount";
const API_ACCESS_VOLUME = "kube-api-access";

type EnvVar = { name: string; value?: string; valueFrom?: { secretKeyRef?: { name: string; key: string } } };
type Mount = { name: string; mountPath: string; readOnly?: boolean; subPath?: string };
type Volume = {
  name: string;
  emptyDir?: unknown;
  secret?: { secretName: string; items?: Array<{ key: string; path: string }>; defaultMode?: number };
  configMap?: { name: string; items?: Array<{ key: string; path: string }>; defaultMode?: number };
  persistentVolumeClaim?: { claimName: string };
  projected?: { defaultMode?: number; sources: Array<{ serviceAccountToken?: { audience?: string; expirationSeconds?: number; path: string } }> };
};
export type Container = { name?: string; command?: string[]; args?: string[]; workingDir?: string; env?: EnvVar[]; volumeMounts?: Mount[]; securityContext?: { runAsUser?: number; runAsGroup?: number } };
export type PodTemplate = { automountServiceAccountToken?: boolean; volumes: Volume[]; initContainers?: Container[]; container: Container; securityContext?: { runAsUser?: number; runAsGroup?: number; fsGroup?: number } };

export class KubeletError extends Error {}

/** Replaces Argo's {{inputs.parameters.X}} (and workflow.parameters) with the given values. */
export function substitute<T>(template: T, params: Record<string, string>): T {
  const json = JSON.stringify(template).replace(/\{\{(?:inputs|workflow)\.parameters\.([A-Za-z0-9_-]+)\}\}/g, (m, name: string) => {
    if (!(name in params)) throw new KubeletError(`unresolved Argo parameter ${m}`);
    return JSON.stringify(params[name]).slice(1, -1);
  });
  return JSON.parse(json) as T;
}

/** Running containers as their securityContext's UIDs and chowning volumes to fsGroup takes root. */
export function requireRoot(): void {
  if (process.getuid?.() === 0) return;
  throw new Error("the pod-wiring tests run each container as its securityContext's UID/GID and give volumes to the pod's fsGroup, as a kubelet does, which takes root: run `sudo npm test` (CI runs as root)");
}

export class Pod {
  readonly root = (requireRoot(), mkdtempSync(join(tmpdir(), "pod-")));
  private readonly volumeDirs = new Map<string, string>();

  /** `prefix`: what each container's command runs under, e.g. `ip netns exec NS` (tests/controlplane). */
  constructor(private readonly spec: PodTemplate, private readonly fixtures: Fixtures, private readonly prefix: string[] = []) {
    const fsGroup = spec.securityContext?.fsGroup;
    for (const v of spec.volumes) {
      if (v.persistentVolumeClaim) {
        // A bound volume: the claim's folder, which keeps its content from pod to pod. With
        // fsGroup the kubelet gives its root the group and the setgid bit (OnRootMismatch).
        const dir = fixtures.claims?.[v.persistentVolumeClaim.claimName];
        if (!dir) throw new KubeletError(`persistentvolumeclaim "${v.persistentVolumeClaim.claimName}" not found`);
        if (fsGroup !== undefined) {
          chownSync(dir, 0, fsGroup);
          chmodSync(dir, 0o2775);
        }
        this.volumeDirs.set(v.name, dir);
        continue;
      }
      const dir = join(this.root, "volumes", v.name);
      mkdirSync(dir, { recursive: true });
      if (v.emptyDir !== undefined) {
        chmodSync(dir, 0o777);
      } else if (v.secret || v.configMap) {
        const source = v.secret ? fixtures.secrets[v.secret.secretName] : fixtures.configMaps[v.configMap!.name];
        const what = v.secret ? `Secret ${v.secret.secretName}` : `ConfigMap ${v.configMap!.name}`;
        if (!source) throw new KubeletError(`MountVolume.SetUp failed for volume "${v.name}": ${what} not found`);
        const items = (v.secret ?? v.configMap)!.items ?? Object.keys(source).map((key) => ({ key, path: key }));
        const mode = (v.secret ?? v.configMap)!.defaultMode ?? 0o644;
        for (const item of items) {
          if (!(item.key in source)) throw new KubeletError(`MountVolume.SetUp failed for volume "${v.name}": ${what} has no key ${item.key}`);
          const file = join(dir, item.path);
          writeFileSync(file, source[item.key]!);
          chmodSync(file, mode);
          if (fsGroup !== undefined) chownSync(file, 0, fsGroup);
        }
        chmodSync(dir, 0o755);
      } else if (v.projected) {
        // Only serviceAccountToken sources: the token the API server issued for that audience.
        for (const source of v.projected.sources) {
          const sa = source.serviceAccountToken;
          if (!sa) throw new KubeletError(`volume ${v.name}: only serviceAccountToken projections are emulated`);
          const token = fixtures.projectedTokens?.[sa.audience ?? ""];
          if (token === undefined) throw new KubeletError(`MountVolume.SetUp failed for volume "${v.name}": no token for audience ${sa.audience}`);
          if ((sa.expirationSeconds ?? 3600) < 600) throw new KubeletError(`volume ${v.name}: expirationSeconds under 600 is refused by the API server`);
          const file = join(dir, sa.path);
          writeFileSync(file, token);
          chmodSync(file, v.projected.defaultMode ?? 0o644);
          if (fsGroup !== undefined) chownSync(file, 0, fsGroup);
        }
        chmodSync(dir, 0o755);
      } else {
        throw new KubeletError(`volume ${v.name}: only emptyDir, secret, configMap, persistentVolumeClaim and projected service-account tokens are emulated`);
      }
      // fsGroup: the kubelet gives volumes the group and the setgid bit, so files stay in it.
      if (fsGroup !== undefined) {
        chownSync(dir, 0, fsGroup);
        chmodSync(dir, (v.emptyDir !== undefined ? 0o777 : 0o755) | 0o2000);
      }
      this.volumeDirs.set(v.name, dir);
    }
    if (spec.automountServiceAccountToken !== false) {
      const dir = join(this.root, "volumes", API_ACCESS_VOLUME);
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, "token"), fixtures.serviceAccountToken ?? "service-account-token-of-the-pod");
      writeFileSync(join(dir, "namespace"), "workflows");
      for (const f of ["token", "namespace"]) chmodSync(join(dir, f), 0o644);
      chmodSync(dir, 0o755);
      this.volumeDirs.set(API_ACCESS_VOLUME, dir);
    }
  }

  /** The container's mounts, with the API token Kubernetes adds when the pod does not opt out. */
  private mounts(c: Container): Mount[] {
    const mounts = [...(c.volumeMounts ?? [])];
    if (this.volumeDirs.has(API_ACCESS_VOLUME)) mounts.push({ name: API_ACCESS_VOLUME, mountPath: SERVICE_ACCOUNT_DIR, readOnly: true });
    return mounts;
  }

  /** The host folder behind a volume, to inspect what a container wrote. */
  volume(name: string): string {
    const dir = this.volumeDirs.get(name);
    if (!dir) throw new KubeletError(`no volume ${name}`);
    return dir;
  }

  env(c: Container): Record<string, string> {
    const env: Record<string, string> = { PATH: "/usr/local/bin:/usr/bin:/bin" };
    for (const e of c.env ?? []) {
      if (e.valueFrom?.secretKeyRef) {
        const { name, key } = e.valueFrom.secretKeyRef;
        const secret = this.fixtures.secrets[name];
        if (!secret || !(key in secret)) throw new KubeletError(`CreateContainerConfigError: secret "${name}" ${secret ? `has no key "${key}"` : "not found"}`);
        env[e.name] = secret[key]!;
      } else {
        env[e.name] = e.value ?? "";
      }
    }
    return env;
  }

  /** Runs a container to its end: its command (or the given binary as entrypoint) with its mounts and env. */
  async run(c: Container, entrypoint: string[] = []): Promise<{ code: number; stdout: string; stderr: string }> {
    return runCommand(this.argv(c, entrypoint), { env: this.env(c) });
  }

  /**
   * Starts a container that keeps running (a sidecar). `stop()` sends SIGTERM to the container's
   * process, as the kubelet does (bubblewrap does not pass signals on), and resolves with its result.
   */
  start(c: Container, entrypoint: string[] = []): { stop: () => Promise<{ code: number; stdout: string; stderr: string }> } {
    const proc = Bun.spawn(this.argv(c, entrypoint), { env: this.env(c), stdin: "ignore", stdout: "pipe", stderr: "pipe" });
    const output = Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
    return {
      stop: async () => {
        // bwrap -> setpriv, which execs the container's command: that process is bwrap's only child.
        const children = readFileSync(`/proc/${proc.pid}/task/${proc.pid}/children`, "utf8").trim().split(/\s+/).filter(Boolean);
        for (const pid of children) process.kill(Number(pid), "SIGTERM");
        const code = await proc.exited;
        const [stdout, stderr] = await output;
        return { code, stdout, stderr };
      },
    };
  }

  /** The command line of a container: bubblewrap with its mounts, then setpriv to its UID and groups. */
  private argv(c: Container, entrypoint: string[]): string[] {
    const uid = c.securityContext?.runAsUser ?? this.spec.securityContext?.runAsUser ?? 0;
    const gid = c.securityContext?.runAsGroup ?? this.spec.securityContext?.runAsGroup ?? 0;
    const groups = this.spec.securityContext?.fsGroup !== undefined ? [this.spec.securityContext.fsGroup] : [];
    const mounts = this.mounts(c);
    // The host's root, read-only (as readOnlyRootFilesystem), with a fresh /run for the mounts. A
    // mount point at the top (/workspace) the host lacks needs a root of our own: a tmpfs with the
    // host's entries bound back, made read-only once the mount points exist.
    const top = (m: Mount) => `/${m.mountPath.split("/").filter(Boolean)[0] ?? ""}`;
    const missing = [...new Set(mounts.map(top))].filter((dir) => !existsSync(dir));
    const args = ["bwrap"];
    if (missing.length) {
      args.push("--tmpfs", "/");
      for (const entry of readdirSync("/", { withFileTypes: true })) {
        if (["proc", "dev", "run"].includes(entry.name)) continue;
        if (entry.isSymbolicLink()) args.push("--symlink", readlinkSync(join("/", entry.name)), join("/", entry.name));
        else args.push("--ro-bind", join("/", entry.name), join("/", entry.name));
      }
      for (const dir of missing) args.push("--perms", "0755", "--dir", dir);
    } else {
      args.push("--ro-bind", "/", "/");
    }
    args.push("--dev", "/dev", "--proc", "/proc", "--tmpfs", "/run");
    // Mount points under /etc that the host lacks: a tmpfs over /etc with the host's entries bound back.
    if (mounts.some((m) => m.mountPath.startsWith("/etc/"))) {
      args.push("--tmpfs", "/etc");
      for (const entry of readdirSync("/etc")) args.push("--ro-bind", join("/etc", entry), join("/etc", entry));
    }
    // Mount points the host lacks inside a folder it has (/var/lib/runner-broker): a tmpfs over that
    // folder with the host's entries bound back, as for /etc.
    const hostPath = (m: Mount) => m.mountPath.replace(/^\/var\/run\//, "/run/");
    const parents = new Set(mounts.map(hostPath).filter((p) => !existsSync(p)).map((p) => dirname(p)));
    for (const dir of parents) {
      if (dir === "/" || !existsSync(dir) || /^\/(etc|run)(\/|$)/.test(dir)) continue;
      args.push("--tmpfs", dir);
      for (const entry of readdirSync(dir)) args.push("--ro-bind", join(dir, entry), join(dir, entry));
    }
    for (const m of mounts) {
      const path = hostPath(m); // /var/run is a link to /run here
      // Parents bwrap must create get 0755, as a container runtime's would (bwrap's default is 0700).
      const parts = path.split("/").filter(Boolean);
      for (let i = 2; i < parts.length; i++) {
        const parent = `/${parts.slice(0, i).join("/")}`;
        if (!existsSync(parent)) args.push("--perms", "0755", "--dir", parent);
      }
      // subPath: a folder inside the volume, created as the kubelet creates it.
      const source = m.subPath ? join(this.volume(m.name), m.subPath) : this.volume(m.name);
      if (m.subPath && !existsSync(source)) {
        mkdirSync(source, { recursive: true });
        chmodSync(source, 0o777);
      }
      args.push(m.readOnly ? "--ro-bind" : "--bind", source, path);
    }
    if (missing.length) args.push("--remount-ro", "/");
    if (c.workingDir) args.push("--chdir", c.workingDir);
    const setpriv = ["setpriv", `--reuid=${uid}`, `--regid=${gid}`, groups.length ? `--groups=${groups.join(",")}` : "--clear-groups", "--"];
    const command = [...entrypoint, ...(c.command ?? []), ...(c.args ?? [])];
    return [...this.prefix, ...args, "--", ...setpriv, ...command];
  }

  cleanup(): void {
    rmSync(this.root, { recursive: true, force: true });
  }
}
