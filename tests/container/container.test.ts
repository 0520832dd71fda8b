// The executable run the way the container runtime runs the image, since no Docker engine runs
// here: inside the image's root filesystem (ci/image-rootfs.ts builds it from this Debian 12 host
// exactly as the Dockerfile assembles it from distroless), bound read-only as /, as UID/GID 65532,
// with the image's environment and nothing else (no HOME, no shell, no writable /tmp), the token
// folder a memory-backed emptyDir, and the key mounted as the chart mounts its Secret. It shares
// the host's network namespace, so the GitHub simulator on loopback is reachable.
//
// As root (CI), the sandbox starts as the real UID 65532 (setpriv) and bubblewrap maps it to
// itself in a user namespace, so permissions are exactly a container's. As another user, bwrap
// maps 65532 to that user; everything holds except that files are owned by that user outside.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statfsSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { IMAGE, buildTestRootfs } from "../../ci/image-rootfs.ts";
import { logLines, requireBinary } from "../helpers/generator.ts";
import { runCommand } from "../helpers/run.ts";
import { expectNoSecrets, keyFragments } from "../helpers/secrets.ts";
import { startSimulator, type Simulator } from "../simulator/simulator.ts";
import { makeSelfSignedCert } from "../simulator/tls.ts";
import pkg from "../../package.json" with { type: "json" };
import { treeSnapshot } from "../helpers/tree-snapshot.ts";

// Where the chart mounts the pod's volumes (charts/ghapp-tokens/templates/_workflow.tpl).
const KEY_DIR = "/var/run/github-app";
const CA_DIR = "/etc/ghapp-tokens/ca";
const TMPFS_MAGIC = 0x01021994;

const asRoot = process.getuid?.() === 0;
/** The owner the token file has outside the sandbox. */
const ownerOutside = asRoot ? IMAGE.user.uid : process.getuid!();

let sim: Simulator;
let work: string;
let rootfs: string;
let glibc: string[];
let keyDir: string;
let n = 0;

function requireTool(name: string, debianPackage: string) {
  if (spawnSync("sh", ["-c", `command -v ${name}`]).status !== 0) {
    throw new Error(`${name} is missing: the container test needs it; install the Debian package ${debianPackage} (bash ci/install-system-deps.sh does)`);
  }
}

/** `bwrap` as the runtime would start the container, with `binds` as the pod's volume mounts. */
function sandbox(binds: Array<["bind" | "ro-bind", string, string]>, command: string[]): string[] {
  const setpriv = asRoot ? ["setpriv", `--reuid=${IMAGE.user.uid}`, `--regid=${IMAGE.user.gid}`, "--clear-groups", "--"] : [];
  const bwrap = [
    "bwrap", "--unshare-user", "--uid", String(IMAGE.user.uid), "--gid", String(IMAGE.user.gid),
    "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try", "--die-with-parent", "--new-session",
    "--ro-bind", rootfs, "/", "--dev", "/dev", "--proc", "/proc",
  ];
  for (const [kind, from, to] of binds) bwrap.push(`--${kind}`, from, to);
  return [...setpriv, ...bwrap, "--chdir", IMAGE.workdir, "--", ...command];
}

const emptyDirs: string[] = [];
/** A memory-backed emptyDir as kubelet makes one: a folder on a tmpfs, mode 0777. */
function emptyDir(): string {
  const dir = mkdtempSync("/dev/shm/ghapp-container-test-");
  chmodSync(dir, 0o777);
  emptyDirs.push(dir);
  return dir;
}

async function runInImage(args: string[], env: Record<string, string>, extraBinds: Array<["bind" | "ro-bind", string, string]> = []) {
  const tokenDir = emptyDir();
  const binds: Array<["bind" | "ro-bind", string, string]> = [["bind", tokenDir, IMAGE.tokenDir], ["ro-bind", keyDir, KEY_DIR], ...extraBinds];
  // Only the image's config env and the pod's: nothing from this process (no HOME, no proxies).
  const r = await runCommand(sandbox(binds, [IMAGE.executable, ...args]), { env: { ...IMAGE.env, ...env }, timeoutMs: 20_000 });
  return { ...r, tokenDir };
}

function podEnv(extra: Record<string, string> = {}): Record<string, string> {
  return { APP_ID: String(sim.app.id), PRIVATE_KEY_FILE: `${KEY_DIR}/privateKey`, GITHUB_API_URL: sim.url, OUTPUT_PATH: `${IMAGE.tokenDir}/token`, ...extra };
}

let before: string[];

beforeAll(async () => {
  requireTool("bwrap", "bubblewrap");
  if (asRoot) requireTool("setpriv", "util-linux");
  requireTool("dpkg-query", "dpkg");
  if (statfsSync("/dev/shm").type !== TMPFS_MAGIC) throw new Error("/dev/shm is not a tmpfs here: the test needs one for the token folder");

  work = mkdtempSync(join(tmpdir(), "ghapp-container-"));
  chmodSync(work, 0o755);
  rootfs = join(work, "rootfs");
  mkdirSync(rootfs);
  glibc = buildTestRootfs(rootfs, requireBinary(), { dirs: [KEY_DIR, CA_DIR], files: [] });
  before = treeSnapshot(rootfs);

  // bubblewrap needs unprivileged user namespaces; say so plainly when the kernel refuses them.
  const [cmd, ...args] = sandbox([], [IMAGE.executable, "--version"]);
  const probe = spawnSync(cmd!, args, { env: { ...IMAGE.env }, encoding: "utf8" });
  if (probe.status !== 0) {
    throw new Error(`bubblewrap could not start the image's root filesystem as UID 65532 (exit ${probe.status}): ${probe.stderr}` +
      "\nIt needs unprivileged user namespaces (sysctl user.max_user_namespaces > 0, kernel.unprivileged_userns_clone=1 where that exists).");
  }

  sim = await startSimulator();
  // The Secret volume as the chart mounts it: root-owned, mode 0440, group = the pod's fsGroup (65532).
  keyDir = join(work, "github-app-key");
  mkdirSync(keyDir, { mode: 0o755 });
  writeFileSync(join(keyDir, "privateKey"), sim.app.privateKeyPem, { mode: 0o440 });
  if (asRoot) chownSync(join(keyDir, "privateKey"), 0, IMAGE.user.gid);
}, 60_000);

afterAll(async () => {
  await sim?.close();
  if (work) rmSync(work, { recursive: true, force: true });
  for (const d of emptyDirs) rmSync(d, { recursive: true, force: true });
});

describe("the image's root filesystem", () => {
  test("holds no shell and no program but the executable", () => {
    const programs: string[] = [];
    const walk = (d: string) => {
      for (const e of readdirSync(d)) {
        const p = join(d, e);
        const st = lstatSync(p);
        if (st.isDirectory()) walk(p);
        else if (st.isFile() && st.mode & 0o111 && !/\.so(\.\d+)*$/.test(e)) programs.push(p.slice(rootfs.length));
      }
    };
    walk(rootfs);
    expect(programs.sort()).toEqual([IMAGE.executable]);
    for (const shell of ["/bin/sh", "/usr/bin/sh", "/bin/bash", "/busybox/sh"]) expect(existsSync(join(rootfs, shell))).toBe(false);
  });

  test("takes every library the executable loads from Debian's libc6, which base-nossl-debian12 carries", () => {
    const files = glibc.filter((p) => lstatSync(join(rootfs, p)).isFile());
    expect(files.length).toBeGreaterThanOrEqual(2); // the loader and libc at least
    for (const path of files) {
      // dpkg records libc6's files under /lib, which this usr-merged host reaches through /usr/lib.
      const owners = [path, path.replace(/^\/usr\//, "/")].map((p) => spawnSync("dpkg-query", ["-S", p], { encoding: "utf8" }).stdout.split(":")[0]);
      expect(`${path} from ${owners.find(Boolean)}`).toBe(`${path} from libc6`);
    }
  });
});

describe("the executable in the image, as UID/GID 65532 on a read-only root", () => {
  test("mints a token into the token folder: the token alone, mode 0600, owned by 65532", async () => {
    const r = await runInImage(["mint"], podEnv({ INSTALLATION_ID: "1001" }));
    expect(r.stderr.split("\n").filter((l) => l.includes('"error"'))).toEqual([]);
    expect(r.code).toBe(0);
    const tokenFile = join(r.tokenDir, "token");
    const token = readFileSync(tokenFile, "utf8");
    expect(token).toMatch(/^ghs_\d+_eyJ[A-Za-z0-9_.-]{400,}$/); // GitHub's form since April 2026
    expect(sim.tokens.has(token)).toBe(true);
    const st = statSync(tokenFile);
    expect(st.mode & 0o777).toBe(0o600);
    expect([st.uid, st.gid]).toEqual([ownerOutside, asRoot ? IMAGE.user.gid : process.getgid!()]);
    expect(readdirSync(r.tokenDir).sort()).toEqual(["token", "token.json"]);
    expectNoSecrets(r.stdout + r.stderr, [token, ...keyFragments(sim.app.privateKeyPem)]);
  });

  test("writes nowhere but the token folder: /tmp, its home and / are read-only", async () => {
    // /tmp (1777) and the home folder (owned by 65532) would let it write: only the read-only
    // root stops it (EROFS). / is root's, so permissions stop it first (EACCES).
    const cases: Array<[string, RegExp]> = [["/tmp/token", /not writable \(EROFS\)/], [`${IMAGE.workdir}/token`, /not writable \(EROFS\)/], ["/token", /not writable \((EACCES|EROFS)\)/]];
    for (const [path, why] of cases) {
      const requests = sim.requests.length;
      const r = await runInImage(["mint"], podEnv({ INSTALLATION_ID: "1001", OUTPUT_PATH: path }));
      expect(`${path}: exit ${r.code}`).toBe(`${path}: exit 2`);
      expect(logLines(r.stderr).at(-1)!.message).toMatch(why);
      expect(sim.requests.length).toBe(requests);
    }
    expect(treeSnapshot(rootfs)).toEqual(before);
  });

  test("--version prints the release from package.json", async () => {
    const r = await runInImage(["--version"], {});
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe(pkg.version);
  });

  test("a key that is not a key: exit 2 before any request, without echoing it", async () => {
    const bad = join(work, "bad-key");
    mkdirSync(bad, { mode: 0o755 });
    writeFileSync(join(bad, "privateKey"), "not-a-key-but-a-long-secret-looking-string", { mode: 0o444 });
    const requests = sim.requests.length;
    const r = await runInImage(["mint"], podEnv({ INSTALLATION_ID: "1001" }), [["ro-bind", bad, KEY_DIR]]);
    expect(r.code).toBe(2);
    expect(sim.requests.length).toBe(requests);
    expect(r.stderr).toContain("accepted shapes");
    expect(r.stderr).not.toContain("not-a-key-but-a-long-secret-looking-string");
  });

  test("trusts a private CA through NODE_EXTRA_CA_CERTS although the base sets SSL_CERT_FILE, and finds localhost through /etc/hosts", async () => {
    const tlsDir = join(work, `tls-${++n}`);
    mkdirSync(tlsDir, { mode: 0o700 });
    const tls = makeSelfSignedCert(tlsDir);
    // The ConfigMap volume: the CA certificate only, never the server's key.
    const caDir = join(work, "github-ca");
    mkdirSync(caDir, { mode: 0o755 });
    writeFileSync(join(caDir, "ca.crt"), tls.cert, { mode: 0o644 });
    const ghes = await startSimulator({ tls: { cert: tls.cert, key: tls.key }, prefix: "/api/v3" });
    try {
      const keys = join(work, "ghes-key");
      mkdirSync(keys, { mode: 0o755 });
      writeFileSync(join(keys, "privateKey"), ghes.app.privateKeyPem, { mode: 0o444 });
      // What kubelet writes into every pod's /etc/hosts.
      const hosts = join(work, "hosts");
      writeFileSync(hosts, "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n", { mode: 0o644 });
      const env = { APP_ID: String(ghes.app.id), PRIVATE_KEY_FILE: `${KEY_DIR}/privateKey`, GITHUB_API_URL: `https://localhost:${ghes.port}/api/v3`, INSTALLATION_ID: "1001", OUTPUT_PATH: `${IMAGE.tokenDir}/token`, NODE_EXTRA_CA_CERTS: `${CA_DIR}/ca.crt` };
      const binds: Array<["bind" | "ro-bind", string, string]> = [["ro-bind", keys, KEY_DIR], ["ro-bind", caDir, CA_DIR], ["ro-bind", hosts, "/etc/hosts"]];
      const r = await runInImage(["mint"], env, binds);
      expect(r.code).toBe(0);
      expect(ghes.tokens.has(readFileSync(join(r.tokenDir, "token"), "utf8"))).toBe(true);
      // Without the CA the base's bundle alone does not trust the private CA.
      const { NODE_EXTRA_CA_CERTS: _, ...withoutCa } = env;
      const untrusted = await runInImage(["mint"], withoutCa, binds);
      expect(untrusted.code).toBe(2);
      expect(logLines(untrusted.stderr).at(-1)!.message).toContain("NODE_EXTRA_CA_CERTS");
    } finally {
      await ghes.close();
    }
  });
});
