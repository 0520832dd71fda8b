// Chart values cannot inject: every value that reaches YAML is checked (values.schema.json, and
// the same rules as `fail`s in _helpers.tpl, which hold with --skip-schema-validation too) and
// rendered quoted. Each payload below, rendered unquoted as the chart did before, added a
// privileged root container that mounts the App's key; now `helm template` refuses it, names the
// value, and prints nothing of the payload. Names are never truncated: one Kubernetes would reject,
// or one that would collide with another after truncation, is refused.
import { afterAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { stringify } from "yaml";
import { tempDir } from "../helpers/generator.ts";
import { runCommand } from "../helpers/run.ts";
import { CHART, parseYaml, renderChart, ROOT, tool, validateObjects } from "./render.ts";

const SIDECAR_EXAMPLE = join(ROOT, "charts/ghapp-token-sidecar-example");
const env = { ...process.env, HELM_CACHE_HOME: join(ROOT, ".tools/helm/cache"), HELM_CONFIG_HOME: join(ROOT, ".tools/helm/config"), HELM_DATA_HOME: join(ROOT, ".tools/helm/data") };

/** A container that runs as root, privileged, with the key mounted: what an injected line adds. */
const evil = (indent: number) => {
  const pad = " ".repeat(indent);
  return [`${pad}- name: evil`, `${pad}  image: alpine`, `${pad}  securityContext: {privileged: true, runAsUser: 0}`, `${pad}  volumeMounts: [{name: github-app-key, mountPath: /stolen}]`].join("\n");
};

/** Values as a file (what `-f` reads; --set would split a payload at its commas), from dotted paths such as apps[0].name. */
function valuesFile(dir: string, sets: Array<[string, string]>): string {
  const values: Record<string, unknown> = {};
  for (const [path, value] of sets) {
    const keys = path.split(/\.|\[(\d+)\]\.?/).filter((k) => k !== undefined && k !== "");
    let node = values as Record<string, unknown>;
    keys.forEach((key, i) => {
      if (i === keys.length - 1) node[key] = value === "true" ? true : value;
      else node = (node[key] ??= /^\d+$/.test(keys[i + 1]!) ? [] : {}) as Record<string, unknown>;
    });
  }
  const file = join(dir, `values-${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(file, stringify(values));
  return file;
}

const work = tempDir();
afterAll(() => work.cleanup());

async function helmTemplate(chart: string, sets: Array<[string, string]>, extra: string[] = []) {
  const args = [tool("helm3"), "template", "ghapp-tokens", chart, "--namespace", "workflows", ...extra, "-f", valuesFile(work.dir, sets)];
  return runCommand(args, { env });
}

// [value, payload]: each closes the line it is written on and starts a container (or a key) of its own.
// The first is what issue 9 found: on the chart before (42072e1) it lints and renders, and the
// generator's env, volumeMounts and security context end up on a container "evil" that prints the key.
const TAKEOVER = `\n  args: [mint]\n  env: [{name: LOG_LEVEL, value: info}]\n- name: evil\n  image: alpine\n  command: [sh, -c, "cat /var/run/github-app/privateKey"]`;
const PAYLOADS: Array<[string, string]> = [
  ["image.tag", `0.1.0${TAKEOVER}`],
  ["image.repository", `ghcr.io/x/y${TAKEOVER}`],
  ["github.caConfigMap", `ghes-ca\n${evil(8)}`],
  ["github.apiUrl", `https://api.github.com\n${evil(8)}`],
  ["secretStore.name", `aws-secrets\n  namespace: kube-system`],
  ["secretStore.serviceAccount.name", `eso\n  namespace: kube-system`],
  ["serviceAccount.name", `workflows-sa\n${evil(4)}`],
  ["executor.serviceAccount.name", `workflows-executor\n  namespace: kube-system`],
  ["workflowTemplates.githubAppToken.name", `github-app-token\n  namespace: kube-system`],
  ["workflowTemplates.testGithubApp.name", `test-github-app\n  namespace: kube-system`],
  ["workflowTemplates.testGithubApp.image", `docker.io/maniator/gh:v2.63.2\n${evil(16)}`],
  ["workflowTemplates.workspace.mountPath", `/workspace\n${evil(8)}`],
  ["externalSecrets.refreshInterval", `1h\n  dataFrom: [{extract: {key: /everything}}]`],
  ["externalSecrets.remoteKeyTemplate", `/github-apps/{app}/{key}\n  - secretKey: x`],
  ["externalSecrets.secretPrefix", `github-app-\n  namespace: kube-system`],
  ["externalSecrets.creationPolicy", `Owner\n    template: {data: {x: y}}`],
  ["nameOverride", `ghapp\n    evil: "true"`],
  ["apps[0].name", `rex\n  namespace: kube-system`],
  ["generator.logLevel", `info\n${evil(8)}`],
  ["generator.requestTimeout", `10s\n${evil(8)}`],
  ["workflowTemplates.githubAppToken.refreshInterval", `45m\n${evil(8)}`],
];

describe("values cannot inject YAML", () => {
  for (const [value, payload] of PAYLOADS) {
    test(`a newline payload in ${value} is refused by the schema, which names the value's path`, async () => {
      const r = await helmTemplate(CHART, [[value, payload]]);
      expect(r.code).not.toBe(0);
      expect(r.stdout).not.toContain("evil");
      expect(r.stderr).toContain(`at '/${value.replace(/\[(\d+)\]/g, "/$1").replaceAll(".", "/")}'`);
    });
    test(`a newline payload in ${value} is refused by the templates too (--skip-schema-validation), naming the value and echoing nothing`, async () => {
      const r = await helmTemplate(CHART, [[value, payload]], ["--skip-schema-validation"]);
      expect(r.code).not.toBe(0);
      expect(r.stdout).not.toContain("evil");
      expect(r.stderr).toContain(value);
      expect(r.stderr).not.toContain("evil");
      expect(r.stderr).not.toContain("kube-system");
    });
  }

  test("a payload in a flux value is refused too", async () => {
    const base: Array<[string, string]> = [["flux.enabled", "true"], ["flux.app", "rex"], ["flux.installationOwner", "acme"]];
    for (const [value, payload] of [
      ["flux.namespace", "flux-system\n  evil: x"],
      ["flux.githubApp.secretName", "flux-github-app\n  evil: x"],
      ["flux.baseURL", "https://github.example.com/api/v3\n  evil: x"],
      ["flux.caCert", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\nevil: x"],
    ] as Array<[string, string]>) {
      for (const extra of [[], ["--skip-schema-validation"]]) {
        const r = await helmTemplate(CHART, [...base, [value, payload]], extra);
        expect({ value, extra, code: r.code === 0 ? 0 : "failed" }).toEqual({ value, extra, code: "failed" });
        expect(r.stdout).not.toContain("evil");
        // Helm's schema errors quote the value; the chart's own checks never do.
        if (extra.length) expect(r.stderr).not.toContain("evil");
      }
    }
  });

  test("the sidecar library refuses a payload in each of its values, naming it", async () => {
    for (const [value, payload] of [
      ["githubApp.secretName", `github-app-rex\n${evil(12)}`],
      ["githubApp.image.tag", `0.1.0\n${evil(10)}`],
      ["githubApp.image.repository", `ghcr.io/x/y\n${evil(10)}`],
      ["githubApp.apiUrl", `https://api.github.com\n${evil(10)}`],
      ["githubApp.owner", `acme\n${evil(10)}`],
      ["githubApp.repositories", `api\n${evil(10)}`],
      ["githubApp.permissions", `contents=read\n${evil(10)}`],
      ["githubApp.installationId", `1\n${evil(10)}`],
      ["githubApp.refreshInterval", `45m\n${evil(10)}`],
      ["githubApp.tokenFileMode", `0600\n${evil(10)}`],
    ] as Array<[string, string]>) {
      const r = await helmTemplate(SIDECAR_EXAMPLE, [[value, payload]]);
      expect({ value, code: r.code === 0 ? 0 : "failed" }).toEqual({ value, code: "failed" });
      expect(r.stderr).toContain(value);
      expect(r.stderr + r.stdout).not.toContain("evil");
    }
  });
});

describe("names are checked, never truncated", () => {
  test("two apps whose Secret names would be cut to the same 63 characters are refused, not merged", async () => {
    // Before, both became the Secret github-app-credentials-aaaa… (63 characters): one app read the other's key.
    const long = "a".repeat(45);
    const r = await helmTemplate(CHART, [["externalSecrets.secretPrefix", "github-app-credentials-"], ["apps[0].name", `${long}1`], ["apps[1].name", `${long}2`]]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("apps[0].name with externalSecrets.secretPrefix makes a Secret name of 69 characters");
    expect(r.stderr).toContain("never truncates");
  });

  test("a name Kubernetes would reject at apply time is refused at helm template", async () => {
    for (const [value, bad] of [["secretStore.name", "Aws_Secrets"], ["serviceAccount.name", "workflows.sa"], ["workflowTemplates.githubAppToken.name", "x".repeat(64)], ["github.caConfigMap", "-ca"]] as Array<[string, string]>) {
      const r = await helmTemplate(CHART, [[value, bad]], ["--skip-schema-validation"]);
      expect({ value, code: r.code === 0 ? 0 : "failed" }).toEqual({ value, code: "failed" });
      expect(r.stderr).toContain(`${value} must be`);
    }
  });

  test("values YAML would read as booleans or numbers reach the cluster as the strings they are", async () => {
    const dir = tempDir();
    try {
      const file = join(dir.dir, "values.yaml");
      // Written by hand: a YAML 1.2 writer leaves `yes` unquoted, which Helm (YAML 1.1) reads as true.
      writeFileSync(file, 'apps: [{name: "true"}, {name: "123"}, {name: "null"}]\nsecretStore: {name: "yes"}\nimage: {tag: "1.10"}\n');
      const objects = await renderChart([file]);
      const secrets = objects.filter((o) => o.kind === "ExternalSecret");
      expect(secrets.map((o) => o.metadata?.name)).toEqual(["github-app-true", "github-app-123", "github-app-null"]);
      for (const o of secrets) {
        const spec = o.spec as { secretStoreRef: { name: unknown }; target: { name: unknown } };
        expect(spec.secretStoreRef.name).toBe("yes");
        expect(typeof (o.metadata as { labels: Record<string, unknown> }).labels["ghapp-tokens.io/app"]).toBe("string");
      }
      const template = objects.find((o) => o.metadata?.name === "github-app-token")!;
      const run = (template.spec as { templates: Array<{ inputs: { parameters: Array<{ name: string; enum?: unknown[] }> }; initContainers: Array<{ image: string }> }> }).templates[0]!;
      expect(run.inputs.parameters[0]!.enum).toEqual(["true", "123", "null"]);
      expect(run.initContainers[0]!.image).toBe("ghcr.io/ghapp-tokens/ghapp-token:1.10");
      expect(await validateObjects(objects)).toEqual([]);
    } finally {
      dir.cleanup();
    }
  });

  test("a number where a name belongs is refused with the fix, not rendered as a number", async () => {
    const r = await runCommand([tool("helm3"), "template", "x", CHART, "-n", "workflows", "--skip-schema-validation", "--set", "apps[0].name=123"], { env });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("apps[0].name must be a string (quote it in the values)");
  });

  test("what renders is the objects the chart means, nothing more: no extra container in any template", async () => {
    const objects = parseYaml((await helmTemplate(CHART, [])).stdout);
    const containers = objects
      .filter((o) => o.kind === "WorkflowTemplate")
      .flatMap((o) => (o.spec as { templates: Array<{ initContainers?: Array<{ name: string }>; sidecars?: Array<{ name: string }>; container?: unknown }> }).templates)
      .flatMap((t) => [...(t.initContainers ?? []), ...(t.sidecars ?? [])].map((c) => c.name));
    expect([...new Set(containers)].sort()).toEqual(["github-app-token", "github-app-token-refresh"]);
  });
});

describe("a refused value is reported with its group, not at whichever template renders first", () => {
  for (const [group, sets] of [
    ["store", [["secretStore.provider.aws.service", "SecretsManager"]]],
    ["apps", [["apps[0].name", "rex"], ["apps[1].name", "rex"]]],
    ["workflows", [["workflowTemplates.githubAppToken.refreshInterval", "58m"]]],
    ["accounts", [["rbac.secretReader.enabled", "true"]]],
    ["flux", [["flux.enabled", "true"]]],
  ] as Array<[string, Array<[string, string]>]>) {
    test(`a wrong ${group} value fails at templates/validate/${group}.yaml`, async () => {
      const r = await helmTemplate(CHART, sets);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain(`execution error at (ghapp-tokens/templates/validate/${group}.yaml:`);
      expect(r.stderr).not.toContain("workflowtemplate-test-github-app.yaml");
    });
  }
});
