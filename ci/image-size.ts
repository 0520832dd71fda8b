// `npm run image:size` (through ci/image-size.sh): the container image's compressed size, without a
// Docker engine. It builds the layers the Dockerfile adds on top of distroless static-debian12 as
// the tars BuildKit would write (same paths, modes and owners, mtimes from SOURCE_DATE_EPOCH):
//   1. the glibc files the executable needs (ci/image-rootfs.ts), from this Debian 12 host's glibc,
//      which is the glibc base-nossl-debian12 carries;
//   2. /ghapp-token, mode 0755, root:root;
// compresses them as the release pushes them (libzstd -19, ci/layer-compress's recompress step)
// and, for comparison, the way BuildKit would (its gzip and its zstd, same code), adds the base's
// published compressed size, and prints the totals for linux/amd64 and linux/arm64 (then the same
// for the runner broker's image, the Dockerfile's target ghapp-runner-broker), then the
// candidates docs/image.md compares (--quick skips them: they take several minutes). A figure,
// not a test: it exits 0 whatever the size.
import { $ } from "bun";
import { chmodSync, mkdirSync, readdirSync, rmSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { build, BUN_TARGETS, type BuildOptions } from "./build.ts";
import { BROKER_IMAGE, IMAGE, stageRuntimeLibraries } from "./image-rootfs.ts";

const ROOT = resolve(import.meta.dir, "..");
const WORK = join(ROOT, ".cache/image-size");
const COMPRESSOR = join(WORK, "layer-compress");
const TARGET_BYTES = 50_000_000;

// Compressed sizes of the bases as published (the sum of their layers' sizes in the registry
// manifest). Not read from the registry: none was reachable where these were written. To use the
// registry's own figure, set STATIC_BASE_BYTES, e.g. from
//   crane manifest --platform linux/amd64 gcr.io/distroless/static-debian12:nonroot@sha256:... | jq '[.layers[].size] | add'
const BASES = {
  static: {
    name: "distroless static-debian12",
    bytes: Number(process.env.STATIC_BASE_BYTES ?? 2 * 1024 * 1024),
    // An upper bound: the distroless README says "gcr.io/distroless/static-debian12 is around
    // 2 MiB"; its contents (base-files, netbase, tzdata, media-types, CA bundle) rebuilt from the
    // same Debian packages gzip to about 0.7 MB.
    source: process.env.STATIC_BASE_BYTES ? "STATIC_BASE_BYTES" : "distroless README, 'around 2 MiB' (an upper bound)",
  },
  baseNossl: {
    name: "distroless base-nossl-debian12",
    // GoogleContainerTools/distroless#2045 shows `docker inspect` of a base-nossl-debian12:nonroot
    // (arm64) with Size 5,668,679 bytes; static plus all of Debian's libc6, rebuilt here from the
    // same packages, gzips to 5.68 MB, so that is its compressed size.
    bytes: 5_668_679,
    source: "distroless#2045 (docker inspect Size)",
  },
};

type Sizes = Record<string, number>; // "uncompressed", "gzip", "zstd", "zstd:19", "libzstd:19" -> bytes
// BuildKit's gzip, its default zstd and its best zstd (any level >= 10), then what the release
// pushes: the reference zstd library at level 19 (ci/layer-compress/recompress.go).
const COMPRESSIONS = ["gzip", "zstd", "zstd:19", "libzstd:19"];
const PUSHED = "libzstd:19";

async function compressedSizes(dir: string): Promise<Sizes> {
  // What BuildKit writes for a COPY: a POSIX tar of the files, owned by root, with fixed times
  // (buildx's rewrite-timestamp with SOURCE_DATE_EPOCH), no atime/ctime.
  const epoch = process.env.SOURCE_DATE_EPOCH ?? "0";
  // The layer holds the copied paths, not an entry for / itself.
  const names = readdirSync(dir).sort();
  const tar = await $`tar -C ${dir} --sort=name --owner=0 --group=0 --numeric-owner --mtime=@${epoch} --format=posix --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime -cf - ${names}`.arrayBuffer();
  const out = await $`${COMPRESSOR} -c ${COMPRESSIONS.join(",")} < ${new Response(tar)}`.text();
  return Object.fromEntries(out.trim().split("\n").map((l) => { const [k, v] = l.split(" "); return [k!, Number(v)]; }));
}

async function executableLayer(name: string, options: Omit<BuildOptions, "outfile">, imagePath: string = IMAGE.executable): Promise<{ exe: string; sizes: Sizes }> {
  const dir = join(WORK, name);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const exe = join(dir, imagePath);
  await build({ ...options, outfile: exe });
  chmodSync(exe, 0o755);
  return { exe, sizes: await compressedSizes(dir) };
}

async function glibcLayer(exe: string, name = "glibc"): Promise<Sizes> {
  if (!/^VERSION_ID="12"$/m.test(await Bun.file("/etc/os-release").text().catch(() => ""))) {
    console.warn("warning: this host is not Debian 12, so the glibc layer is measured from another glibc than base-nossl-debian12's");
  }
  const dir = join(WORK, name);
  rmSync(dir, { recursive: true, force: true });
  stageRuntimeLibraries({ executable: exe, from: "/", to: dir });
  return compressedSizes(dir);
}

const mb = (n: number) => (Number.isNaN(n) ? "-" : `${(n / 1e6).toFixed(2)} MB`);
const row = (label: string, s: Sizes) =>
  `  ${label.padEnd(44)} ${mb(s.uncompressed!).padStart(10)} ${["gzip", "zstd", "zstd:19", PUSHED].map((k) => mb(s[k]!).padStart(12)).join(" ")}`;
const header = `  ${"layer".padEnd(44)} ${"tar".padStart(10)} ${"BuildKit gzip".padStart(12)} ${"BK zstd".padStart(12)} ${"BK zstd best".padStart(12)} ${"libzstd -19".padStart(12)}`;
const base = (b: { bytes: number }): Sizes => ({ uncompressed: NaN, gzip: b.bytes, zstd: b.bytes, "zstd:19": b.bytes, [PUSHED]: b.bytes });
const sum = (...layers: Sizes[]): Sizes => Object.fromEntries(["uncompressed", ...COMPRESSIONS].map((k) => [k, layers.reduce((t, l) => t + l[k]!, 0)]));

async function main() {
  const { values } = parseArgs({ options: { quick: { type: "boolean", default: false } } });
  mkdirSync(WORK, { recursive: true });
  await $`go build -C ${join(ROOT, "ci/layer-compress")} -o ${COMPRESSOR} .`;

  const shipped = await executableLayer("linux-amd64", { target: BUN_TARGETS["linux/amd64"]! });
  const glibc = await glibcLayer(shipped.exe);
  const arm64 = await executableLayer("linux-arm64", { target: BUN_TARGETS["linux/arm64"]! });
  const total = sum(base(BASES.static), glibc, shipped.sizes);
  // No arm64 glibc on this host: its layer is taken as amd64's (arm64's libraries are smaller).
  const arm64Total = sum(base(BASES.static), glibc, arm64.sizes);

  console.log("\nghapp-token image as the Dockerfile builds it (sizes in MB = 10^6 bytes)\n");
  console.log(header);
  console.log(row(`base: ${BASES.static.name}`, base(BASES.static)));
  console.log(row("glibc from base-nossl-debian12 (5 files)", glibc));
  console.log(row(`${IMAGE.executable} (linux/amd64)`, shipped.sizes));
  console.log(row(`${IMAGE.executable} (linux/arm64)`, arm64.sizes));
  console.log(row("total, linux/amd64", total));
  console.log(row("total, linux/arm64 (amd64's glibc layer)", arm64Total));
  for (const [platform, t] of [["linux/amd64", total], ["linux/arm64", arm64Total]] as const) {
    const z = t[PUSHED]!;
    console.log(`\n  ${platform} as the release pushes it (own layers libzstd -19, base as pulled): ${mb(z)} (${(z / 2 ** 20).toFixed(2)} MiB), ` +
      `${z < TARGET_BYTES ? `under the 50 MB target by ${mb(TARGET_BYTES - z)}` : `OVER the 50 MB target by ${mb(z - TARGET_BYTES)}`}`);
    console.log(`  ${platform} pushed by buildx alone: ${mb(t["zstd:19"]!)} with compression=zstd,compression-level=19; ${mb(t.gzip!)} with gzip`);
  }
  // The runner broker's image (Dockerfile target ghapp-runner-broker): same base, its own
  // executable and the glibc files that executable names, compressed the same way.
  const broker = await executableLayer("broker-linux-amd64", { target: BUN_TARGETS["linux/amd64"]!, entry: "ghapp-runner-broker" }, BROKER_IMAGE.executable);
  const brokerGlibc = await glibcLayer(broker.exe, "broker-glibc");
  const brokerArm64 = await executableLayer("broker-linux-arm64", { target: BUN_TARGETS["linux/arm64"]!, entry: "ghapp-runner-broker" }, BROKER_IMAGE.executable);
  const brokerTotal = sum(base(BASES.static), brokerGlibc, broker.sizes);
  console.log("\nghapp-runner-broker image (--target ghapp-runner-broker)\n");
  console.log(header);
  console.log(row(`base: ${BASES.static.name}`, base(BASES.static)));
  console.log(row("glibc from base-nossl-debian12", brokerGlibc));
  console.log(row(`${BROKER_IMAGE.executable} (linux/amd64)`, broker.sizes));
  console.log(row(`${BROKER_IMAGE.executable} (linux/arm64)`, brokerArm64.sizes));
  console.log(row("total, linux/amd64", brokerTotal));
  console.log(row("total, linux/arm64 (amd64's glibc layer)", sum(base(BASES.static), brokerGlibc, brokerArm64.sizes)));
  console.log(`\n  linux/amd64 as the release pushes it: ${mb(brokerTotal[PUSHED]!)} (${(brokerTotal[PUSHED]! / 2 ** 20).toFixed(2)} MiB)`);
  console.log(`\n  the base's figure: ${BASES.static.source}; its layers are pushed as pulled (gzip)`);
  console.log(`  zstd layers need containerd >= 1.5 or Docker >= 23 on the nodes (docs/image.md)`);

  if (values.quick) return;
  console.log("\ncandidates: the executable's layer\n");
  console.log(header);
  const variants: Array<[string, Omit<BuildOptions, "outfile">]> = [
    ["glibc, top-level bytecode", { target: BUN_TARGETS["linux/amd64"]!, bytecode: "top-level" }],
    ["glibc, no bytecode", { target: BUN_TARGETS["linux/amd64"]!, bytecode: "none" }],
    ["musl, full bytecode", { target: "bun-linux-x64-musl" }],
  ];
  const exe: Record<string, Sizes> = { "glibc, full bytecode (shipped)": shipped.sizes };
  console.log(row("glibc, full bytecode (shipped)", shipped.sizes));
  for (const [label, options] of variants) {
    exe[label] = (await executableLayer(`candidate-${label.replace(/\W+/g, "-")}`, options)).sizes;
    console.log(row(label, exe[label]!));
  }
  const printTotal = (label: string, ...layers: Sizes[]) => {
    const t = sum(...layers);
    console.log(`  ${label.padEnd(68)} ${mb(t[PUSHED]!).padStart(12)} ${mb(t["zstd:19"]!).padStart(12)} ${mb(t.gzip!).padStart(12)}`);
  };
  console.log(`\nimage totals, linux/amd64\n\n  ${"executable, base".padEnd(68)} ${"libzstd -19".padStart(12)} ${"BK zstd best".padStart(12)} ${"BK gzip".padStart(12)}`);
  const onStatic = (label: string) => printTotal(`${label}, static + glibc`, base(BASES.static), glibc, exe[label]!);
  onStatic("glibc, full bytecode (shipped)");
  onStatic("glibc, top-level bytecode");
  onStatic("glibc, no bytecode");
  printTotal("glibc, full bytecode (shipped), base-nossl as is", base(BASES.baseNossl), exe["glibc, full bytecode (shipped)"]!);
  console.log(`  ${"musl: no distroless base has musl and libstdc++ (docs/image.md)".padEnd(68)} ${"n/a".padStart(10)}`);
}

await main();
