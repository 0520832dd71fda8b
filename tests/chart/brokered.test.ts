// The chart's mode: brokered (issue 21), beyond helm-unittest (charts/ghapp-tokens/tests/brokered_test.yaml):
// the rendered templates pass Argo's own validator and Kubernetes' schemas, no rendered object
// holds an App key or a reference to one, and the templates' `fail`s behind values.schema.json hold
// with --skip-schema-validation, naming the value and echoing nothing of a payload.
import { afterAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { stringify } from "yaml";
import { tempDir } from "../helpers/generator.ts";
import { runCommand } from "../helpers/run.ts";
import { CHART, parseYaml, renderChart, ROOT, tool, validateObjects } from "./render.ts";

const EXAMPLE = join(ROOT, "values-examples/brokered.values.yaml");
const env = { ...process.env, HELM_CACHE_HOME: join(ROOT, ".tools/helm/cache"), HELM_CONFIG_HOME: join(ROOT, ".tools/helm/config"), HELM_DATA_HOME: join(ROOT, ".tools/helm/data") };
const work = tempDir();
afterAll(() => work.cleanup());

async function template(values: Record<string, unknown>, extra: string[] = []) {
  const file = join(work.dir, `values-${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(file, stringify(values));
  return runCommand([tool("helm3"), "template", "ghapp-tokens", CHART, "--namespace", "workflows", ...extra, "-f", file], { env });
}

describe("mode: brokered", () => {
  test("renders objects that Argo's validator and Kubernetes' schemas accept", async () => {
    const objects = await renderChart([EXAMPLE]);
    expect(await validateObjects(objects)).toEqual([]);
    expect(objects.map((o) => o.kind).sort()).toEqual(["Role", "RoleBinding", "Secret", "ServiceAccount", "ServiceAccount", "WorkflowTemplate", "WorkflowTemplate"]);
  });

  test("renders no SecretStore, ExternalSecret, App Secret, nor any reference to an App key", async () => {
    const objects = await renderChart([EXAMPLE]);
    const text = JSON.stringify(objects);
    expect(objects.filter((o) => /SecretStore|ExternalSecret/.test(o.kind))).toEqual([]);
    // The one Secret is Argo's executor token (kubernetes.io/service-account-token), not an App's.
    expect(objects.filter((o) => o.kind === "Secret").map((o) => (o as { type?: string }).type)).toEqual(["kubernetes.io/service-account-token"]);
    for (const word of ["privateKey", "github-app-key", "PRIVATE_KEY", "APP_ID", "secretKeyRef"]) expect({ word, found: text.includes(word) }).toEqual({ word, found: false });
  });

  const FAILS: Array<[string, Record<string, unknown>, string]> = [
    ["an unknown mode", { mode: "keyless" }, "mode must be secrets"],
    ["a plain-http broker.url", { mode: "brokered", broker: { url: "http://broker.example.com" } }, "broker.url must be https"],
    ["an audience with spaces", { mode: "brokered", broker: { url: "https://b.example.com", audience: "my broker" } }, "broker.audience must be the broker's audience"],
    ["an expiry under 600 s", { mode: "brokered", broker: { url: "https://b.example.com", tokenExpirationSeconds: 60 } }, "broker.tokenExpirationSeconds must be a whole number"],
  ];
  for (const [what, values, message] of FAILS) {
    test(`refuses ${what} with --skip-schema-validation too`, async () => {
      const r = await template(values, ["--skip-schema-validation"]);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain(message);
    });
  }

  for (const key of ["url", "audience", "caConfigMap"]) {
    test(`a newline payload in broker.${key} is refused by the schema and by the templates, echoing nothing`, async () => {
      const base: Record<string, string> = { url: "https://b.example.com", audience: "ghapp-runner-broker", caConfigMap: "broker-ca" };
      const broker = { ...base, [key]: `${base[key]}\n  - name: evil\n    image: alpine` };
      for (const extra of [[], ["--skip-schema-validation"]]) {
        const r = await template({ mode: "brokered", broker }, extra);
        expect({ key, extra, failed: r.code !== 0 }).toEqual({ key, extra, failed: true });
        expect(r.stdout).not.toContain("evil");
        if (extra.length) {
          expect(r.stderr).toContain(`broker.${key}`);
          expect(r.stderr).not.toContain("evil");
        }
      }
    });
  }

  test("the secrets mode renders as before: an ExternalSecret per App and the key volume", async () => {
    const objects = parseYaml((await template({})).stdout);
    expect(objects.filter((o) => o.kind === "ExternalSecret")).toHaveLength(5);
    expect(JSON.stringify(objects)).toContain("github-app-key");
    expect(JSON.stringify(objects)).not.toContain("broker-token");
  });
});
