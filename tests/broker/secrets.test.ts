// The secrets the broker handles (JIT configs, registration tokens, installation tokens, the App's
// key, callers' OIDC tokens) appear in the one answer that hands them out and nowhere else: not in
// logs (at debug level), not in any other answer, not in the SQLite file or its WAL, not in exports.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { expectNoSecrets, keyFragments } from "../helpers/secrets.ts";
import { ADMIN, ALICE, BOB, eventually, policy, runBroker, startBroker, startWorld, type Broker, type World } from "./harness.ts";

let w: World;
let b: Broker;
const secrets: string[] = [];
const elsewhere: string[] = [];
let jitConfig = "";

beforeAll(async () => {
  w = await startWorld();
  b = await startBroker(w.env({ LOG_LEVEL: "debug", SYNC_INTERVAL: "1s", CALLER_RATE_LIMIT: "1000" }));
  const admin = await w.token(ADMIN);
  const alice = await w.token(ALICE);
  const bob = await w.token(BOB);
  secrets.push(admin, alice, bob, ...keyFragments(w.sim.app.privateKeyPem));
  const keep = (r: { text: string }) => void elsewhere.push(r.text);
  keep(await b.call("POST", "/api/v1/admin/label-policies", { token: admin, body: policy(ALICE) }));
  keep(await b.call("POST", "/api/v1/admin/label-policies", { token: admin, body: policy(BOB, { allow_registration_token: true }) }));
  const jit = await b.call("POST", "/api/v1/runners/provision", { token: alice, body: { runner_name: "s-1", labels: ["team-a"] } });
  const reg = await b.call("POST", "/api/v1/runners/provision", { token: bob, body: { runner_name: "s-2", labels: ["team-a"], mode: "registration_token", ephemeral: false } });
  expect([jit.status, reg.status]).toEqual([201, 201]);
  jitConfig = jit.json.encoded_jit_config;
  secrets.push(jitConfig, reg.json.registration_token);
  w.sim.runners.connect(jit.json.encoded_jit_config);
  w.sim.runners.register(reg.json.registration_token, { name: "s-2", labels: ["team-a"], runner_group_id: 2 });
  // Refused and failed requests carry the tokens in their headers; they must not echo them.
  keep(await b.call("POST", "/api/v1/runners/provision", { token: alice, body: { runner_name: "s-3", labels: ["nope"] } }));
  keep(await b.call("GET", "/api/v1/admin/audit-log", { token: alice }));
  await eventually(async () => (await b.call("GET", "/api/v1/runners/s-2", { token: bob })).json.github_runner_id, 8000, "sync linked s-2");
  for (const [t, path] of [
    [alice, "/api/v1/runners"],
    [alice, "/api/v1/runners/s-1"],
    [bob, "/api/v1/runners/s-2"],
    [admin, "/api/v1/admin/audit-log?limit=1000"],
    [admin, "/api/v1/admin/security-events?limit=1000"],
    [admin, "/api/v1/admin/label-policies"],
  ] as const) keep(await b.call("GET", path, { token: t }));
  keep(await b.call("POST", "/api/v1/runners/s-1/refresh", { token: alice }));
  keep(await b.call("GET", "/metrics"));
  keep(await b.call("GET", "/ready"));
  const exported = await runBroker(["export-audit-log"], b.env);
  expect(exported.code).toBe(0);
  elsewhere.push(exported.stdout, exported.stderr);
  const listed = await runBroker(["list-runners", "--json"], b.env);
  elsewhere.push(listed.stdout, listed.stderr);
  secrets.push(...w.sim.tokens.keys());
}, 30_000);
afterAll(async () => {
  await b?.stop();
  await w?.close();
});

describe("secrets", () => {
  test("the installation tokens the broker used are known to the test (so the search means something)", () => {
    expect(w.sim.tokens.size).toBeGreaterThan(0);
    expect(secrets.length).toBeGreaterThan(5);
  });
  test("are not in the broker's logs, even at debug level", () => {
    expect(b.logs()).toContain("sync done");
    expectNoSecrets(b.logs(), secrets);
  });
  test("are not in any answer but the provision answer that hands them out", () => {
    const all = elsewhere.join("\n");
    expect(all).toContain("s-1");
    expectNoSecrets(all, secrets);
  });
  test("are not in the SQLite database, its WAL or its shared memory", () => {
    const path = b.env.DATABASE_URL!.slice("sqlite://".length);
    const files = [path, `${path}-wal`, `${path}-shm`].filter(existsSync);
    const bytes = files.map((f) => readFileSync(f).toString("latin1")).join("\n");
    expect(bytes).toContain("s-1");
    expectNoSecrets(bytes, secrets);
  });
  test("the audit log keeps the SHA-256 of what was handed out", async () => {
    const { createHash } = await import("node:crypto");
    const exported = (await runBroker(["export-audit-log"], b.env)).stdout;
    expect(exported).toContain(createHash("sha256").update(jitConfig).digest("hex"));
  });
});
