// A real Kubernetes control plane for the tests: etcd and kube-apiserver built by ci/tools.sh,
// with certificates made by openssl, RBAC authorization and a service-account issuer, in a network
// namespace of its own that has only loopback (the Argo controller always listens on :6060, and
// several copies of this suite may run on one machine). Every process of the cluster and every
// client (kubectl, the simulator, the pods' containers) runs inside that namespace through
// `ip netns exec`. There is no controller-manager, so what it would do for these tests is done
// here: the namespace's `default` ServiceAccount, `kube-root-ca.crt`, and the tokens of
// `kubernetes.io/service-account-token` Secrets. Teardown stops clients, then the API server, then
// etcd, and removes the namespace, also after a failed test.
import { execFileSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseYaml, ROOT, tool, type K8sObject } from "../chart/render.ts";
import { runCommand, type CommandResult } from "../helpers/run.ts";
import { crdItems, notEstablished } from "./crd-established.ts";

export const API_PORT = 6443;
const ETCD_PORT = 2379;
const CRDS = join(ROOT, ".tools/crds");
const NETNS_PREFIX = "ghapp-cp-";

export class ClusterError extends Error {}
/** A process of the cluster ended: waiting longer cannot help. */
export class ProcessExited extends ClusterError {}

/** Running as root is what `ip netns add` and the pods' UIDs take; CI runs as root. */
export function requireRoot(): void {
  if (process.getuid?.() === 0) return;
  throw new ClusterError("the control-plane tests create a network namespace (ip netns add) and run pods' containers as their UIDs, which takes root: run `sudo npm test` (CI runs as root)");
}

/** One process of the cluster, its output in a log file shown when something fails. */
export class Proc {
  private readonly proc: ReturnType<typeof Bun.spawn>;
  constructor(readonly name: string, readonly log: string, cmd: string[], env: Record<string, string> = {}) {
    const fd = openSync(log, "a");
    this.proc = Bun.spawn(cmd, { stdin: "ignore", stdout: fd, stderr: fd, env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: tmpdir(), ...env } });
  }
  /** Throws ProcessExited when it has ended, which ends any waitFor at once. */
  assertRunning(): void {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) throw new ProcessExited(`${this.name} exited with ${this.proc.exitCode ?? this.proc.signalCode}`);
  }
  /** The last lines of its log, for failure messages. */
  tail(lines = 40): string {
    const text = existsSync(this.log) ? readFileSync(this.log, "utf8") : "";
    return `--- ${this.name} (${this.log}), last ${lines} lines:\n${text.split("\n").slice(-lines - 1).join("\n")}`;
  }
  /** SIGTERM, then SIGKILL if it has not ended within `graceMs`. */
  async stop(graceMs = 5_000): Promise<void> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    this.proc.kill("SIGTERM");
    const ended = await Promise.race([this.proc.exited.then(() => true), Bun.sleep(graceMs).then(() => false)]);
    if (!ended) {
      this.proc.kill("SIGKILL");
      await this.proc.exited;
    }
  }
}

/** Polls `check` until it returns a value, or fails after `timeoutMs` with `what` and the logs. */
export async function waitFor<T>(what: string, timeoutMs: number, check: () => Promise<T | undefined | false>, logs: () => string | Promise<string> = () => ""): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined && v !== false) return v;
    } catch (e) {
      last = e;
    }
    const exited = last instanceof ProcessExited;
    if (exited || Date.now() > deadline) {
      const why = exited ? `gave up waiting for ${what}: ${(last as Error).message}` : `timed out after ${timeoutMs / 1000}s waiting for ${what}${last ? ` (last error: ${(last as Error).message})` : ""}`;
      throw new ClusterError(`${why}\n${await Promise.resolve(logs()).catch((e: Error) => `(no logs: ${e.message})`)}`);
    }
    await Bun.sleep(250);
  }
}

function openssl(args: string[], cwd: string): void {
  execFileSync("openssl", args, { cwd, stdio: "pipe" });
}

/** A CA, the API server's serving certificate, an admin client certificate and the service-account key pair. */
function makeCertificates(dir: string): void {
  openssl(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-keyout", "ca.key", "-out", "ca.crt", "-subj", "/CN=ghapp-tokens-test-ca", "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"], dir);
  const sign = (name: string, subject: string, ext: string) => {
    openssl(["req", "-newkey", "rsa:2048", "-nodes", "-keyout", `${name}.key`, "-out", `${name}.csr`, "-subj", subject], dir);
    writeFileSync(join(dir, `${name}.ext`), ext);
    openssl(["x509", "-req", "-in", `${name}.csr`, "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-days", "2", "-out", `${name}.crt`, "-extfile", `${name}.ext`], dir);
  };
  sign("apiserver", "/CN=kube-apiserver", "subjectAltName=DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,IP:127.0.0.1,IP:10.96.0.1\nextendedKeyUsage=serverAuth\n");
  // O=system:masters: the admin the tests and the controllers act as (the controllers' own RBAC is
  // not what these tests are about; the chart's is).
  sign("admin", "/CN=ghapp-tokens-test-admin/O=system:masters", "extendedKeyUsage=clientAuth\n");
  openssl(["genrsa", "-out", "sa.key", "2048"], dir);
  openssl(["rsa", "-in", "sa.key", "-pubout", "-out", "sa.pub"], dir);
}

function kubeconfig(dir: string, namespace: string): string {
  const file = join(dir, `kubeconfig-${namespace}`);
  writeFileSync(
    file,
    `apiVersion: v1
kind: Config
clusters:
  - name: test
    cluster: {server: "https://127.0.0.1:${API_PORT}", certificate-authority: "${dir}/ca.crt"}
users:
  - name: admin
    user: {client-certificate: "${dir}/admin.crt", client-key: "${dir}/admin.key"}
contexts:
  - name: test
    context: {cluster: test, user: admin, namespace: ${namespace}}
current-context: test
`,
  );
  return file;
}

const pidAlive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** Namespaces a killed earlier run left behind (their owner pid is gone). */
function removeStaleNetns(): void {
  if (!existsSync("/run/netns")) return;
  for (const name of readdirSync("/run/netns")) {
    const m = new RegExp(`^${NETNS_PREFIX}(\\d+)-`).exec(name);
    if (m && !pidAlive(Number(m[1]))) execFileSync("ip", ["netns", "delete", name], { stdio: "ignore" });
  }
}

let counter = 0;

export class Cluster {
  readonly dir = mkdtempSync(join(tmpdir(), "controlplane-"));
  readonly netns = `${NETNS_PREFIX}${process.pid}-${++counter}`;
  readonly certs = join(this.dir, "pki");
  readonly logs = join(this.dir, "logs");
  private readonly procs: Proc[] = [];
  private etcd?: Proc;
  private apiserver?: Proc;
  private kubeconfigs = new Map<string, string>();

  private constructor() {
    // Containers (other UIDs) reach folders inside it that are made for them, never the keys in pki/.
    chmodSync(this.dir, 0o711);
    mkdirSync(this.certs, { mode: 0o700 });
    mkdirSync(this.logs);
  }

  /** Starts etcd and kube-apiserver and waits until the API server is ready (about 3 s). */
  static async start(): Promise<Cluster> {
    requireRoot();
    for (const t of ["etcd", "kube-apiserver", "kubectl"]) tool(t);
    removeStaleNetns();
    const c = new Cluster();
    try {
      execFileSync("ip", ["netns", "add", c.netns], { stdio: "pipe" });
      execFileSync("ip", ["netns", "exec", c.netns, "ip", "link", "set", "lo", "up"], { stdio: "pipe" });
      makeCertificates(c.certs);
      c.etcd = new Proc("etcd", join(c.logs, "etcd.log"), c.inNetns([
        tool("etcd"), "--data-dir", join(c.dir, "etcd"), "--name", "test",
        "--listen-client-urls", `http://127.0.0.1:${ETCD_PORT}`, "--advertise-client-urls", `http://127.0.0.1:${ETCD_PORT}`,
        "--listen-peer-urls", "http://127.0.0.1:2380", "--initial-advertise-peer-urls", "http://127.0.0.1:2380",
        "--initial-cluster", "test=http://127.0.0.1:2380", "--log-level", "warn",
        // The suite's data lives minutes: no need to fsync every write on a shared disk.
        "--unsafe-no-fsync",
      ]));
      const p = c.certs;
      c.apiserver = new Proc("kube-apiserver", join(c.logs, "kube-apiserver.log"), c.inNetns([
        tool("kube-apiserver"),
        `--etcd-servers=http://127.0.0.1:${ETCD_PORT}`,
        "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", `--secure-port=${API_PORT}`,
        `--tls-cert-file=${p}/apiserver.crt`, `--tls-private-key-file=${p}/apiserver.key`, `--client-ca-file=${p}/ca.crt`,
        "--authorization-mode=RBAC",
        "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
        `--service-account-key-file=${p}/sa.pub`, `--service-account-signing-key-file=${p}/sa.key`,
        "--service-cluster-ip-range=10.96.0.0/16",
        // No controller-manager or kubelets keep the `kubernetes` Service's endpoints; none are needed.
        "--endpoint-reconciler-type=none",
        `--cert-dir=${join(c.dir, "apiserver-certs")}`,
        "--v=1",
      ]));
      c.procs.push(c.etcd, c.apiserver);
      await waitFor("kube-apiserver /readyz", 60_000, async () => {
        for (const proc of [c.etcd!, c.apiserver!]) proc.assertRunning();
        const r = await c.kubectl(["get", "--raw", "/readyz"], { check: false });
        return r.code === 0 && r.stdout.trim() === "ok";
      }, () => c.logTails());
      return c;
    } catch (e) {
      await c.stop();
      throw e;
    }
  }

  /** A command run inside the cluster's network namespace. */
  inNetns(cmd: string[]): string[] {
    return ["ip", "netns", "exec", this.netns, ...cmd];
  }

  /** An admin kubeconfig whose default namespace is `namespace`. */
  kubeconfig(namespace = "default"): string {
    let file = this.kubeconfigs.get(namespace);
    if (!file) this.kubeconfigs.set(namespace, (file = kubeconfig(this.certs, namespace)));
    return file;
  }

  get caCert(): string {
    return readFileSync(join(this.certs, "ca.crt"), "utf8");
  }

  /** kubectl as the admin; `check` (default): a non-zero exit throws with kubectl's stderr. */
  async kubectl(args: string[], opts: { stdin?: string; check?: boolean; namespace?: string; timeoutMs?: number } = {}): Promise<CommandResult> {
    const r = await runCommand(this.inNetns([tool("kubectl"), `--kubeconfig=${this.kubeconfig(opts.namespace)}`, ...args]), {
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: this.dir },
      timeoutMs: opts.timeoutMs ?? 60_000,
      ...(opts.stdin === undefined ? {} : { stdin: opts.stdin }),
    });
    if (opts.check !== false && r.code !== 0) throw new ClusterError(`kubectl ${args.join(" ")} failed (exit ${r.code}): ${r.stderr.trim()}`);
    return r;
  }

  /** kubectl get -o json, parsed. */
  async get<T = Record<string, unknown>>(args: string[], namespace?: string): Promise<T> {
    const r = await this.kubectl(["get", ...args, "-o", "json"], namespace === undefined ? {} : { namespace });
    return JSON.parse(r.stdout) as T;
  }

  /** Server-side apply with strict validation; returns kubectl's result (no throw). */
  applyObjects(objects: K8sObject[], namespace = "default", fieldManager = "ghapp-tokens-test"): Promise<CommandResult> {
    const text = objects.map((o) => JSON.stringify(o)).join("\n");
    return this.kubectl(["apply", "--server-side", "--validate=strict", `--field-manager=${fieldManager}`, "-f", "-"], { stdin: text, check: false, namespace });
  }

  /**
   * The CRDs the pinned controllers ship (from their module source, copied by ci/tools.sh), established.
   * Argo's come in two forms: full schemas (every pod field, megabytes each) for the resources in
   * `fullArgo`, which the test validates, and minimal ones for the rest, which the controller only watches.
   */
  async applyCrds(controller: "external-secrets" | "argo", fullArgo: string[] = []): Promise<void> {
    const dirs = controller === "argo" ? [join(CRDS, "argo-full"), join(CRDS, "argo-minimal")] : [join(CRDS, controller)];
    for (const dir of dirs) if (!existsSync(dir)) throw new ClusterError(`${dir} is missing: run \`bash ci/tools.sh\` (npm test does)`);
    const files = readdirSync(dirs.at(-1)!).filter((f) => f.endsWith(".yaml")).sort();
    const chosen = files.map((f) => (controller === "argo" && fullArgo.some((r) => f === `argoproj.io_${r}.yaml`) ? join(dirs[0]!, f) : join(dirs.at(-1)!, f)));
    const unknown = fullArgo.filter((r) => !files.includes(`argoproj.io_${r}.yaml`));
    if (unknown.length) throw new ClusterError(`Argo ships no CRD for ${unknown.join(", ")}`);
    const objects = chosen.flatMap((f) => parseYaml(readFileSync(f, "utf8")));
    // Server-side: the CRDs are too big for client-side apply's last-applied annotation.
    const r = await this.kubectl(["apply", "--server-side", "-f", "-"], { stdin: objects.map((o) => JSON.stringify(o)).join("\n"), check: false, timeoutMs: 180_000 });
    if (r.code !== 0) throw new ClusterError(`applying ${controller}'s CRDs failed: ${r.stderr}`);
    // Polled, not `kubectl wait`: that fails at once (".status.conditions accessor error") when the
    // API server has not set a new CRD's status yet (crd-established.ts).
    const names = objects.map((o) => o.metadata!.name!);
    let pending = names;
    await waitFor(`${controller}'s CRDs to be Established`, 120_000, async () => {
      const got = await this.kubectl(["get", "crd", ...pending, "-o", "json"], { check: false, timeoutMs: 30_000 });
      if (got.code !== 0) return false;
      pending = notEstablished(crdItems(JSON.parse(got.stdout)), pending);
      return pending.length === 0;
    }, () => `not Established yet: ${pending.join(", ")}`);
  }

  /** A namespace as the controller-manager would complete it: the `default` ServiceAccount and `kube-root-ca.crt`. */
  async createNamespace(name: string): Promise<void> {
    const objects = [
      { apiVersion: "v1", kind: "Namespace", metadata: { name } },
      { apiVersion: "v1", kind: "ServiceAccount", metadata: { name: "default", namespace: name } },
      { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "kube-root-ca.crt", namespace: name }, data: { "ca.crt": this.caCert } },
    ];
    for (const o of objects) {
      const r = await this.applyObjects([o], name, "controller-manager-stand-in");
      if (r.code !== 0) throw new ClusterError(`creating ${o.kind}/${o.metadata.name} failed: ${r.stderr}`);
    }
  }

  /**
   * What the controller-manager's token controller does for `kubernetes.io/service-account-token`
   * Secrets: fill in `token` (here a TokenRequest token of the named account), `ca.crt` and `namespace`.
   */
  async fillServiceAccountTokens(namespace: string): Promise<string[]> {
    const list = await this.get<{ items: Array<{ metadata: { name: string; annotations?: Record<string, string> }; type: string; data?: Record<string, string> }> }>(["secrets"], namespace);
    const filled: string[] = [];
    for (const s of list.items) {
      const account = s.metadata.annotations?.["kubernetes.io/service-account.name"];
      if (s.type !== "kubernetes.io/service-account-token" || !account || s.data?.token) continue;
      const token = (await this.kubectl(["create", "token", account, "--duration=2h"], { namespace })).stdout.trim();
      const data = { token: Buffer.from(token).toString("base64"), "ca.crt": Buffer.from(this.caCert).toString("base64"), namespace: Buffer.from(namespace).toString("base64") };
      await this.kubectl(["patch", "secret", s.metadata.name, "--type=merge", "-p", JSON.stringify({ data })], { namespace });
      filled.push(s.metadata.name);
    }
    return filled;
  }

  /** `kubectl auth can-i VERB RESOURCE --as=system:serviceaccount:NS:NAME`, asked of the real authorizer. */
  async canI(serviceAccount: { namespace: string; name: string }, verb: string, resource: string, namespace = serviceAccount.namespace): Promise<boolean> {
    const r = await this.kubectl(["auth", "can-i", verb, resource, `--as=system:serviceaccount:${serviceAccount.namespace}:${serviceAccount.name}`], { check: false, namespace });
    const answer = r.stdout.trim();
    if (answer !== "yes" && answer !== "no") throw new ClusterError(`kubectl auth can-i ${verb} ${resource} answered neither yes nor no: ${r.stdout}${r.stderr}`);
    return answer === "yes";
  }

  /** Starts a process inside the namespace, stopped with the cluster (before the API server). */
  spawn(name: string, cmd: string[], env: Record<string, string> = {}): Proc {
    const proc = new Proc(name, join(this.logs, `${name}.log`), this.inNetns(cmd), env);
    this.procs.push(proc);
    return proc;
  }

  /** The last lines of every process's log. */
  logTails(lines = 40): string {
    return this.procs.map((p) => p.tail(lines)).join("\n");
  }

  /** Clients first (newest first), then the API server, then etcd; then the namespace and files. */
  async stop(): Promise<void> {
    const order = [...this.procs.filter((p) => p !== this.apiserver && p !== this.etcd).reverse(), this.apiserver, this.etcd];
    for (const p of order) await p?.stop().catch(() => undefined);
    try {
      execFileSync("ip", ["netns", "delete", this.netns], { stdio: "ignore" });
    } catch {
      // never created
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
