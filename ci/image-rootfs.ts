// The container image's root filesystem, in one place.
//
// The Dockerfile builds the image FROM distroless static-debian12:nonroot, which provides the
// files listed in STATIC_BASE, and adds two things: the glibc files the executable's ELF header
// asks for, copied from distroless base-nossl-debian12 by stageRuntimeLibraries (this file's CLI,
// run in the Dockerfile's build stage), and the executable at IMAGE.executable.
// tests/container builds the same tree from this Debian 12 host with buildTestRootfs (Debian 12 is
// what distroless debian12 is built from: same glibc, same CA bundle, same tzdata) and runs the
// executable in it read-only, as IMAGE.user, with the image's environment. What passes there is
// what the Dockerfile assumes.
//
// Why not FROM base-nossl-debian12, which already holds glibc: it carries all of Debian's libc6
// package, about 5.7 MB compressed, mostly gconv charset modules and NSS/resolver libraries this
// executable never loads; the five files it does load are about 1.5 MB. With a ~46 MB Bun runtime
// that difference decides whether the image fits in 50 MB (docs/image.md has the figures).
//
// CLI (the Dockerfile's build stage; ci/image-size.sh):
//   bun ci/image-rootfs.ts --executable dist/ghapp-token --from /glibc --to /out/rootfs [--package-record libc6]
import { chmodSync, chownSync, copyFileSync, cpSync, existsSync, lstatSync, mkdirSync, readdirSync, readlinkSync, symlinkSync, writeFileSync } from "node:fs";
import { dirname, join, posix } from "node:path";
import { parseArgs } from "node:util";
import { readElfRuntime } from "./elf.ts";

/**
 * What the Dockerfile's final stage sets itself (ENV; tests/container/dockerfile.test.ts checks
 * they agree): JavaScriptCore runs ghapp-token in its interpreter, with no JIT. A mint runs each
 * function a few times and the sidecar idles, so compiling code never pays back: without the JIT
 * a mint is faster and the idle sidecar about 2 MiB smaller (npm run bench), and the process has
 * no memory that is both writable and executable (JavaScriptCore's JIT reserves 1 GiB of it),
 * which tests/container/container.test.ts checks. The bare executable keeps the JIT but starts
 * with a reluctant policy instead (ci/build.ts, TOKEN_JIT_POLICY).
 */
const OWN_ENV = { BUN_JSC_useJIT: "0" } as const;

export const IMAGE = {
  executable: "/ghapp-token",
  /** distroless's nonroot user; the Dockerfile's USER and every container the chart renders */
  user: { uid: 65532, gid: 65532 },
  /** WORKDIR of the :nonroot variant */
  workdir: "/home/nonroot",
  /** the token folder: an emptyDir (medium: Memory) mounted by the pod, the only writable place */
  tokenDir: "/var/run/github",
  /** the environment the Dockerfile adds */
  ownEnv: OWN_ENV,
  /** the image's whole environment: what static-debian12 sets in its image config (static/static.bzl), then the Dockerfile's */
  env: {
    PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    SSL_CERT_FILE: "/etc/ssl/certs/ca-certificates.crt",
    ...OWN_ENV,
  },
} as const;

/**
 * The runner broker's image (the Dockerfile's target ghapp-runner-broker): the same base and user,
 * its own executable, the JIT left on (a service), and one writable place, the SQLite volume the
 * chart mounts (charts/ghapp-runner-broker). tests/container/broker-image.test.ts runs it.
 */
export const BROKER_IMAGE = {
  executable: "/ghapp-runner-broker",
  user: IMAGE.user,
  workdir: IMAGE.workdir,
  dataDir: "/var/lib/runner-broker",
  port: 8000,
  env: { PATH: IMAGE.env.PATH, SSL_CERT_FILE: IMAGE.env.SSL_CERT_FILE },
} as const;

/** One thing gcr.io/distroless/static-debian12:nonroot provides, and how the test recreates it. */
export type BaseEntry =
  | { path: string; what: string; content: string }
  | { path: string; what: string; fromHost: string; debianPackage: string }
  | { path: string; what: string; dir: { mode: number; owner?: { uid: number; gid: number } } };

// Source: GoogleContainerTools/distroless static/static.bzl (base-files, netbase, tzdata, media-types,
// passwd, home, group, tmp, nsswitch, os_release, cacerts) and common/BUILD.bazel (the entries).
export const STATIC_BASE: BaseEntry[] = [
  {
    path: "/etc/passwd",
    what: "root, nobody and nonroot (65532), no login shells",
    content:
      "root:x:0:0:root:/root:/sbin/nologin\n" +
      "nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n" +
      "nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n",
  },
  { path: "/etc/group", what: "root, nobody, tty, staff, nonroot (65532)", content: "root:x:0:\nnobody:x:65534:\ntty:x:5:\nstaff:x:50:\nnonroot:x:65532:\n" },
  {
    path: "/etc/nsswitch.conf",
    what: "glibc name service order: /etc/hosts, then DNS",
    content:
      "passwd:         compat\ngroup:          compat\nshadow:         compat\ngshadow:        files\n\n" +
      "hosts:          files dns\nnetworks:       files\n\n" +
      "protocols:      db files\nservices:       db files\nethers:         db files\nrpc:            db files\n\nnetgroup:       nis\n",
  },
  {
    path: "/etc/os-release",
    what: "identifies the image as Debian 12 to scanners",
    content: 'PRETTY_NAME="Distroless"\nNAME="Debian GNU/Linux"\nID="debian"\nVERSION_ID="12"\nVERSION="Debian GNU/Linux 12 (bookworm)"\nHOME_URL="https://github.com/GoogleContainerTools/distroless"\n',
  },
  { path: "/etc/ssl/certs/ca-certificates.crt", what: "Debian's CA bundle; SSL_CERT_FILE points here", fromHost: "/etc/ssl/certs/ca-certificates.crt", debianPackage: "ca-certificates" },
  { path: "/usr/share/zoneinfo", what: "time zone data", fromHost: "/usr/share/zoneinfo", debianPackage: "tzdata" },
  { path: "/tmp", what: "exists (mode 1777) but is read-only under readOnlyRootFilesystem", dir: { mode: 0o1777 } },
  { path: "/proc", what: "mount point (base-files)", dir: { mode: 0o755 } },
  { path: "/dev", what: "mount point (base-files)", dir: { mode: 0o755 } },
  { path: "/sys", what: "mount point (base-files)", dir: { mode: 0o755 } },
  { path: "/var/run", what: "a folder, not Debian's usual link to /run: base-files ships it so and nothing runs its scripts", dir: { mode: 0o755 } },
  { path: "/root", what: "root's home", dir: { mode: 0o700 } },
  { path: "/home/nonroot", what: "nonroot's home and the WORKDIR; read-only like the rest", dir: { mode: 0o700, owner: IMAGE.user } },
];

export interface MountPoints {
  dirs: string[];
  files: string[];
}

/**
 * What the container runtime adds at run time, not the image: the mount point of the pod's token
 * emptyDir and the files kubelet bind-mounts into every container. A runtime creates mount
 * points before it makes the root read-only; the test creates them in the tree.
 */
export const RUNTIME_MOUNT_POINTS: MountPoints = { dirs: [IMAGE.tokenDir], files: ["/etc/hosts", "/etc/resolv.conf", "/etc/hostname"] };

/**
 * Where Debian's dynamic loader looks when there is no /etc/ld.so.cache, as in distroless (nothing
 * runs ldconfig there): its built-in multiarch directories, then /lib and /usr/lib.
 */
const LIBRARY_DIRS: Record<string, string[]> = {
  x86_64: ["/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib64", "/usr/lib64", "/lib", "/usr/lib"],
  aarch64: ["/lib/aarch64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/lib", "/usr/lib"],
};

/** Follows `imagePath` inside the tree at `root` (symlinks resolved against `root`, not the host). */
function exists(root: string, imagePath: string): boolean {
  try {
    resolveIn(root, imagePath, () => {});
    return true;
  } catch {
    return false;
  }
}

/**
 * Walks `imagePath` component by component inside `root`, calling `visit` for every directory,
 * symlink and the final file met on the way, and returns the final file's resolved image path.
 */
function resolveIn(root: string, imagePath: string, visit: (kind: "dir" | "symlink" | "file", path: string, target?: string) => void, hops = 0): string {
  if (hops > 40) throw new Error(`${imagePath}: too many symbolic links`);
  const parts = imagePath.split("/").filter(Boolean);
  let at = "/";
  for (let i = 0; i < parts.length; i++) {
    const next = posix.join(at, parts[i]!);
    const st = lstatSync(join(root, next));
    if (st.isSymbolicLink()) {
      const target = readlinkSync(join(root, next));
      visit("symlink", next, target);
      const resolved = target.startsWith("/") ? target : posix.join(at, target);
      return resolveIn(root, posix.join(resolved, ...parts.slice(i + 1)), visit, hops + 1);
    }
    const last = i === parts.length - 1;
    if (!last && !st.isDirectory()) throw new Error(`${next} is not a directory`);
    visit(last ? "file" : "dir", next);
    at = next;
  }
  return at;
}

/** Copies `imagePath` from the tree `from` into the tree `to`, with every symlink on the way. */
function copyInto(from: string, to: string, imagePath: string, staged: Set<string>): string {
  return resolveIn(from, imagePath, (kind, path, target) => {
    const dest = join(to, path);
    if (kind === "dir") {
      if (!existsSync(dest)) mkdirSync(dest, { mode: lstatSync(join(from, path)).mode & 0o7777 });
    } else if (kind === "symlink") {
      if (!staged.has(path)) symlinkSync(target!, dest);
      staged.add(path);
    } else {
      copyFileSync(join(from, path), dest);
      chmodSync(dest, lstatSync(join(from, path)).mode & 0o7777);
      staged.add(path);
    }
  });
}

/**
 * Copies into `to` the program interpreter and every shared library the executable needs
 * (transitively), found in the tree `from` the way the loader would, keeping paths and symlinks.
 * `packageRecords` also copies those packages' records from distroless's /var/lib/dpkg/status.d,
 * so scanners (Trivy) still see glibc and report its CVEs. Returns the image paths written.
 */
export function stageRuntimeLibraries(opts: { executable: string; from: string; to: string; packageRecords?: string[] }): string[] {
  const { executable, from, to } = opts;
  const staged = new Set<string>();
  const main = readElfRuntime(executable);
  const dirs = LIBRARY_DIRS[main.machine];
  if (!dirs) throw new Error(`${executable}: no library search path known for ${main.machine}`);
  if (!main.interpreter) throw new Error(`${executable} has no program interpreter: it is static and needs no glibc`);
  mkdirSync(to, { recursive: true });

  const queue: Array<{ imagePath: string; neededBy: string }> = [{ imagePath: main.interpreter, neededBy: executable }];
  const done = new Set<string>();
  const find = (name: string, neededBy: string) => {
    const dir = dirs.find((d) => exists(from, posix.join(d, name)));
    if (!dir) throw new Error(`${name} (needed by ${neededBy}) is not in ${from} under ${dirs.join(", ")}: the base image no longer provides it`);
    return posix.join(dir, name);
  };
  for (const name of main.needed) queue.push({ imagePath: find(name, executable), neededBy: executable });
  while (queue.length) {
    const { imagePath, neededBy } = queue.shift()!;
    if (done.has(imagePath)) continue;
    done.add(imagePath);
    if (!exists(from, imagePath)) throw new Error(`${imagePath} (needed by ${neededBy}) is not in ${from}`);
    const real = copyInto(from, to, imagePath, staged);
    for (const name of readElfRuntime(join(from, real)).needed) queue.push({ imagePath: find(name, imagePath), neededBy: imagePath });
  }

  for (const pkg of opts.packageRecords ?? []) {
    const dir = "/var/lib/dpkg/status.d";
    const records = existsSync(join(from, dir)) ? readdirSync(join(from, dir)).filter((f) => f === pkg || f.startsWith(`${pkg}.`)) : [];
    if (records.length === 0) throw new Error(`no ${dir}/${pkg} record in ${from}: scanners would not see ${pkg} in the image`);
    for (const record of records) copyInto(from, to, posix.join(dir, record), staged);
  }
  return [...staged].sort();
}

/**
 * Builds, in the empty folder `dir`, the image's root filesystem from this Debian 12 host: the
 * static base's files (STATIC_BASE), the glibc files the executable needs (from the host's own
 * glibc, as stageRuntimeLibraries copies them from base-nossl in the Dockerfile), the runtime's
 * mount points (plus `more`, e.g. a pod's volumes), and the executable (at `imagePath`: the
 * broker's image has its own). Must run as root for
 * /home/nonroot's owner; otherwise the owner is left as is. Returns the glibc paths staged.
 */
export function buildTestRootfs(dir: string, executable: string, more: MountPoints = { dirs: [], files: [] }, imagePath: string = IMAGE.executable): string[] {
  const asRoot = process.getuid?.() === 0;
  const put = (path: string) => {
    mkdirSync(dirname(join(dir, path)), { recursive: true, mode: 0o755 });
    return join(dir, path);
  };
  for (const entry of STATIC_BASE) {
    if ("content" in entry) writeFileSync(put(entry.path), entry.content, { mode: 0o644 });
    else if ("fromHost" in entry) {
      if (!existsSync(entry.fromHost)) throw new Error(`${entry.fromHost} is missing on this host: install the Debian package ${entry.debianPackage}`);
      cpSync(entry.fromHost, put(entry.path), { recursive: true, dereference: true });
    } else {
      const path = put(entry.path);
      mkdirSync(path, { recursive: true });
      chmodSync(path, entry.dir.mode);
      if (entry.dir.owner && asRoot) chownSync(path, entry.dir.owner.uid, entry.dir.owner.gid);
    }
  }
  const glibc = stageRuntimeLibraries({ executable, from: "/", to: dir });
  for (const d of [...RUNTIME_MOUNT_POINTS.dirs, ...more.dirs]) mkdirSync(put(d), { recursive: true, mode: 0o755 });
  for (const f of [...RUNTIME_MOUNT_POINTS.files, ...more.files]) writeFileSync(put(f), "", { mode: 0o644 });
  copyFileSync(executable, put(imagePath));
  chmodSync(join(dir, imagePath), 0o755);
  chmodSync(dir, 0o755);
  return glibc;
}

if (import.meta.main) {
  const { values } = parseArgs({
    options: {
      executable: { type: "string" },
      from: { type: "string" },
      to: { type: "string" },
      "package-record": { type: "string", multiple: true },
    },
  });
  if (!values.executable || !values.from || !values.to) {
    console.error("usage: bun ci/image-rootfs.ts --executable FILE --from BASE_ROOT --to OUT_DIR [--package-record PKG]...");
    process.exit(2);
  }
  try {
    const paths = stageRuntimeLibraries({ executable: values.executable, from: values.from, to: values.to, packageRecords: values["package-record"] ?? [] });
    for (const p of paths) console.log(p);
  } catch (e) {
    console.error(`ci/image-rootfs.ts: ${(e as Error).message}`);
    process.exit(1);
  }
}
