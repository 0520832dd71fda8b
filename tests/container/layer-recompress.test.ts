// The release's recompress step (ci/layer-compress recompress) on an OCI image layout shaped as
// `docker buildx build --output type=oci,tar=false,compression=uncompressed,oci-mediatypes=true`
// writes it: a multi-platform index, per-platform manifests whose base layer is gzip (as pulled)
// and whose own layers are plain tars, and a BuildKit attestation manifest. No Docker here, so the
// layout is built by hand; the checks use other tools than the one under test (sha256 here,
// Debian's zstd to decompress, skopeo to copy the layout as the release pushes it).
import { afterAll, beforeAll, expect, test } from "bun:test";
import { $ } from "bun";
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createHash } from "node:crypto";
import { gzipSync } from "node:zlib";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const ROOT = resolve(import.meta.dir, "../..");
let work: string;
let tool: string;

const sha = (data: Uint8Array | string) => `sha256:${createHash("sha256").update(data).digest("hex")}`;
type Descriptor = { mediaType: string; digest: string; size: number; annotations?: Record<string, string>; platform?: object };

/** Writes a blob into layout `dir` and returns its descriptor. */
function blob(dir: string, mediaType: string, data: Uint8Array | string, extra: Partial<Descriptor> = {}): Descriptor {
  const bytes = typeof data === "string" ? Buffer.from(data) : Buffer.from(data);
  const digest = sha(bytes);
  writeFileSync(join(dir, "blobs/sha256", digest.slice(7)), bytes);
  return { mediaType, digest, size: bytes.length, ...extra };
}
const read = (dir: string, d: Descriptor) => readFileSync(join(dir, "blobs/sha256", d.digest.slice(7)));
const json = <T>(dir: string, d: Descriptor) => JSON.parse(read(dir, d).toString()) as T;

/** A tar of one file with compressible but not trivial content, as a COPY layer. */
async function tarLayer(name: string, seed: number): Promise<Buffer> {
  const src = join(work, `src-${name}`);
  mkdirSync(src, { recursive: true });
  let text = "";
  for (let i = 0; i < 40_000; i++) text += `${name} line ${i} ${((i * 2654435761 + seed) >>> 0).toString(36)}\n`;
  writeFileSync(join(src, name), text);
  return Buffer.from(await $`tar -C ${src} --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 --format=posix -cf - ${name}`.arrayBuffer());
}

async function buildxLikeLayout(dir: string): Promise<{ tars: Record<string, Buffer>; base: Descriptor }> {
  mkdirSync(join(dir, "blobs/sha256"), { recursive: true });
  writeFileSync(join(dir, "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }));
  const baseTar = await tarLayer("base-file", 7);
  const base = blob(dir, "application/vnd.oci.image.layer.v1.tar+gzip", gzipSync(baseTar, { level: 6 }));
  const tars: Record<string, Buffer> = {};
  const manifests: Descriptor[] = [];
  for (const arch of ["amd64", "arm64"]) {
    const tar = (tars[arch] = await tarLayer(`ghapp-token-${arch}`, arch.length));
    const config = blob(dir, "application/vnd.oci.image.config.v1+json", JSON.stringify({ architecture: arch, os: "linux", rootfs: { type: "layers", diff_ids: [sha(baseTar), sha(tar)] } }));
    const layer = blob(dir, "application/vnd.oci.image.layer.v1.tar", tar);
    const manifest = { schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json", config, layers: [base, layer], annotations: { "org.opencontainers.image.version": "0.1.0" } };
    manifests.push(blob(dir, manifest.mediaType, JSON.stringify(manifest), { platform: { architecture: arch, os: "linux" } }));
  }
  const amd64 = manifests[0]!;
  const statement = { _type: "https://in-toto.io/Statement/v0.1", predicateType: "https://slsa.dev/provenance/v0.2", subject: [{ name: "pkg:docker/ghapp-token@0.1.0?platform=linux%2Famd64", digest: { sha256: amd64.digest.slice(7) } }], predicate: { builder: { id: "buildkit" } } };
  const attestationConfig = blob(dir, "application/vnd.oci.image.config.v1+json", JSON.stringify({ architecture: "unknown", os: "unknown", rootfs: { type: "layers", diff_ids: [] } }));
  const attestationLayer = blob(dir, "application/vnd.in-toto+json", JSON.stringify(statement), { annotations: { "in-toto.io/predicate-type": "https://slsa.dev/provenance/v0.2" } });
  const attestation = { schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json", config: attestationConfig, layers: [attestationLayer] };
  manifests.push(blob(dir, attestation.mediaType, JSON.stringify(attestation), { annotations: { "vnd.docker.reference.digest": amd64.digest, "vnd.docker.reference.type": "attestation-manifest" }, platform: { architecture: "unknown", os: "unknown" } }));
  const index = blob(dir, "application/vnd.oci.image.index.v1+json", JSON.stringify({ schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json", manifests }));
  writeFileSync(join(dir, "index.json"), JSON.stringify({ schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json", manifests: [{ ...index, annotations: { "org.opencontainers.image.ref.name": "0.1.0" } }] }));
  return { tars, base };
}

/** Every descriptor reachable from index.json, checked: the blob exists and matches digest and size. */
function walk(dir: string): Descriptor[] {
  const seen: Descriptor[] = [];
  const visit = (d: Descriptor) => {
    const data = read(dir, d);
    expect({ digest: sha(data), size: data.length }).toEqual({ digest: d.digest, size: d.size });
    seen.push(d);
    if (d.mediaType.endsWith("index.v1+json")) for (const m of json<{ manifests: Descriptor[] }>(dir, d).manifests) visit(m);
    if (d.mediaType.endsWith("manifest.v1+json")) {
      const m = json<{ config: Descriptor; layers: Descriptor[] }>(dir, d);
      for (const x of [m.config, ...m.layers]) visit(x);
    }
  };
  for (const m of (JSON.parse(readFileSync(join(dir, "index.json"), "utf8")) as { manifests: Descriptor[] }).manifests) visit(m);
  return seen;
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), "ghapp-recompress-"));
  tool = join(work, "layer-compress");
  await $`go build -C ${join(ROOT, "ci/layer-compress")} -o ${tool} .`.quiet();
}, 300_000);
afterAll(() => rmSync(work, { recursive: true, force: true }));

test("compresses the image's own tar layers with zstd and points manifests, attestation and index at them", async () => {
  const dir = join(work, "layout");
  const { tars, base } = await buildxLikeLayout(dir);
  await $`${tool} recompress -level 19 ${dir}`.quiet();

  const all = walk(dir);
  const index = all.find((d) => d.mediaType.endsWith("index.v1+json"))!;
  const manifests = json<{ manifests: Descriptor[] }>(dir, index).manifests;
  for (const arch of ["amd64", "arm64"]) {
    const m = json<{ config: Descriptor; layers: Descriptor[] }>(dir, manifests.find((d) => (d.platform as { architecture: string }).architecture === arch)!);
    // The base's gzip layer is the blob it was pulled as; the own layer is zstd now.
    expect(m.layers[0]).toEqual(base);
    expect(m.layers[1]!.mediaType).toBe("application/vnd.oci.image.layer.v1.tar+zstd");
    expect(m.layers[1]!.size).toBeLessThan(tars[arch]!.length / 4);
    // Decompressed by another zstd, it is exactly the tar whose digest the unchanged config names.
    const tar = Buffer.from(await $`zstd -d -c < ${join(dir, "blobs/sha256", m.layers[1]!.digest.slice(7))}`.arrayBuffer());
    expect(tar.equals(tars[arch]!)).toBe(true);
    expect(json<{ rootfs: { diff_ids: string[] } }>(dir, m.config).rootfs.diff_ids[1]).toBe(sha(tar));
  }
  const amd64 = manifests.find((d) => (d.platform as { architecture: string }).architecture === "amd64")!;
  const attestation = manifests.find((d) => d.annotations?.["vnd.docker.reference.type"] === "attestation-manifest")!;
  expect(attestation.annotations!["vnd.docker.reference.digest"]).toBe(amd64.digest);
  const statement = json<{ subject: Array<{ digest: { sha256: string } }>; predicate: object }>(dir, json<{ layers: Descriptor[] }>(dir, attestation).layers[0]!);
  expect(statement.subject[0]!.digest.sha256).toBe(amd64.digest.slice(7));
  expect(statement.predicate).toEqual({ builder: { id: "buildkit" } });
}, 120_000);

test("gives the same digests for the same input (a reproducible release step)", async () => {
  const first = join(work, "repro-1");
  await buildxLikeLayout(first);
  const second = join(work, "repro-2");
  cpSync(first, second, { recursive: true });
  await $`${tool} recompress ${first}`.quiet();
  await $`${tool} recompress ${second}`.quiet();
  expect(readFileSync(join(second, "index.json"), "utf8")).toBe(readFileSync(join(first, "index.json"), "utf8"));
  // Run again on its own output, it changes nothing: zstd layers are left as they are.
  const before = readFileSync(join(first, "index.json"), "utf8");
  await $`${tool} recompress ${first}`.quiet();
  expect(readFileSync(join(first, "index.json"), "utf8")).toBe(before);
}, 120_000);

test("refuses a layout whose blob does not match its digest, and changes nothing", async () => {
  const dir = join(work, "tampered");
  const { tars } = await buildxLikeLayout(dir);
  writeFileSync(join(dir, "blobs/sha256", sha(tars.amd64!).slice(7)), Buffer.concat([tars.amd64!, Buffer.from("x")]));
  const before = readFileSync(join(dir, "index.json"), "utf8");
  const r = await $`${tool} recompress ${dir}`.nothrow().quiet();
  expect(r.exitCode).toBe(2);
  expect(r.stderr.toString()).toContain("does not match its descriptor");
  expect(readFileSync(join(dir, "index.json"), "utf8")).toBe(before);
}, 120_000);

test("skopeo copies the result with --preserve-digests, as the release pushes it", async () => {
  const dir = join(work, "for-skopeo");
  await buildxLikeLayout(dir);
  await $`${tool} recompress ${dir}`.quiet();
  const copy = join(work, "skopeo-copy");
  const r = await $`skopeo copy --quiet --all --preserve-digests oci:${dir}:0.1.0 oci:${copy}:0.1.0`.nothrow().quiet();
  expect(r.stderr.toString()).toBe("");
  expect(r.exitCode).toBe(0);
  const rootDigest = (p: string) => (JSON.parse(readFileSync(join(p, "index.json"), "utf8")) as { manifests: Descriptor[] }).manifests[0]!.digest;
  expect(rootDigest(copy)).toBe(rootDigest(dir));
  walk(copy);
}, 120_000);
