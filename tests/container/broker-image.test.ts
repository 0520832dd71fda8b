// The runner broker's image (the Dockerfile's target ghapp-runner-broker) run the way a container
// runtime runs it, since no Docker engine runs here: its root filesystem built by ci/image-rootfs.ts
// from this Debian 12 host as the Dockerfile assembles it from distroless, bound read-only as /, as
// UID/GID 65532, with the image's environment and the chart's, the App's key mounted as the chart
// mounts its Secret and the SQLite volume the only writable place. It shares the host's network, so
// the GitHub simulator (also the callers' OIDC issuer) on loopback is reachable.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BROKER_IMAGE, buildTestRootfs } from "../../ci/image-rootfs.ts";
import { requireBroker } from "../broker/harness.ts";
import { freePort, runCommand } from "../helpers/run.ts";
import { startSimulator, type Simulator } from "../simulator/simulator.ts";
import pkg from "../../package.json" with { type: "json" };
import { treeSnapshot } from "../helpers/tree-snapshot.ts";

// Where charts/ghapp-runner-broker mounts the pod's volumes (templates/_helpers.tpl, "paths").
const KEY_DIR = "/var/run/github-app";
const asRoot = process.getuid?.() === 0;
const CALLER = "repo:acme-org/api:ref:refs/heads/main";

let sim: Simulator;
let work: string;
let rootfs: string;
let keyDir: string;
let before: string[];

/** bwrap as the runtime would start the container, with `binds` as the pod's volume mounts. */
function sandbox(binds: Array<["bind" | "ro-bind", string, string]>, command: string[]): string[] {
  const { uid, gid } = BROKER_IMAGE.user;
  const setpriv = asRoot ? ["setpriv", `--reuid=${uid}`, `--regid=${gid}`, "--clear-groups", "--"] : [];
  const bwrap = [
    "bwrap", "--unshare-user", "--uid", String(uid), "--gid", String(gid),
    // No --unshare-pid: bwrap's own init would be PID 1 and would not pass SIGTERM on to the broker.
    "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try", "--die-with-parent", "--new-session",
    "--ro-bind", rootfs, "/", "--dev", "/dev", "--proc", "/proc",
  ];
  for (const [kind, from, to] of binds) bwrap.push(`--${kind}`, from, to);
  return [...setpriv, ...bwrap, "--chdir", BROKER_IMAGE.workdir, "--", ...command];
}


/** A volume as the kubelet gives it to a pod with fsGroup 65532: group-owned, setgid. */
function volume(): string {
  const dir = mkdtempSync(join(work, "volume-"));
  if (asRoot) chownSync(dir, 0, BROKER_IMAGE.user.gid);
  chmodSync(dir, asRoot ? 0o2775 : 0o777);
  return dir;
}

beforeAll(async () => {
  for (const [tool, pkgName] of [["bwrap", "bubblewrap"], ...(asRoot ? [["setpriv", "util-linux"]] : [])] as const) {
    if (spawnSync("sh", ["-c", `command -v ${tool}`]).status !== 0) throw new Error(`${tool} is missing: install the Debian package ${pkgName} (bash ci/install-system-deps.sh does)`);
  }
  work = mkdtempSync(join(tmpdir(), "ghapp-broker-image-"));
  chmodSync(work, 0o755);
  rootfs = join(work, "rootfs");
  mkdirSync(rootfs);
  buildTestRootfs(rootfs, requireBroker(), { dirs: [KEY_DIR, BROKER_IMAGE.dataDir], files: [] }, BROKER_IMAGE.executable);
  before = treeSnapshot(rootfs);
  sim = await startSimulator();
  keyDir = join(work, "github-app-key");
  mkdirSync(keyDir, { mode: 0o755 });
  writeFileSync(join(keyDir, "privateKey"), sim.app.privateKeyPem, { mode: 0o440 });
  if (asRoot) chownSync(join(keyDir, "privateKey"), 0, BROKER_IMAGE.user.gid);
}, 60_000);

afterAll(async () => {
  await sim?.close();
  if (work) rmSync(work, { recursive: true, force: true });
});

describe("the broker image, as UID/GID 65532 on a read-only root", () => {
  test("--version prints the release from package.json", async () => {
    const r = await runCommand(sandbox([], [BROKER_IMAGE.executable, "--version"]), { env: { ...BROKER_IMAGE.env }, timeoutMs: 20_000 });
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe(pkg.version);
  });

  test("serves with the chart's settings, writes its SQLite database on the volume only, and stops cleanly", async () => {
    const data = volume();
    const port = freePort();
    const env = {
      ...BROKER_IMAGE.env,
      GITHUB_APP_ID: String(sim.app.id),
      GITHUB_APP_PRIVATE_KEY_FILE: `${KEY_DIR}/privateKey`,
      GITHUB_ORG: "acme-org",
      GITHUB_API_URL: sim.url,
      DATABASE_URL: `sqlite://${BROKER_IMAGE.dataDir}/broker.db`,
      LISTEN_ADDR: `0.0.0.0:${port}`,
      OIDC_ISSUER: sim.oidc.issuer,
      OIDC_AUDIENCE: "ghapp-runner-broker",
      SYNC_INTERVAL: "1h",
    };
    // The image's ENTRYPOINT and CMD: /ghapp-runner-broker serve.
    const proc = Bun.spawn(sandbox([["ro-bind", keyDir, KEY_DIR], ["bind", data, BROKER_IMAGE.dataDir]], [BROKER_IMAGE.executable, "serve"]), { env, stdout: "pipe", stderr: "pipe" });
    const stderr = new Response(proc.stderr).text();
    try {
      let ready = 0;
      for (let i = 0; i < 100 && ready !== 200; i++) {
        await Bun.sleep(150);
        ready = await fetch(`http://127.0.0.1:${port}/ready`).then((r) => r.status).catch(() => 0);
      }
      expect(ready).toBe(200);
      expect(await fetch(`http://127.0.0.1:${port}/health`).then((r) => r.json())).toEqual({ status: "ok" });
      // An authenticated call with no policy: refused by the broker itself, so the whole path ran.
      const token = await sim.oidc.mint({ sub: CALLER, aud: "ghapp-runner-broker" });
      const r = await fetch(`http://127.0.0.1:${port}/api/v1/runners/provision`, { method: "POST", headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, body: JSON.stringify({ runner_name: "x-1", labels: ["team-api"] }) });
      expect(r.status).toBe(403);
    } finally {
      // bwrap does not pass signals on: SIGTERM the broker itself, as the kubelet's runtime would.
      const children = existsSync(`/proc/${proc.pid}/task/${proc.pid}/children`) ? (await Bun.file(`/proc/${proc.pid}/task/${proc.pid}/children`).text()).trim().split(/\s+/).filter(Boolean) : [];
      for (const pid of children) process.kill(Number(pid), "SIGTERM");
      if (!children.length) proc.kill("SIGTERM");
    }
    const code = await proc.exited;
    expect(`${code}`).toBe("0");
    expect((await stderr).split("\n").filter((l) => l.includes('"level":"error"'))).toEqual([]);
    const db = join(data, "broker.db");
    expect(existsSync(db)).toBe(true);
    expect(statSync(db).mode & 0o777).toBe(0o600);
    if (asRoot) expect(statSync(db).uid).toBe(BROKER_IMAGE.user.uid);
    // Nothing outside the volume changed: the root stayed read-only.
    expect(treeSnapshot(rootfs)).toEqual(before);
  }, 60_000);
});
