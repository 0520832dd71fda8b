// Writes (or with --check, compares) eso-v2.9.0.json: the v1 openAPIV3Schema of External Secrets'
// ExternalSecret and SecretStore CRDs (ClusterSecretStore's is the same but for descriptions),
// without descriptions, so tests validate against the exact CRDs without reading them at run time.
// Usage: bun tests/chart/crds/vendor.ts [--check] [CRD_DIR]   (default /work/shared/reference/crds)
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";

const VERSION = "v2.9.0";
const args = process.argv.slice(2);
const check = args.includes("--check");
const dir = args.find((a) => !a.startsWith("--")) ?? "/work/shared/reference/crds";
const out = join(import.meta.dir, `eso-${VERSION}.json`);

function strip(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(strip);
  if (value && typeof value === "object") return Object.fromEntries(Object.entries(value).filter(([k]) => k !== "description").map(([k, v]) => [k, strip(v)]));
  return value;
}

function v1Schema(plural: string): unknown {
  const crd = parse(readFileSync(join(dir, `eso-${VERSION}_external-secrets.io_${plural}.yaml`), "utf8")) as { spec: { versions: Array<{ name: string; schema: { openAPIV3Schema: unknown } }> } };
  const version = crd.spec.versions.find((v) => v.name === "v1");
  if (!version) throw new Error(`${plural}: no v1 version in the CRD`);
  return strip(version.schema.openAPIV3Schema);
}

const store = v1Schema("secretstores");
if (JSON.stringify(store) !== JSON.stringify(v1Schema("clustersecretstores"))) throw new Error("SecretStore and ClusterSecretStore v1 schemas differ: vendor both");
const text = `${JSON.stringify({ source: `External Secrets ${VERSION} CRDs (external-secrets.io v1), descriptions removed; regenerate with bun tests/chart/crds/vendor.ts`, externalSecret: v1Schema("externalsecrets"), secretStore: store })}\n`;
if (check) {
  if (readFileSync(out, "utf8") !== text) {
    console.error(`${out} differs from the CRDs in ${dir}: run bun tests/chart/crds/vendor.ts ${dir}`);
    process.exit(1);
  }
  console.log(`${out} matches the CRDs in ${dir}`);
} else {
  writeFileSync(out, text);
  console.log(`wrote ${out}`);
}
