// Figures and names the docs quote from somewhere else: each is compared with its source, so that
// the source changing makes this fail instead of leaving the docs wrong (issue 18 found the chart's
// memory comment at 55 MiB against a measured 37, and the metadata row missing two keys).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parse as parseYaml } from "yaml";
import { OPTIONS } from "../../generator/src/token/options.ts";
import { runGenerator, tempDir } from "../helpers/generator.ts";
import { startSimulator, type Simulator } from "../simulator/simulator.ts";

const ROOT = join(import.meta.dir, "../..");
const read = (path: string) => readFileSync(join(ROOT, path), "utf8");
const readme = read("README.md");
const valuesText = read("charts/ghapp-tokens/values.yaml");
const values = parseYaml(valuesText) as { externalSecrets: { remoteSecretTemplate: string } };

/** `text` contains `quote` (on failure, shows the quote missing rather than the whole README). */
const expectQuoted = (text: string, quote: string) => expect(text.includes(quote) ? quote : `missing: ${quote}`).toBe(quote);

/** The README table row whose first cell is `first`, as its cells. */
function row(first: string): string[] {
  const line = readme.split("\n").find((l) => l.startsWith(`| ${first} |`));
  if (!line) throw new Error(`README has no table row "${first}"`);
  return line.split(" | ").map((c) => c.replace(/^\| |\s*\|$/g, ""));
}

describe("figures the docs quote agree with their source", () => {
  test("the chart's generator.resources comment quotes the README's Performance table (mint peak, idle sidecar)", () => {
    const mint = Math.round(Number(/^([\d.]+) MiB/.exec(row("mint peak resident memory")[1]!)![1]));
    const sidecar = Math.round(Number(/^\*\*([\d.]+) and/.exec(row("refresh sidecar idle")[1]!)![1]));
    const comment = /# -- Resources of the generator container[\s\S]*?\n {2}resources:/.exec(valuesText)![0].replace(/\n\s*# ?/g, " ");
    expect(comment).toContain(`a mint peaks at about ${mint} MiB resident`);
    expect(comment).toContain(`the idle sidecar holds about ${sidecar} MiB`);
  });

  test("the tool build time the README quotes is ci/tools.sh's own estimate, in total and for Helm", () => {
    const tools = read("ci/tools.sh");
    const minutes = Object.fromEntries([...tools.matchAll(/^tool ([\w-]+) ("[^"]*"|\S+) (\d+) /gm)].map((m) => [m[1]!, Number(m[3])]));
    const total = Object.values(minutes).reduce((a, b) => a + b, 0);
    expect(Object.keys(minutes)).toHaveLength(13);
    expectQuoted(readme, `13 Go and Python builds into \`.tools/\`, about ${total} minutes by \`ci/tools.sh\`'s own estimate`);
    expectQuoted(readme, `(\`bash ci/tools.sh helm3\`, from Go's module proxy: about ${minutes.helm3} minutes the first time`);
  });

  test("the Debian packages the README lists are the ones ci/install-system-deps.sh installs", () => {
    const script = read("ci/install-system-deps.sh");
    const installed = [...script.matchAll(/need\+=\(([\w-]+)\)/g)].map((m) => m[1]!);
    expect(installed.length).toBeGreaterThan(5);
    const listed = /the Debian packages ([\w, -]+) \(`ci\/install-system-deps\.sh`/.exec(row("installs")[1]!)![1]!.split(", ");
    expect(listed).toEqual(installed);
    // docs/maintainers.md names them too, each in backticks.
    const maintainers = /the Debian packages ((?:`[\w-]+`(?:, | and )?)+) \(`ci\/install-system-deps\.sh`/.exec(read("docs/maintainers.md"))![1]!;
    expect([...maintainers.matchAll(/`([\w-]+)`/g)].map((m) => m[1]!)).toEqual(installed);
  });

  test("the Quick start stores each App's JSON secret where the chart's perApp default looks", () => {
    const quickStart = readme.slice(readme.indexOf("## Quick start"), readme.indexOf("## Why this rather"));
    const set = /remoteSecretTemplate: "([^"]+)"/.exec(quickStart)![1];
    expect(set).toBe(values.externalSecrets.remoteSecretTemplate);
    expectQuoted(quickStart, `--name "${set!.replace("{app}", "$app")}"`);
  });
});

describe("the metadata file's keys, as ghapp-token writes them", () => {
  let sim: Simulator;
  const tmp = tempDir();
  let keys: string[];
  beforeAll(async () => {
    sim = await startSimulator();
    writeFileSync(join(tmp.dir, "key.pem"), sim.app.privateKeyPem, { mode: 0o600 });
    mkdirSync(join(tmp.dir, "out"));
    const r = await runGenerator([], { APP_ID: String(sim.app.id), PRIVATE_KEY_FILE: join(tmp.dir, "key.pem"), GITHUB_API_URL: sim.url, OUTPUT_PATH: join(tmp.dir, "out/token"), INSTALLATION_ID: "1001" });
    expect(r.code).toBe(0);
    keys = Object.keys(JSON.parse(readFileSync(join(tmp.dir, "out/token.json"), "utf8")));
  });
  afterAll(async () => {
    await sim.close();
    tmp.cleanup();
  });

  test("are exactly the ones the README's METADATA_PATH row names", () => {
    const cell = row("`METADATA_PATH`")[1]!;
    const named = [.../JSON beside the token: (.*?) \(never the token\)/.exec(cell)![1]!.matchAll(/`(\w+)`/g)].map((m) => m[1]!);
    expect(named).toEqual(keys);
  });

  test("are exactly the ones --help names for --metadata-path", () => {
    const description = OPTIONS.find((o) => o.flag === "metadata-path")!.description;
    const named = /\(([\w, ]+); never the token\)/.exec(description)![1]!.split(", ");
    expect(named).toEqual(keys);
  });
});

describe("images the examples run", () => {
  test("every gh image in values-examples/ and the example chart is the project's own gh image, at the chart's version", () => {
    const appVersion = /^appVersion: "?([^"\s]+)"?$/m.exec(read("charts/ghapp-tokens/Chart.yaml"))![1]!;
    const files = ["values-examples/own-image.workflow.yaml", "values-examples/own-template.workflow.yaml", "values-examples/dag.workflow.yaml", "values-examples/sidecar-library.values.yaml", "charts/ghapp-token-sidecar-example/values.yaml"];
    const images = files.flatMap((f) => [...read(f).matchAll(/\b([a-z0-9.-]+\.[a-z]{2,}\/[\w./-]+(?::[\w.-]+)?(?:@sha256:[a-f0-9]{64})?)/g)].map((m) => `${f}: ${m[1]}`));
    const gh = images.filter((i) => /\/[\w.-]*gh(?:[:@]|$)/.test(i.split(": ")[1]!) || /-gh[:@]/.test(i));
    expect(gh.length).toBeGreaterThanOrEqual(files.length);
    expect(gh.filter((i) => !i.endsWith(`ghcr.io/ghapp-tokens/ghapp-token-gh:${appVersion}`))).toEqual([]);
  });
});
