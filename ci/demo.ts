// The demo: the real binary against the simulator, narrated. Everything runs on 127.0.0.1 and in a
// temporary folder that is removed at the end; the App key is generated for this run only.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { startSimulator } from "../tests/simulator/simulator.ts";

const BINARY = resolve(import.meta.dir, "../dist/ghapp-token");
const work = mkdtempSync(join(tmpdir(), "ghapp-demo-"));
const bold = (s: string) => `\x1b[1m${s}\x1b[0m`;
const step = (s: string) => console.log(`\n${bold(`▶ ${s}`)}`);
// Shows the form and length of a token, never its characters: tokens are ghs_ + 36, or ghs_<appid>_<JWT> (~520).
const mask = (t: string) => `${t.slice(0, 4)}${"*".repeat(8)} (${t.length} characters)`;

async function ghappToken(env: Record<string, string>, args: string[] = []) {
  const proc = Bun.spawn([BINARY, ...args], { env, stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { code, stdout, stderr };
}
function showLogs(stderr: string) {
  for (const line of stderr.trim().split("\n").filter(Boolean)) {
    const { level, message, timestamp: _t, correlation_id: _c, version: _v, ...fields } = JSON.parse(line);
    console.log(`  ${String(level).padEnd(5)} ${message}  ${JSON.stringify(fields)}`);
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

  step("Mint a token for acme-org, scoped to one repository and read access (as the initContainer does)");
  let r = await ghappToken({ ...env, OWNER: "acme-org", REPOSITORIES: "api", PERMISSIONS: "contents=read,metadata=read" });
  console.log(`  exit code ${r.code}`);
  showLogs(r.stderr);
  const token = readFileSync(env.OUTPUT_PATH, "utf8");
  const st = statSync(env.OUTPUT_PATH);
  console.log(`  ${env.OUTPUT_PATH}: ${mask(token)} (${token.length} bytes, no newline, mode ${(st.mode & 0o777).toString(8).padStart(4, "0")})`);
  console.log(`  ${env.OUTPUT_PATH}.json: ${readFileSync(`${env.OUTPUT_PATH}.json`, "utf8").trim().replace(/\n\s*/g, " ")}`);

  step("What GitHub saw");
  for (const q of sim.requests) console.log(`  ${q.method} ${q.path} → ${q.status}   (${q.headers["user-agent"]}, API ${q.headers["x-github-api-version"]})`);

  step("Use the token, as a workflow step would");
  const repos = (await (await fetch(`${sim.url}/installation/repositories`, { headers: { authorization: `token ${token}` } })).json()) as { repositories: Array<{ full_name: string }> };
  console.log(`  GET /installation/repositories → ${repos.repositories.map((x) => x.full_name).join(", ")}`);

  step("Refresh: the sidecar (ghapp-token refresh) with 4-second tokens, replacing the file at 80% of each lifetime");
  sim.setTokenTtl(4);
  const port = (() => { const p = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => new Response() }); const n = p.port!; p.stop(true); return n; })();
  const sidecar = Bun.spawn([BINARY, "refresh"], { env: { ...env, OWNER: "acme-org", LISTEN_ADDR: `127.0.0.1:${port}`, REVOKE_ON_EXIT: "true" }, stdout: "ignore", stderr: "pipe" });
  const seen: string[] = [];
  for (let i = 0; i < 70; i++) {
    await Bun.sleep(100);
    try {
      const t = readFileSync(env.OUTPUT_PATH, "utf8");
      if (seen.at(-1) !== t) {
        seen.push(t);
        console.log(`  t+${(i / 10).toFixed(1)} s  new token ${mask(t)}  inode ${statSync(env.OUTPUT_PATH).ino}`);
      }
    } catch {
      console.log("  the file was missing: this must never happen");
    }
  }
  const health = await fetch(`http://127.0.0.1:${port}/healthz`);
  console.log(`  GET /healthz → ${health.status} ${await health.text()}`);
  const metrics = (await (await fetch(`http://127.0.0.1:${port}/metrics`)).text()).split("\n").filter((l) => /^ghapp_token_(refresh_total|expiry)/.test(l));
  console.log(`  GET /metrics → ${metrics.join("; ")}`);
  sidecar.kill("SIGTERM");
  console.log(`  SIGTERM → exit ${await sidecar.exited}; last token revoked on GitHub: ${sim.tokens.get(seen.at(-1)!)?.revoked}`);
  sim.setTokenTtl(3600);

  step("A wrong key: GitHub rejects it, exit 3 at once, no retry, nothing written");
  writeFileSync(join(keyDir, "other"), (await import("../tests/simulator/simulator.ts")).generateAppKey().privateKeyPem);
  r = await ghappToken({ ...env, PRIVATE_KEY_FILE: join(keyDir, "other"), OWNER: "acme-org", OUTPUT_PATH: join(tokenDir, "other") });
  console.log(`  exit code ${r.code}`);
  showLogs(r.stderr);

  step("Not a key at all: exit 2 before any request, without echoing the input");
  r = await ghappToken({ ...env, PRIVATE_KEY_FILE: "", PRIVATE_KEY: "hunter2-is-not-a-key", OWNER: "acme-org" });
  console.log(`  exit code ${r.code}`);
  showLogs(r.stderr);

  step("Several installations and no selector: exit 2, listing how to choose");
  r = await ghappToken(env);
  console.log(`  exit code ${r.code}`);
  showLogs(r.stderr);

  step("GitHub down: 5 attempts with back-off, then exit 5");
  sim.inject({ kind: "status", status: 503, times: 10 });
  r = await ghappToken({ ...env, OWNER: "acme-org" });
  console.log(`  exit code ${r.code}`);
  showLogs(r.stderr);
  sim.clearFaults();

  console.log(`\n${bold("Done.")} Run the whole test suite with: npm test`);
} finally {
  await sim.close();
  rmSync(work, { recursive: true, force: true });
}
