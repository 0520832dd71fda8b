// The README is the first thing a newcomer runs. Its commands must be true: the npm scripts it names
// exist; the Node it names is the one the dependencies need; the Quick start creates exactly the
// secrets the chart reads, trusts exactly the ServiceAccount the chart's store authenticates as, and
// submits a template and parameters the chart renders; and the kind job runs the same commands.
import { describe, expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parse as parseYamlDoc, parseAllDocuments } from "yaml";
import { tempDir } from "../helpers/generator.ts";
import { chartFor, renderChart, ROOT, type K8sObject } from "../chart/render.ts";

// semver comes with the locked dependencies (jsonwebtoken's); npm uses it for the same check.
const semver = require("semver") as { subset(sub: string, dom: string): boolean; minVersion(range: string): { major: number; minor: number; version: string } | null };

const read = (path: string) => readFileSync(join(ROOT, path), "utf8");
const readme = read("README.md");
const pkg = JSON.parse(read("package.json")) as { engines: { node: string }; scripts: Record<string, string> };

/** From the heading to the next heading of the same or a higher level (outside code blocks). */
function section(markdown: string, heading: string): string {
  const lines = markdown.split("\n");
  const start = lines.indexOf(heading);
  if (start < 0) throw new Error(`README has no "${heading}" section`);
  const level = heading.indexOf(" ");
  let fenced = false;
  let end = lines.length;
  for (let i = start + 1; i < lines.length; i++) {
    if (lines[i]!.startsWith("```")) fenced = !fenced;
    const m = !fenced && /^(#+) /.exec(lines[i]!);
    if (m && m[1]!.length <= level) {
      end = i;
      break;
    }
  }
  return lines.slice(start, end).join("\n");
}
const quickStart = section(readme, "## Quick start");
/** The Quick start's shell, one logical line per entry (continuations joined). */
const shell = [...quickStart.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]!).join("\n").replace(/\s*\\\n\s*/g, " ");
const shellLines = shell.split("\n").map((l) => l.trim());

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Any = any;
const chartValues = parseYamlDoc(read("charts/ghapp-tokens/values.yaml")) as Any;
const defaultApps: string[] = chartValues.apps.map((a: { name: string }) => a.name);

/** Every `APPS="..."` line of the Quick start, as lists. */
const appsLines = [...shell.matchAll(/^APPS="([^"]+)"$/gm)].map((m) => m[1]!.split(" "));
const expand = (template: string, apps: string[], keys: string[]) =>
  apps.flatMap((app) => keys.map((key) => template.replaceAll("$app", app).replaceAll("$key", key))).sort();

/** remoteRef {key, property} of each ExternalSecret the chart renders, as "key" or "key#property". */
function remoteRefs(objects: K8sObject[]): string[] {
  return objects
    .filter((o) => o.kind === "ExternalSecret" && (o as Any).metadata.labels?.["ghapp-tokens.io/app"])
    .flatMap((o) => ((o as Any).spec.data as Array<{ remoteRef: { key: string; property?: string } }>).map((d) => (d.remoteRef.property ? `${d.remoteRef.key}#${d.remoteRef.property}` : d.remoteRef.key)))
    .sort();
}
/** The ServiceAccount a rendered store authenticates as, wherever its provider keeps serviceAccountRef. */
function storeServiceAccount(objects: K8sObject[]): string | undefined {
  const store = objects.find((o) => o.kind === "SecretStore" || o.kind === "ClusterSecretStore") as Any;
  let found: string | undefined;
  JSON.stringify(store?.spec?.provider ?? {}, (k, v) => {
    if (k === "serviceAccountRef" && v?.name) found = v.name;
    return v;
  });
  return found;
}
function renderedServiceAccount(objects: K8sObject[], name: string): Any {
  return objects.find((o) => o.kind === "ServiceAccount" && o.metadata?.name === name);
}

describe("the README's commands", () => {
  test("name only npm scripts that exist (README, docs and chart READMEs)", () => {
    const docs = ["README.md", ...readdirSync(join(ROOT, "docs")).filter((f) => f.endsWith(".md")).map((f) => `docs/${f}`), ...readdirSync(join(ROOT, "charts")).map((c) => `charts/${c}/README.md`).filter((f) => existsSync(join(ROOT, f)))];
    const named = docs.flatMap((f) => [...read(f).matchAll(/\bnpm (?:run (?:--silent )?([\w:-]+)|(test)\b)/g)].map((m) => ({ file: f, script: m[1] ?? m[2]! })));
    expect(named.map((n) => n.script)).toEqual(expect.arrayContaining(["demo", "test"]));
    expect(named.filter((n) => !(n.script in pkg.scripts))).toEqual([]);
    // The two commands stay prominent: before any reference material.
    expect(readme.indexOf("npm run demo")).toBeLessThan(readme.indexOf("## Using it from Argo Workflows"));
  });

  test("name the Node that runs npm and ci/*.sh (package.json's engines), and that CI runs one at least as new", () => {
    // engines is the Node that runs this project's own Node code (npm, ci/*.sh's `node -e`); the
    // dependencies run on Bun. One that declares a newer Node may do so only if nothing of it runs
    // on Node: an install script would (npm runs it), so such a package must satisfy engines.
    const lock = JSON.parse(read("package-lock.json")) as { packages: Record<string, { version?: string; hasInstallScript?: boolean; engines?: { node?: string } | string[] }> };
    const scriptedNarrower = Object.entries(lock.packages)
      .filter(([path, p]) => path !== "" && p.hasInstallScript && p.engines && !Array.isArray(p.engines) && p.engines.node)
      .filter(([, p]) => !semver.subset(pkg.engines.node, (p.engines as { node: string }).node))
      .map(([path, p]) => `${path.replace(/^.*node_modules\//, "")}@${p.version} runs an install script on node ${(p.engines as { node: string }).node}`);
    expect(scriptedNarrower).toEqual([]);
    const min = semver.minVersion(pkg.engines.node)!;
    expect(readme).toContain(`Node ${min.major} or later`);
    for (const workflow of ["ci.yaml", "release.yaml"]) {
      const versions = [...read(`.github/workflows/${workflow}`).matchAll(/node-version: (\d+)/g)].map((m) => Number(m[1]));
      expect(versions.length).toBeGreaterThan(0);
      expect(versions.filter((v) => v < min.major)).toEqual([]);
    }
  });
  test("link only to files and headings that exist (README and docs)", () => {
    // GitHub's heading anchors: lower case, punctuation dropped, spaces to dashes.
    const slug = (h: string) => h.trim().toLowerCase().replace(/[^\p{L}\p{N} _-]/gu, "").replace(/ /g, "-");
    const anchors = (file: string) => {
      let fenced = false;
      const out = new Set<string>();
      for (const line of read(file).split("\n")) {
        if (line.startsWith("```")) fenced = !fenced;
        const m = !fenced && /^#+ (.*)$/.exec(line);
        if (m) out.add(slug(m[1]!));
      }
      return out;
    };
    const files = ["README.md", ...readdirSync(join(ROOT, "docs")).filter((f) => f.endsWith(".md")).map((f) => `docs/${f}`)];
    const broken: string[] = [];
    for (const file of files) {
      const dir = file.includes("/") ? file.slice(0, file.lastIndexOf("/")) : "";
      for (const [, target] of read(file).matchAll(/\]\(([^)\s]+)\)/g)) {
        if (/^[a-z]+:/.test(target!)) continue; // https:, mailto:
        const [path, hash] = target!.split("#") as [string, string | undefined];
        const resolved = path ? join(dir, path).replace(/^\.\//, "") : file;
        if (!existsSync(join(ROOT, resolved))) broken.push(`${file}: ${target} (no file ${resolved})`);
        else if (hash && resolved.endsWith(".md") && !anchors(resolved).has(hash)) broken.push(`${file}: ${target} (no heading #${hash} in ${resolved})`);
      }
    }
    expect(broken).toEqual([]);
  });
});

describe("the Quick start", () => {
  test("creates the chart's default Apps, each with the permission its table gives", () => {
    const table = [...quickStart.matchAll(/^\| `(\w+)` \| [^|]+ \| ([^|]+) \|$/gm)].map((m) => ({ app: m[1]!, permission: m[2]!.trim() }));
    expect(table.map((r) => r.app).sort()).toEqual([...defaultApps].sort());
    const loop = /^for app in ((?:\w+:\w+=\w+ ?)+); do$/m.exec(shell);
    expect(loop).not.toBeNull();
    const registrations = loop![1]!.trim().split(" ").map((entry) => entry.split(/[:=]/) as [string, string, string]);
    expect(registrations.map(([app]) => app).sort()).toEqual([...defaultApps].sort());
    const label: Record<string, string> = { contents: "Contents", pull_requests: "Pull requests", issues: "Issues", checks: "Checks", security_events: "`security_events`" };
    for (const [app, permission, level] of registrations) {
      const row = table.find((r) => r.app === app)!;
      expect(row.permission).toContain(label[permission]!);
      expect(row.permission).toEndWith(level === "write" ? "read and write" : "read");
    }
    // The registration URL asks for no webhook and a private App.
    expect(shell).toContain("public=false&webhook_active=false");
    // Every store variant loops over the same Apps.
    expect(appsLines.length).toBe(4);
    for (const apps of appsLines) expect(apps).toEqual(defaultApps);
  });

  test("has a path for one App: rex alone, with its secret, its ExternalSecret and test-github-app for it only", async () => {
    const aws = section(quickStart, "### 2. Store the credentials, and let only External Secrets read them").split("<details>")[0]!;
    const heredoc = /cat > ghapp-tokens\.values\.yaml <<EOF\n([\s\S]*?)\nEOF/.exec(aws)![1]!.replace(/\$REGION/g, "us-east-1").replace(/\$ACCOUNT/g, "123456789012");
    const oneApp = /^echo '([^']+)' >> ~\/github-apps\/ghapp-tokens\.values\.yaml$/m.exec(shell);
    expect(oneApp).not.toBeNull();
    expect(quickStart).toContain("set `APPS=rex` where the commands list all five");
    const t = tempDir("ghapp-readme-");
    try {
      // The file as step 2 writes it, then the line the one-App path appends.
      writeFileSync(join(t.dir, "values.yaml"), `${heredoc}\n${oneApp![1]}\n`);
      const objects = await renderChart([join(t.dir, "values.yaml")], ["image.repository=registry.example/ghapp-token"]);
      const created = /aws secretsmanager create-secret --region "\$REGION" --name "([^"]+)"/.exec(aws)![1]!;
      expect(remoteRefs(objects)).toEqual(expand(`${created}#$key`, ["rex"], ["appId", "privateKey"]));
      const test = objects.find((o) => o.kind === "WorkflowTemplate" && o.metadata?.name === "test-github-app") as Any;
      expect(test.spec.arguments.parameters[0]).toEqual({ name: "github-app", value: "rex", enum: ["rex"] });
      // Step 6's command runs as shown: it names rex.
      expect(shellLines).toContain("argo submit -n workflows --from workflowtemplate/test-github-app -p github-app=rex --watch");
    } finally {
      t.cleanup();
    }
  });

  test("AWS: creates one JSON secret per App with the fields the chart reads, the policy reads exactly those, and IRSA trusts the chart's ServiceAccount", async () => {
    const aws = section(quickStart, "### 2. Store the credentials, and let only External Secrets read them").split("<details>")[0]!;
    const vars = Object.fromEntries([...aws.matchAll(/(\w+)=([\w.-]+)/g)].filter(([, k]) => ["REGION", "ACCOUNT"].includes(k!)).map((m) => [m[1]!, m[2]!]));
    const heredoc = /cat > ghapp-tokens\.values\.yaml <<EOF\n([\s\S]*?)\nEOF/.exec(aws)![1]!.replace(/\$(REGION|ACCOUNT)/g, (_, v: string) => vars[v]!);
    const t = tempDir("ghapp-readme-");
    try {
      writeFileSync(join(t.dir, "values.yaml"), heredoc);
      const objects = await renderChart([join(t.dir, "values.yaml")], ["image.repository=registry.example/ghapp-token"]);
      // One JSON secret per App, its fields named by the jq object it is made from.
      const created = [...aws.matchAll(/aws secretsmanager create-secret --region "\$REGION" --name "([^"]+)"/g)].map((m) => m[1]!);
      expect(created).toHaveLength(1);
      const fields = /'\{\$(\w+), \$(\w+)\}'\)"/.exec(aws)!.slice(1);
      expect(aws).toContain(`--rawfile ${fields[0]} "$app.app-id" --rawfile ${fields[1]} "$app.pem"`);
      expect(expand(`${created[0]}#$key`, defaultApps, fields)).toEqual(remoteRefs(objects));
      // The policy: one ARN per secret, with Secrets Manager's 6-character suffix.
      const arn = /--arg arn "arn:aws:secretsmanager:\$REGION:\$ACCOUNT:secret:([^"]+)"/.exec(aws)![1]!;
      expect(aws).toContain(`[($apps | split(" ")[]) as $app | "\\($arn)/\\($app)-??????"]`);
      expect(expand(`${arn}/$app`, defaultApps, [""])).toEqual(expand(created[0]!, defaultApps, [""]));
      // The role carries that policy, trusts only workflows/<the store's ServiceAccount>, and is the one the ServiceAccount names.
      const sa = storeServiceAccount(objects)!;
      expect(aws).toContain(`"system:serviceaccount:workflows:${sa}"`);
      expect(renderedServiceAccount(objects, sa).metadata.annotations["eks.amazonaws.com/role-arn"]).toBe(`arn:aws:iam::${vars.ACCOUNT}:role/github-apps-reader`);
      expect(aws).toContain("aws iam create-role --role-name github-apps-reader");
      const store = objects.find((o) => o.kind === "SecretStore") as Any;
      expect(store.spec.provider.aws.region).toBe(vars.REGION);
    } finally {
      t.cleanup();
    }
  });

  /** A variant in a <details> block, rendered with the values example it copies. */
  function variant(summary: string) {
    const block = quickStart.split("<details>").find((b) => b.includes(`<b>${summary}</b>`));
    if (!block) throw new Error(`no <details> block for ${summary}`);
    const example = /cp "\$REPO\/(values-examples\/[\w.-]+)" ghapp-tokens\.values\.yaml/.exec(block)![1]!;
    return { block: block.replace(/\s*\\\n\s*/g, " "), example, render: () => renderChart([join(ROOT, example)], ["image.repository=registry.example/ghapp-token"]) };
  }

  test("Vault: writes the paths and properties the chart reads, the policy reads exactly those, the role binds the chart's ServiceAccount", async () => {
    const v = variant("HashiCorp Vault");
    const objects = await v.render();
    const store = objects.find((o) => o.kind === "SecretStore") as Any;
    const mount = store.spec.provider.vault.path as string;
    const put = /vault kv put "([^"]+)" appId=@"\$app\.app-id" privateKey=@"\$app\.pem"/.exec(v.block)!;
    expect(put[1]!.startsWith(`${mount}/`)).toBe(true);
    const path = put[1]!.slice(mount.length + 1);
    expect(expand(`${path}#$key`, defaultApps, ["appId", "privateKey"])).toEqual(remoteRefs(objects).map((r) => r.replace(new RegExp(`^${mount}/`), "")));
    // KV v2 serves <mount>/<path> under <mount>/data/<path>.
    const policyPath = /path "([^"]+)%s"/.exec(v.block)![1]!;
    expect(`${policyPath}$app`).toBe(`${mount}/data/${path}`);
    const sa = storeServiceAccount(objects)!;
    expect(v.block).toContain(`bound_service_account_names=${sa} bound_service_account_namespaces=workflows`);
    expect(v.block).toContain(`auth/kubernetes/role/${store.spec.provider.vault.auth.kubernetes.role} `);
  });

  test("GCP: creates exactly the secrets the chart reads, grants read on each of them only, and Workload Identity trusts the chart's ServiceAccount", async () => {
    const v = variant("GCP Secret Manager");
    const objects = await v.render();
    const created = [...v.block.matchAll(/gcloud secrets create "([^"]+)"/g)].map((m) => m[1]!);
    const createdKeys = created.flatMap((c) => expand(c, defaultApps, [""])).sort();
    expect(createdKeys).toEqual(remoteRefs(objects));
    const bound = /gcloud secrets add-iam-policy-binding "([^"]+)"/.exec(v.block)![1]!;
    expect(v.block).toContain("for key in appId privateKey; do");
    expect(expand(bound, defaultApps, ["appId", "privateKey"])).toEqual(createdKeys);
    const sa = storeServiceAccount(objects)!;
    expect(v.block).toContain(`svc.id.goog[workflows/${sa}]`);
    expect(renderedServiceAccount(objects, sa).metadata.annotations["iam.gke.io/gcp-service-account"]).toMatch(/^github-apps-reader@/);
  });

  test("Azure: creates exactly the secrets the chart reads, assigns read on each of them only, and federates the chart's ServiceAccount", async () => {
    const v = variant("Azure Key Vault");
    const objects = await v.render();
    const created = [...v.block.matchAll(/az keyvault secret set --vault-name "\$VAULT" --name "([^"]+)"/g)].map((m) => m[1]!);
    const createdKeys = created.flatMap((c) => expand(c, defaultApps, [""])).sort();
    expect(createdKeys).toEqual(remoteRefs(objects));
    const scope = /--scope "\$VAULT_ID\/secrets\/([^"]+)"/.exec(v.block)![1]!;
    expect(expand(scope, defaultApps, ["appId", "privateKey"])).toEqual(createdKeys);
    const sa = storeServiceAccount(objects)!;
    expect(v.block).toContain(`--subject system:serviceaccount:workflows:${sa}`);
    expect(renderedServiceAccount(objects, sa).metadata.annotations).toHaveProperty(["azure.workload.identity/client-id"]);
  });

  test("installs the chart and submits a template, parameters and app the chart renders, and shows what that template prints", async () => {
    expect(shellLines).toContain("helm install ghapp-tokens charts/ghapp-tokens -n workflows --create-namespace -f ~/github-apps/ghapp-tokens.values.yaml --set image.repository=\"$REGISTRY/ghapp-token\"");
    expect(chartValues.image).toHaveProperty("repository");
    const submit = shellLines.find((l) => l.startsWith("argo submit"))!;
    const m = /^argo submit -n (\S+) --from workflowtemplate\/(\S+) ((?:-p \S+=\S+ )+)--watch$/.exec(submit)!;
    expect(m).not.toBeNull();
    expect(m[1]).toBe("workflows");
    const objects = await renderChart();
    const template = objects.find((o) => o.kind === "WorkflowTemplate" && o.metadata?.name === m[2]) as Any;
    expect(template).toBeDefined();
    const params = template.spec.arguments.parameters as Array<{ name: string; enum?: string[] }>;
    for (const [, name, value] of m[3]!.matchAll(/-p (\S+)=(\S+)/g)) {
      const param = params.find((p) => p.name === name);
      expect(param).toBeDefined();
      if (param!.enum) expect(param!.enum).toContain(value!);
    }
    // "Add -p owner=LOGIN": that parameter exists too.
    expect(quickStart).toContain("`-p owner=LOGIN`");
    expect(params.map((p) => p.name)).toContain("owner");
    // The output shown is what the template's step is called and prints.
    const step = template.spec.templates[0].steps[0][0];
    expect(quickStart).toMatch(new RegExp(`└───✔ ${step.name} +${step.templateRef.name}/${step.templateRef.template} `));
    const script = (step.arguments.parameters as Array<{ name: string; value: string }>).find((p) => p.name === "script")!.value;
    const shown = /: (token works: the installation grants access to) \d+ repositories:/.exec(quickStart)!;
    expect(script).toContain(shown[1]!);
    expect(quickStart).toContain(`ServiceAccount:      ${template.spec.serviceAccountName}`);
  });
});

describe("the kind job (ci/kind-e2e.sh)", () => {
  const script = read("ci/kind-e2e.sh");
  const pins = Object.fromEntries([...script.matchAll(/^([A-Z_]+)=([\w.-]+)\s/gm)].map((m) => [m[1]!, m[2]!]));
  const defaults = Object.fromEntries([...script.matchAll(/^([A-Z_]+)=\$\{\1:-([\w.-]+)\}$/gm)].map((m) => [m[1]!, m[2]!]));
  /** The script's text with its pins and defaults substituted, quotes and continuations removed. */
  const resolved = script
    .replace(/\s*\\\n\s*/g, " ")
    .replace(/"?\$\{?([A-Z_]+)\}?"?/g, (all, v: string) => pins[v] ?? defaults[v] ?? all)
    .replaceAll('"', "");

  test("runs the Quick start's step 3 command for command, at the versions the README names", () => {
    const step3 = section(quickStart, "### 3. Install External Secrets (and Argo Workflows, if the cluster has none)");
    const commands = [...step3.matchAll(/```sh\n([\s\S]*?)```/g)].flatMap((m) => m[1]!.trim().split("\n"));
    expect(commands).toHaveLength(4);
    for (const command of commands) expect(resolved).toContain(command);
  });

  test("installs the chart and submits test-github-app as the Quick start's steps 5 and 6 do, in the same namespace", () => {
    expect(defaults.NAMESPACE).toBe("workflows");
    expect(pins.RELEASE).toBe("ghapp-tokens");
    expect(pins.APP).toBe("rex");
    expect(resolved).toMatch(/CHART_ARGS=\(\s+ghapp-tokens charts\/ghapp-tokens -n workflows /);
    expect(resolved).toContain("helm install ${CHART_ARGS[@]} --create-namespace");
    expect(resolved).toContain("kubectl -n workflows wait externalsecret --all --for=condition=Ready --timeout=2m");
    expect(shellLines).toContain("kubectl -n workflows wait externalsecret --all --for=condition=Ready --timeout=2m");
    expect(resolved).toMatch(/argo submit -n workflows --from workflowtemplate\/test-github-app -p github-app=rex \$\{OWNER:\+-p owner=\$OWNER\} --watch/);
    expect(resolved).toContain("argo logs -n workflows @latest");
    expect(shellLines).toContain("argo logs -n workflows @latest");
  });

  test("builds the argo CLI it submits with in the CI job", () => {
    const ci = parseYamlDoc(read(".github/workflows/ci.yaml")) as Any;
    const runs = (ci.jobs.kind.steps as Array<{ run?: string }>).map((s) => s.run ?? "").join("\n");
    expect(runs).toContain("bash ci/argo-cli.sh");
    expect(runs).toContain("bash ci/kind-e2e.sh");
  });
});

describe("values-examples/", () => {
  const dir = join(ROOT, "values-examples");
  const files = readdirSync(dir).sort();

  test("holds values files, Argo workflows and Flux objects, each named for what it is", () => {
    expect(files.filter((f) => !/\.(values|workflow|flux)\.yaml$/.test(f))).toEqual([]);
    for (const f of files.filter((f) => !f.endsWith(".values.yaml"))) {
      const docs = parseAllDocuments(readFileSync(join(dir, f), "utf8")).map((d) => d.toJS() as Any);
      for (const doc of docs) expect({ file: f, apiVersion: typeof doc.apiVersion, kind: typeof doc.kind }).toEqual({ file: f, apiVersion: "string", kind: "string" });
    }
  });

  test("every values file belongs to the main chart or names the chart it is for, and sets only that chart's values", () => {
    for (const f of files.filter((f) => f.endsWith(".values.yaml"))) {
      const text = readFileSync(join(dir, f), "utf8");
      const header = text.split("\n").filter((l) => l.startsWith("#")).join("\n");
      const named = [...header.matchAll(/\bcharts\/([\w-]+)/g)].map((m) => m[1]!).filter((c) => c !== "ghapp-tokens");
      expect({ file: f, names: [...new Set(named)].length <= 1 }).toEqual({ file: f, names: true });
      const chart = named[0] ?? "ghapp-tokens";
      // The chart the tests and ci/chart-checks.sh lint it with is the one it names.
      expect({ file: f, chart: chartFor(join(dir, f)) }).toEqual({ file: f, chart: join(ROOT, "charts", chart) });
      const keys = Object.keys(parseYamlDoc(readFileSync(join(ROOT, "charts", chart, "values.yaml"), "utf8")) as object);
      const unknown = Object.keys(parseYamlDoc(text) as object).filter((k) => !keys.includes(k));
      expect({ file: f, unknown }).toEqual({ file: f, unknown: [] });
    }
  });
});
