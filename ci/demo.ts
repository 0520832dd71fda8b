// The demo (`npm run demo`): the real binary against the simulator, narrated. Every step prints
// the command it runs with its variables, the exit code and the generator's own JSON log lines
// (stderr, verbatim); then what the chart renders for one app (with the pinned Helm, which it builds
// with ci/tools.sh when none is installed: a fresh machine has none). Everything runs on 127.0.0.1 and
// in a temporary folder that is removed at the end; the App key is generated for this run only.
// Bold headings only at a terminal: with stdout a pipe or a file (or NO_COLOR set) it writes no
// ANSI codes. Exits 1 when a step did not behave as described, so a broken demo fails loudly.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative, resolve } from "node:path";
import { parseAllDocuments } from "yaml";
import { freePort } from "../tests/helpers/run.ts";
import { generateAppKey, startSimulator, type Simulator } from "../tests/simulator/simulator.ts";

const ROOT = resolve(import.meta.dir, "..");
const BINARY = join(ROOT, "dist/ghapp-token");
const work = mkdtempSync(join(tmpdir(), "ghapp-demo-"));

// https://no-color.org: NO_COLOR set to anything non-empty turns styling off even at a terminal.
const styled = process.stdout.isTTY === true && !process.env.NO_COLOR && process.env.TERM !== "dumb";
const sgr = (code: string) => (s: string) => (styled ? `\x1b[${code}m${s}\x1b[0m` : s);
const bold = sgr("1");
const dim = sgr("2");
const say = (s = "") => console.log(s);
const step = (s: string) => say(`\n${bold(`▶ ${s}`)}`);
const mask = (t: string) => `${t.slice(0, 4)}${"*".repeat(Math.max(0, Math.min(t.length, 40) - 4))}${t.length > 40 ? "…" : ""}`;
const shown = (p: string) => (p.startsWith(work) ? `$DEMO${p.slice(work.length)}` : p);

let failures = 0;
function expect(what: string, ok: boolean) {
  if (!ok) {
    failures++;
    say(`  !! not as described: ${what}`);
  }
}

/** The command line a person would type: the variables, then the binary and its arguments. */
function commandLine(env: Record<string, string>, args: string[]) {
  // $DEMO stands for the temporary folder: left unquoted so that it reads as the variable it is.
  const quote = (v: string) => (/^[\w@%+=:,./$-]*$/.test(v) ? v : `'${v.replaceAll("'", `'\\''`)}'`);
  const vars = Object.entries(env).map(([k, v]) => `${k}=${quote(shown(v))}`);
  return `$ ${[...vars, [relative(ROOT, BINARY), ...args].join(" ")].join(" \\\n    ")}`;
}

async function ghappToken(env: Record<string, string>, args: string[] = ["mint"]) {
  say(dim(commandLine(env, args)));
  const proc = Bun.spawn([BINARY, ...args], { env, stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  say(`  exit code ${code}`);
  showLogs(stderr);
  return { code, stdout, stderr };
}

/** The generator's log lines exactly as it wrote them: one JSON object per line on stderr. */
function showLogs(stderr: string) {
  const lines = stderr.split("\n").filter((l) => l.trim());
  if (lines.length) say(`  stderr (${lines.length} JSON log line${lines.length === 1 ? "" : "s"}):`);
  for (const line of lines) say(`    ${line}`);
}

/** What tests/simulator/cli.ts writes into --state-dir, for parts of the demo that run as their own process. */
function writeSimulatorState(sim: Simulator, dir: string) {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "app.pem"), sim.app.privateKeyPem, { mode: 0o600 });
  const state = { url: sim.url, origin: sim.origin, appId: sim.app.id, clientId: sim.app.clientId, installations: sim.installations.map((i) => ({ id: i.id, login: i.account.login })), pid: process.pid, port: sim.port };
  writeFileSync(join(dir, "simulator.json"), `${JSON.stringify(state, null, 2)}\n`);
  return dir;
}

/** Where ci/tools.sh builds the pinned tools: .tools/, or GHAPP_TOOLS_DIR (the demo's test). */
const TOOLS = process.env.GHAPP_TOOLS_DIR ? resolve(process.env.GHAPP_TOOLS_DIR) : join(ROOT, ".tools");

/** The pinned Helm in the tools folder, else a Helm on PATH. */
function findHelm(): string | undefined {
  const pinned = join(TOOLS, "bin/helm3");
  if (existsSync(pinned)) return pinned;
  for (const name of ["helm", "helm3", "helm4"]) {
    const onPath = Bun.which(name);
    if (onPath) return onPath;
  }
  return undefined;
}

/**
 * No Helm (a fresh machine): build the pinned one, as `npm test` would, with ci/tools.sh, which
 * says how long it takes (from Go's module proxy; about 2 minutes with Go's caches cold, seconds
 * warm). Its output is shown as it comes. Needs Go; without it, say so and what to do.
 */
async function obtainHelm(): Promise<string | undefined> {
  const tools = ["bash", "ci/tools.sh", "helm3"];
  if (!Bun.which("go")) {
    say("  Helm is not installed, and Go, which builds the pinned Helm, is not either: install Go (https://go.dev/dl/)");
    say(`  and run npm run demo again (it runs ${tools.join(" ")}), or install Helm 3 or 4; this step is skipped.`);
    return undefined;
  }
  const where = TOOLS.startsWith(`${ROOT}/`) ? relative(ROOT, TOOLS) : TOOLS;
  say(`  Helm is not installed: building the pinned Helm into ${where}/ first`);
  say(dim(`$ ${tools.join(" ")}`));
  const proc = Bun.spawn(tools, { cwd: ROOT, env: { ...process.env, GHAPP_TOOLS_DIR: TOOLS }, stdout: "pipe", stderr: "pipe" });
  const indent = async (from: ReadableStream<Uint8Array>) => {
    let rest = "";
    for await (const chunk of from) {
      const lines = (rest + new TextDecoder().decode(chunk)).split("\n");
      rest = lines.pop() ?? "";
      for (const line of lines) say(`  ${line}`);
    }
    if (rest) say(`  ${rest}`);
  };
  await Promise.all([indent(proc.stdout), indent(proc.stderr)]);
  const code = await proc.exited;
  expect(`${tools.join(" ")} builds Helm (exit ${code})`, code === 0);
  return code === 0 ? findHelm() : undefined;
}

async function showChart() {
  step("What the chart renders for one app (helm template, nothing is applied)");
  const helm = findHelm() ?? (await obtainHelm());
  const args = ["template", "ghapp-tokens", "charts/ghapp-tokens", "--namespace", "workflows", "--set", "apps[0].name=rex"];
  const typed = `helm ${args.map((a) => (a.includes("[") ? `'${a}'` : a)).join(" ")}`;
  if (!helm) {
    say(`  then: ${typed}`);
    return;
  }
  say(dim(`$ ${typed}`));
  const proc = Bun.spawn([helm, ...args], { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  expect(`helm template exits 0 (${err.trim()})`, code === 0);
  if (code !== 0) return;
  const docs = parseAllDocuments(out)
    .map((d) => d.toJS() as { kind?: string; metadata?: { name?: string }; spec?: Record<string, unknown> } | null)
    .filter((d): d is NonNullable<typeof d> => !!d?.kind);
  say(`  ${docs.length} objects: ${docs.map((d) => `${d.kind}/${d.metadata?.name}`).join(", ")}`);
  const sections = out.split(/^---$/m);
  const es = sections.find((x) => /^kind: ExternalSecret$/m.test(x) && /name: "?github-app-rex"?$/m.test(x));
  expect("the chart renders the ExternalSecret github-app-rex", !!es);
  if (es) {
    say("\n  ExternalSecret github-app-rex (the app's credentials, synced from the store into Secret github-app-rex):");
    for (const line of es.trim().split("\n").filter((l) => !l.startsWith("# Source"))) say(`    ${line}`);
  }
  type Rule = { apiGroups?: string[]; resources?: string[]; verbs?: string[] };
  for (const role of docs.filter((d) => d.kind === "Role" || d.kind === "ClusterRole")) {
    const rules = ((role as { rules?: Rule[] }).rules ?? []).map((r) => `${(r.resources ?? []).join(",")} ${(r.verbs ?? []).join(",")}`);
    say(`\n  ${role.kind} ${role.metadata?.name}: ${rules.join("; ") || "no rules"}`);
  }
  type Mount = { name: string };
  type Container = { name: string; volumeMounts?: Mount[]; env?: Array<{ name: string }> };
  type Template = { name: string; automountServiceAccountToken?: boolean; executor?: { serviceAccountName?: string }; initContainers?: Container[]; container?: Container; volumes?: Array<{ name: string; secret?: { secretName?: string } }> };
  const wt = docs.find((d) => d.kind === "WorkflowTemplate" && d.metadata?.name === "github-app-token");
  const run = (wt?.spec?.templates as Template[] | undefined)?.find((t) => t.name === "run");
  const init = run?.initContainers?.[0];
  expect("WorkflowTemplate github-app-token has a run template with an initContainer", !!init);
  if (run && init) {
    const secretVolumes = new Set((run.volumes ?? []).filter((v) => v.secret).map((v) => v.name));
    const mounts = (c?: Container) => (c?.volumeMounts ?? []).map((m) => (secretVolumes.has(m.name) ? `${m.name} (the Secret)` : m.name)).join(", ");
    say(`\n  WorkflowTemplate github-app-token, template run:`);
    say(`    initContainer ${init.name}: mounts ${mounts(init)}; gets ${(init.env ?? []).map((e) => e.name).join(", ")}`);
    say(`    main container: mounts ${mounts(run.container)}`);
    say(`    Kubernetes API token in the pod: ${run.automountServiceAccountToken === false ? "none (automountServiceAccountToken: false)" : "mounted"}${run.executor?.serviceAccountName ? `; Argo's executor runs as ${run.executor.serviceAccountName}` : ""}`);
  }
}

const sim = await startSimulator({ tokenTtlSeconds: 3600 });
try {
  const keyDir = join(work, "github-app"); // what the secret volume holds
  const tokenDir = join(work, "github"); // the in-memory emptyDir
  mkdirSync(keyDir);
  mkdirSync(tokenDir);
  writeFileSync(join(keyDir, "privateKey"), sim.app.privateKeyPem, { mode: 0o600 });
  const env = { APP_ID: String(sim.app.id), PRIVATE_KEY_FILE: join(keyDir, "privateKey"), GITHUB_API_URL: sim.url, OUTPUT_PATH: join(tokenDir, "token") };

  step(`GitHub API simulator on ${sim.url}: App ${sim.app.id}, installed on ${sim.installations.map((i) => i.account.login).join(" and ")}`);
  say(`  $DEMO is ${work} (removed at the end); the App's key is in $DEMO/github-app/privateKey, as the chart mounts it`);

  step("Mint a token for acme-org, scoped to one repository and read access (as the initContainer does)");
  let r = await ghappToken({ ...env, OWNER: "acme-org", REPOSITORIES: "api", PERMISSIONS: "contents=read,metadata=read" });
  expect("the mint exits 0", r.code === 0);
  const token = readFileSync(env.OUTPUT_PATH, "utf8");
  const st = statSync(env.OUTPUT_PATH);
  say(`  ${shown(env.OUTPUT_PATH)}: ${mask(token)} (${token.length} bytes, no newline, mode ${(st.mode & 0o777).toString(8).padStart(4, "0")})`);
  say(`  ${shown(env.OUTPUT_PATH)}.json: ${readFileSync(`${env.OUTPUT_PATH}.json`, "utf8").trim().replace(/\n\s*/g, " ")}`);

  step("What GitHub saw");
  for (const q of sim.requests) say(`  ${q.method} ${q.path} → ${q.status}   (${q.headers["user-agent"]}, API ${q.headers["x-github-api-version"]})`);

  step("Use the token, as a workflow step would");
  say(dim(`$ curl -H "authorization: token $(cat ${shown(env.OUTPUT_PATH)})" ${sim.url}/installation/repositories`));
  const repos = (await (await fetch(`${sim.url}/installation/repositories`, { headers: { authorization: `token ${token}` } })).json()) as { repositories: Array<{ full_name: string }> };
  say(`  → ${repos.repositories.map((x) => x.full_name).join(", ")}`);

  step("Refresh: the sidecar (ghapp-token refresh) with 4-second tokens, replacing the file at 80% of each lifetime");
  sim.setTokenTtl(4);
  const port = freePort();
  const sidecarEnv = { ...env, OWNER: "acme-org", LISTEN_ADDR: `127.0.0.1:${port}`, REVOKE_ON_EXIT: "true" };
  say(dim(commandLine(sidecarEnv, ["refresh"])));
  const sidecar = Bun.spawn([BINARY, "refresh"], { env: sidecarEnv, stdout: "ignore", stderr: "pipe" });
  const sidecarLog = new Response(sidecar.stderr).text();
  const seen: string[] = [];
  for (let i = 0; i < 70; i++) {
    await Bun.sleep(100);
    try {
      const t = readFileSync(env.OUTPUT_PATH, "utf8");
      if (seen.at(-1) !== t) {
        seen.push(t);
        say(`  t+${(i / 10).toFixed(1)} s  new token ${mask(t)}  inode ${statSync(env.OUTPUT_PATH).ino}`);
      }
    } catch {
      expect("the token file is always there while the sidecar replaces it", false);
    }
  }
  expect("the sidecar replaced the token at least twice in 7 s", seen.length >= 3);
  const health = await fetch(`http://127.0.0.1:${port}/healthz`);
  say(dim(`$ curl http://127.0.0.1:${port}/healthz`));
  say(`  → ${health.status} ${await health.text()}`);
  const metrics = (await (await fetch(`http://127.0.0.1:${port}/metrics`)).text()).split("\n").filter((l) => /^ghapp_token_(refresh_total|expiry)/.test(l));
  say(dim(`$ curl http://127.0.0.1:${port}/metrics | grep -E '^ghapp_token_(refresh_total|expiry)'`));
  for (const m of metrics) say(`  ${m}`);
  sidecar.kill("SIGTERM");
  const sidecarCode = await sidecar.exited;
  const revoked = sim.tokens.get(seen.at(-1)!)?.revoked === true;
  say(`  SIGTERM → exit ${sidecarCode}; last token revoked on GitHub: ${revoked}`);
  expect("the sidecar exits 0 on SIGTERM and revokes its token", sidecarCode === 0 && revoked);
  showLogs(await sidecarLog);
  sim.setTokenTtl(3600);

  step("A wrong key: GitHub rejects it, exit 3 at once, no retry, nothing written");
  writeFileSync(join(keyDir, "other"), generateAppKey().privateKeyPem, { mode: 0o600 });
  r = await ghappToken({ ...env, PRIVATE_KEY_FILE: join(keyDir, "other"), OWNER: "acme-org", OUTPUT_PATH: join(tokenDir, "other") });
  expect("a wrong key exits 3 and writes nothing", r.code === 3 && !existsSync(join(tokenDir, "other")));

  step("Not a key at all: exit 2 before any request, without echoing the input");
  const before = sim.requests.length;
  r = await ghappToken({ ...env, PRIVATE_KEY_FILE: "", PRIVATE_KEY: "hunter2-is-not-a-key", OWNER: "acme-org" });
  expect("a non-key exits 2, sends nothing and never repeats it", r.code === 2 && sim.requests.length === before && !r.stderr.includes("hunter2"));

  step("Several installations and no selector: exit 2, listing how to choose");
  r = await ghappToken(env);
  expect("an ambiguous installation exits 2", r.code === 2);

  step("GitHub down: 5 attempts with back-off, then exit 5");
  sim.inject({ kind: "status", status: 503, times: 10 });
  r = await ghappToken({ ...env, OWNER: "acme-org" });
  expect("an outage exits 5", r.code === 5);
  sim.clearFaults();

  await showChart();

  // ---- the runner broker ----------------------------------------------------------------------
  // Branch broker-service adds ci/demo-broker.ts. It is run, when present, as
  //   bun run ci/demo-broker.ts --state-dir <state dir>
  // with the state dir laid out as tests/simulator/cli.ts writes it (simulator.json: url, origin,
  // appId, clientId, installations, pid, port; app.pem), for this same simulator, which keeps
  // running until it ends. Its output passes through this process: off a terminal, escape codes
  // are taken out of it, so the whole demo keeps its promise of plain text.
  const brokerDemo = join(ROOT, "ci/demo-broker.ts");
  if (existsSync(brokerDemo)) {
    const stateDir = writeSimulatorState(sim, join(work, "simulator"));
    const broker = Bun.spawn([process.execPath, "run", brokerDemo, "--state-dir", stateDir], {
      cwd: ROOT,
      env: { ...process.env, ...(styled ? {} : { NO_COLOR: "1" }) },
      stdout: "pipe",
      stderr: "pipe",
    });
    const relay = async (from: ReadableStream<Uint8Array>, to: NodeJS.WriteStream) => {
      const decoder = new TextDecoder();
      for await (const chunk of from) {
        const text = decoder.decode(chunk, { stream: true });
        to.write(styled ? text : text.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, ""));
      }
    };
    await Promise.all([relay(broker.stdout, process.stdout), relay(broker.stderr, process.stderr)]);
    expect("ci/demo-broker.ts exits 0", (await broker.exited) === 0);
  }

  if (failures) {
    say(`\n${bold("The demo did not go as described")}: ${failures} step${failures === 1 ? "" : "s"} above (marked !!).`);
    process.exitCode = 1;
  } else {
    say(`\n${bold("Done.")} Run the whole test suite with: npm test`);
  }
} finally {
  await sim.close();
  rmSync(work, { recursive: true, force: true });
}
