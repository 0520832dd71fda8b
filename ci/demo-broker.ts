// The runner broker's part of `npm run demo`: the compiled dist/ghapp-runner-broker against a
// running GitHub simulator, narrated. A caller with a simulator-issued OIDC token provisions a JIT
// runner (which then connects, as ./run.sh --jitconfig would), is refused a label outside its
// policy, and an administrator reads the security event and the audit log. The broker's dashboard
// (/ui) is on, signing in through the simulator's issuer; its address and sign-in links are printed. Everything runs on
// 127.0.0.1; the broker's SQLite database lives in a temporary folder removed at the end.
//
// Usage: bun run ci/demo-broker.ts --state-dir DIR [--broker PATH]
//   --state-dir DIR  the --state-dir of a running simulator (`npm run simulator -- --state-dir DIR`):
//                    its simulator.json (url, origin, appId) and app.pem are read from there.
//                    Without it, the demo starts a simulator of its own for the run.
//   --broker PATH    the broker executable (default dist/ghapp-runner-broker; `npm run build` makes it)
// Exit codes: 0 the demo ran, 2 bad arguments or a missing build, 1 a step did not do what it shows.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative, resolve } from "node:path";
import { parseArgs } from "node:util";

const { values } = parseArgs({ options: { "state-dir": { type: "string" }, broker: { type: "string" } } });
const BROKER = resolve(values.broker ?? join(import.meta.dir, "../dist/ghapp-runner-broker"));
const relativeToRoot = (p: string) => (p.startsWith(resolve(import.meta.dir, "..")) ? relative(resolve(import.meta.dir, ".."), p) : p);
if (!existsSync(BROKER)) {
  console.error(`demo-broker: ${BROKER} is missing: run npm run build first`);
  process.exit(2);
}
// As ci/demo.ts: styling only at a terminal, and never with NO_COLOR (https://no-color.org) or TERM=dumb.
const styled = process.stdout.isTTY === true && !process.env.NO_COLOR && process.env.TERM !== "dumb";
const sgr = (code: string) => (s: string) => (styled ? `\x1b[${code}m${s}\x1b[0m` : s);
const bold = sgr("1");
const dim = sgr("2");
const step = (s: string) => console.log(`\n${bold(`▶ ${s}`)}`);
/** Prints a command as a person would type it; tokens appear only as the variables that hold them. */
const command = (line: string) => console.log(dim(`$ ${line}`));
const quote = (v: string) => (/^[\w@%+=:,./$-]*$/.test(v) ? v : `'${v.replaceAll("'", `'\\''`)}'`);
/** Rows under a header, each column as wide as its widest cell. */
const table = (header: string[], rows: string[][]) => {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  for (const row of [header, ...rows]) console.log(`  ${row.map((c, i) => c.padEnd(widths[i]!)).join("  ")}`.trimEnd());
};
/** The shell variable each OIDC token is shown as (set by oidcToken). */
const tokenNames = new Map<string, string>();
const mask = (t: string) => `${t.slice(0, 8)}… (${t.length} characters, shown once)`;
const check = (ok: boolean, what: string) => {
  if (!ok) {
    console.error(`demo-broker: ${what}`);
    process.exit(1);
  }
};

const work = mkdtempSync(join(tmpdir(), "ghapp-broker-demo-"));
let sim: { url: string; origin: string; appId: number; keyFile: string; close: () => Promise<void> };
if (values["state-dir"]) {
  const dir = values["state-dir"];
  const state = JSON.parse(readFileSync(join(dir, "simulator.json"), "utf8")) as { url: string; origin: string; appId: number };
  sim = { ...state, keyFile: join(dir, "app.pem"), close: async () => {} };
} else {
  const { startSimulator } = await import("../tests/simulator/simulator.ts");
  const s = await startSimulator();
  const keyFile = join(work, "app.pem");
  writeFileSync(keyFile, s.app.privateKeyPem, { mode: 0o600 });
  sim = { url: s.url, origin: s.origin, appId: s.app.id, keyFile, close: () => s.close() };
}

const ISSUER = `${sim.origin}/oidc`;
const AUDIENCE = "ghapp-runner-broker";
const ADMIN = "repo:acme-org/platform:ref:refs/heads/main";
const CALLER = "repo:acme-org/api:ref:refs/heads/main";
const oidcToken = async (sub: string) => {
  const name = sub === ADMIN ? "ADMIN_TOKEN" : sub === CALLER ? "CALLER_TOKEN" : "OTHER_TOKEN";
  command(`${name}=$(curl -s -X POST ${sim.origin}/_simulator/oidc/token -H 'content-type: application/json' -d ${quote(JSON.stringify({ sub, aud: AUDIENCE }))} | jq -r .token)   # the simulator as the callers' OIDC issuer`);
  const r = await fetch(`${sim.origin}/_simulator/oidc/token`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ sub, aud: AUDIENCE }) });
  const token = ((await r.json()) as { token: string }).token;
  tokenNames.set(token, `$${name}`);
  return token;
};

// The dashboard's address must be known before the broker starts (its sign-in redirect URI is
// DASHBOARD_URL/ui/callback): a port free right now, rather than LISTEN_ADDR's :0.
const port = await (async () => {
  const probe = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response("") });
  const p = probe.port!;
  await probe.stop(true);
  return p;
})();
const base = `http://127.0.0.1:${port}`;
const env = {
  PATH: "/usr/bin:/bin",
  GITHUB_APP_ID: String(sim.appId),
  GITHUB_APP_PRIVATE_KEY_FILE: sim.keyFile,
  GITHUB_ORG: "acme-org",
  GITHUB_API_URL: sim.url,
  DATABASE_URL: `sqlite://${join(work, "broker.db")}`,
  LISTEN_ADDR: `127.0.0.1:${port}`,
  OIDC_ISSUER: ISSUER,
  OIDC_AUDIENCE: AUDIENCE,
  ADMIN_IDENTITIES: ADMIN,
  DASHBOARD_CLIENT_ID: "broker-dashboard",
  DASHBOARD_URL: base,
};
step("Start ghapp-runner-broker against the simulated GitHub (its SQLite database in a temporary folder)");
command(`${Object.entries(env).filter(([k]) => k !== "PATH").map(([k, v]) => `${k}=${quote(v)}`).join(" \\\n    ")} \\\n    ${relativeToRoot(BROKER)} serve`);
const proc = Bun.spawn([BROKER, "serve"], { env, stdout: "ignore", stderr: "pipe" });
let logs = "";
await new Promise<number>((res, rej) => {
  void (async () => {
    for await (const chunk of proc.stderr as ReadableStream<Uint8Array>) {
      logs += new TextDecoder().decode(chunk);
      const m = /"message":"listening".*?"port":(\d+)/.exec(logs);
      if (m) res(Number(m[1]));
    }
  })();
  setTimeout(() => rej(new Error(`the broker did not start:\n${logs}`)), 10_000);
});
const call = async (method: string, path: string, token?: string, body?: unknown) => {
  const auth = token ? ` -H "authorization: Bearer ${tokenNames.get(token) ?? "$TOKEN"}"` : "";
  command(`curl -s${method === "GET" ? "" : ` -X ${method}`}${auth} ${quote(`${base}${path}`)}${body ? ` -H 'content-type: application/json' -d ${quote(JSON.stringify(body))}` : ""}`);
  const r = await fetch(`${base}${path}`, { method, headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body ? { "content-type": "application/json" } : {}) }, ...(body ? { body: JSON.stringify(body) } : {}) });
  const text = await r.text();
  return { status: r.status, json: text ? JSON.parse(text) : undefined };
};

try {
  step(`ghapp-runner-broker on ${base}: the App's key stays here; callers authenticate with OIDC tokens from ${ISSUER}`);
  const admin = await oidcToken(ADMIN);
  const caller = await oidcToken(CALLER);
  console.log(`  caller identity (the token's sub): ${CALLER}`);

  step("An administrator sets the caller's label policy (POST /api/v1/admin/label-policies)");
  const policy = { user_identity: CALLER, allowed_labels: ["team-api"], label_patterns: ["build-[0-9]+"], max_runners: 3, runner_group_id: 2 };
  const p = await call("POST", "/api/v1/admin/label-policies", admin, policy);
  check(p.status === 201, `policy: HTTP ${p.status}`);
  console.log(`  ${p.status}: ${JSON.stringify(policy)}`);

  step("The caller provisions a JIT runner (POST /api/v1/runners/provision)");
  const r = await call("POST", "/api/v1/runners/provision", caller, { runner_name: "api-build-1", labels: ["team-api", "build-42"] });
  check(r.status === 201, `provision: HTTP ${r.status}`);
  const { encoded_jit_config, ...rest } = r.json;
  console.log(`  ${r.status}: ${JSON.stringify(rest)}`);
  console.log(`  encoded_jit_config: ${mask(encoded_jit_config)}`);
  console.log(`  on the runner host: ./run.sh --jitconfig "$ENCODED_JIT_CONFIG"   (single use; the broker kept only its SHA-256)`);
  command(`curl -s -X POST ${sim.origin}/_simulator/runners/connect -H 'content-type: application/json' -d '{"encoded_jit_config":"'"$ENCODED_JIT_CONFIG"'"}'   # the simulator plays the runner`);
  const connected = await fetch(`${sim.origin}/_simulator/runners/connect`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ encoded_jit_config }) });
  console.log(`  the runner connects: GitHub says ${((await connected.json()) as { status: string }).status}`);
  const again = await fetch(`${sim.origin}/_simulator/runners/connect`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ encoded_jit_config }) });
  console.log(`  the same config a second time: HTTP ${again.status} (a JIT config works once)`);
  const refreshed = await call("POST", "/api/v1/runners/api-build-1/refresh", caller);
  console.log(`  the broker re-reads it: status ${refreshed.json.status}`);

  step("The caller asks for a label outside its policy");
  const refused = await call("POST", "/api/v1/runners/provision", caller, { runner_name: "api-build-2", labels: ["team-api", "prod-deploy"] });
  check(refused.status === 403, `refusal: HTTP ${refused.status}`);
  console.log(`  ${refused.status} application/problem+json: ${JSON.stringify(refused.json)}`);

  step("Another identity's view: it cannot see the caller's runner, and is not an administrator");
  const other = await oidcToken("repo:acme-org/web:ref:refs/heads/main");
  console.log(`  GET /api/v1/runners/api-build-1 → ${(await call("GET", "/api/v1/runners/api-build-1", other)).status} (as if it did not exist)`);
  console.log(`  GET /api/v1/admin/security-events → ${(await call("GET", "/api/v1/admin/security-events", other)).status}`);

  step("The administrator reads the security events and the audit log");
  // Both listings oldest first (the API answers newest first), each under a header.
  const oldestFirst = <T extends { at: string }>(rows: T[]) => [...rows].sort((a, b) => a.at.localeCompare(b.at));
  const events = await call("GET", "/api/v1/admin/security-events", admin);
  type Event = { at: string; severity: string; event_type: string; user_identity: string; runner_name?: string; action_taken: string };
  table(["AT", "SEVERITY", "EVENT", "IDENTITY", "RUNNER", "ACTION"], oldestFirst(events.json.events as Event[]).map((e) => [e.at, e.severity, e.event_type, e.user_identity, e.runner_name ?? "", e.action_taken]));
  check(events.json.events.some((e: { event_type: string }) => e.event_type === "label_not_allowed"), "no label_not_allowed event");
  const audit = await call("GET", "/api/v1/admin/audit-log?limit=10", admin);
  type Audit = { at: string; actor: string; action: string; result: string; runner_name?: string };
  table(["AT", "ACTOR", "ACTION", "RESULT", "RUNNER"], oldestFirst(audit.json.records as Audit[]).map((a) => [a.at, a.actor, a.action, a.result, a.runner_name ?? ""]));
  console.log(`\n  API reference: ${base}/docs (OpenAPI 3.1 at ${base}/openapi.json); see docs/runner-broker.md`);
  // The simulator's issuer signs in whoever login_hint names (tests/simulator/oidc-issuer.ts): one click each.
  console.log(`  Dashboard: ${base}/ui (docs/dashboard.md); one-click sign-in while the demo runs:`);
  console.log(`    as the caller:        ${base}/ui/login?login_hint=${encodeURIComponent(CALLER)}`);
  console.log(`    as the administrator: ${base}/ui/login?login_hint=${encodeURIComponent(ADMIN)}`);
} finally {
  proc.kill("SIGTERM");
  await proc.exited;
  await sim.close();
  rmSync(work, { recursive: true, force: true });
}
