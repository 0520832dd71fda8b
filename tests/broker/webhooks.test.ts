// GitHub webhooks against the compiled broker: the simulator's App webhook points at the broker, and
// runners taking jobs there reach the broker as signed workflow_job deliveries. What a user notices:
// a runner busy the moment its job starts (no sync needed), refusals with the right status counted
// in /metrics, failed deliveries redelivered once by the background work, quick answers while the
// work is slow, and the secret nowhere.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { createHmac, randomUUID } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { defaultInstallations } from "../simulator/simulator.ts";
import { ADMIN, ALICE, eventually, policy, runBroker, startBroker, startWorld, type Broker, type World } from "./harness.ts";

const SECRET = "whsec-6f1d2c9b8a7e4f3d2c1b0a9e8d7c6b5a";
const HOOK = "/api/v1/webhooks/github";

let w: World;
let b: Broker;
let admin: string;
let alice: string;
let secretFile: string;
const answers: string[] = [];

beforeAll(async () => {
  const installations = defaultInstallations();
  installations[0]!.permissions.actions = "read"; // workflow_job needs the Actions permission
  w = await startWorld({ installations });
  secretFile = join(w.dir, "webhook-secret");
  writeFileSync(secretFile, `${SECRET}\n`, { mode: 0o600 });
  // SYNC_INTERVAL 1h: the sync runs once at start, then not again during these tests.
  b = await startBroker(w.env({ GITHUB_WEBHOOK_SECRET_FILE: secretFile, CALLER_RATE_LIMIT: "1000" }));
  [admin, alice] = await Promise.all([w.token(ADMIN), w.token(ALICE)]);
  expect((await b.call("POST", "/api/v1/admin/label-policies", { token: admin, body: policy(ALICE) })).status).toBe(201);
  w.sim.webhooks.configure({ url: `${b.url}${HOOK}`, secret: SECRET });
  await w.sim.webhooks.settled();
});
afterAll(async () => {
  await b?.stop();
  await w?.close();
});

const sign = (body: string, secret = SECRET) => `sha256=${createHmac("sha256", secret).update(body).digest("hex")}`;
async function deliver(body: string, headers: Record<string, string>) {
  const res = await fetch(`${b.url}${HOOK}`, { method: "POST", headers: { "content-type": "application/json", "x-github-event": "workflow_job", "x-github-delivery": randomUUID(), ...headers }, body });
  const text = await res.text();
  answers.push(text);
  return { status: res.status, json: text ? JSON.parse(text) : undefined, headers: res.headers };
}
const metric = async (event: string, result: string) => {
  const text = (await b.call("GET", "/metrics")).text;
  const m = new RegExp(`^ghapp_broker_webhook_deliveries_total\\{event="${event}",result="${result}"\\} (\\d+)`, "m").exec(text);
  return m ? Number(m[1]) : 0;
};
/** The runner as its caller sees it; undefined once deleted (a deleted runner is not found by name). */
const runner = async (name: string) => {
  const r = await b.call("GET", `/api/v1/runners/${name}`, { token: alice });
  return r.status === 404 ? undefined : r.json;
};

/** Provisions a JIT runner for Alice and connects it at the simulated GitHub; returns its GitHub id. */
async function connected(name: string): Promise<number> {
  const p = await b.call("POST", "/api/v1/runners/provision", { token: alice, body: { runner_name: name, labels: ["team-a"] } });
  expect(p.status).toBe(201);
  return w.sim.runners.connect(p.json.encoded_jit_config).id;
}

describe("deliveries set a runner's status", () => {
  test("the ping GitHub sends when the webhook is configured is answered 200", () => {
    const ping = w.sim.webhooks.deliveries().find((d) => d.event === "ping")!;
    expect(ping).toMatchObject({ status: "OK", status_code: 200 });
  });

  test("a runner is busy the moment its job starts, before any sync, and gone once GitHub removed it after the job", async () => {
    const id = await connected("hooked-1");
    const requestsBefore = w.sim.requests.length;
    w.sim.runners.startJob(id);
    await eventually(async () => (await runner("hooked-1"))?.busy === true, 5000, "busy from the in_progress delivery");
    expect((await runner("hooked-1")).status).toBe("busy");
    // No sync listed the runners meanwhile: the delivery did it.
    expect(w.sim.requests.slice(requestsBefore).some((r) => r.method === "GET" && r.path.includes("/runners"))).toBe(false);
    w.sim.runners.finishJob(id);
    await eventually(async () => (await b.call("GET", "/api/v1/runners?status=deleted", { token: alice })).json.runners.some((r: any) => r.runner_name === "hooked-1"), 5000, "deleted after the job");
    const audit = (await b.call("GET", "/api/v1/admin/audit-log?limit=1000", { token: admin })).json.records.filter((a: any) => a.runner_name === "hooked-1" && a.action === "webhook.status_change").reverse();
    // busy (in_progress), idle (completed), deleted (GitHub removed the ephemeral runner after its job)
    expect(audit.map((a: any) => a.details.to)).toEqual(["busy", "active", "deleted"]);
    expect(audit.every((a: any) => a.actor === "system")).toBe(true);
    const log = w.sim.webhooks.deliveries().filter((d) => d.event === "workflow_job" && (d.request.payload as any).workflow_job.runner_id === id);
    expect(log.map((d) => [d.action, d.status_code])).toEqual([["in_progress", 202], ["completed", 202]]);
  });

  test("a delivery is answered within GitHub's 10 seconds even when the work after it is slow", async () => {
    const id = await connected("hooked-slow");
    w.sim.runners.startJob(id);
    await eventually(async () => (await runner("hooked-slow"))?.busy === true, 5000, "busy");
    // After completed, the broker asks GitHub whether the ephemeral runner is gone: make that take 4 s.
    w.sim.inject({ kind: "delay", ms: 4000, match: { method: "GET", path: `/actions/runners/${id}` } });
    w.sim.runners.finishJob(id);
    await w.sim.webhooks.settled();
    const completed = w.sim.webhooks.deliveries().find((d) => d.action === "completed" && (d.request.payload as any).workflow_job.runner_id === id)!;
    expect(completed.status).toBe("OK");
    expect(completed.duration).toBeLessThan(1);
    expect((await runner("hooked-slow")).status).toBe("active"); // the job ended; GitHub's answer is still on its way
    await eventually(async () => (await runner("hooked-slow")) === undefined, 10_000, "deleted after the slow check");
  }, 20_000);
});

describe("refusals", () => {
  const payload = JSON.stringify({ action: "in_progress", workflow_job: { id: 1, run_id: 1, status: "in_progress", labels: [], runner_id: 1, runner_name: "x", runner_group_id: 2 }, organization: { login: "acme-org" } });

  test("an unsigned delivery is refused with 401 and counted", async () => {
    const before = await metric("workflow_job", "unsigned");
    const r = await deliver(payload, {});
    expect(r.status).toBe(401);
    expect(r.headers.get("content-type")).toBe("application/problem+json");
    expect(r.json.type).toBe("urn:ghapp-runner-broker:problem:webhook_unsigned");
    expect(await metric("workflow_job", "unsigned")).toBe(before + 1);
  });

  test("a delivery signed with another secret, or with a malformed signature, is refused with 401 and counted", async () => {
    const before = await metric("workflow_job", "bad_signature");
    expect((await deliver(payload, { "x-hub-signature-256": sign(payload, "another-secret-entirely") })).status).toBe(401);
    expect((await deliver(payload, { "x-hub-signature-256": "sha256=zz" })).status).toBe(401);
    const tampered = await deliver(payload.replace("in_progress", "completed"), { "x-hub-signature-256": sign(payload) });
    expect(tampered.status).toBe(401);
    expect(tampered.json.type).toBe("urn:ghapp-runner-broker:problem:webhook_bad_signature");
    expect(await metric("workflow_job", "bad_signature")).toBe(before + 3);
  });

  test("a delivery GitHub already delivered, sent again, is refused with 409 and counted", async () => {
    const original = w.sim.webhooks.deliveries().find((d) => d.event === "workflow_job" && d.status === "OK")!;
    const before = await metric("workflow_job", "replayed");
    const r = await deliver(JSON.stringify(original.request.payload), original.request.headers);
    expect(r.status).toBe(409);
    expect(r.json.type).toBe("urn:ghapp-runner-broker:problem:webhook_replayed");
    expect(await metric("workflow_job", "replayed")).toBe(before + 1);
  });

  test("a delivery larger than the broker's bound is refused with 413 and counted, signature or not", async () => {
    const big = JSON.stringify({ action: "queued", workflow_job: { id: 2, run_id: 2, status: "queued", labels: ["x".repeat(300 * 1024)] } });
    const before = await metric("workflow_job", "too_large");
    const r = await deliver(big, { "x-hub-signature-256": sign(big) });
    expect(r.status).toBe(413);
    expect(r.json.type).toBe("urn:ghapp-runner-broker:problem:payload_too_large");
    expect(await metric("workflow_job", "too_large")).toBe(before + 1);
  });

  test("a signed delivery without a delivery GUID is refused with 422; another event is accepted and ignored", async () => {
    expect((await deliver(payload, { "x-hub-signature-256": sign(payload), "x-github-delivery": "" })).status).toBe(422);
    const push = await deliver("{}", { "x-hub-signature-256": sign("{}"), "x-github-event": "push" });
    expect(push.status).toBe(202);
    expect(push.json.status).toBe("ignored");
  });

  test("a job cancelled before any runner took it (runner_id 0, runner_name \"\") is accepted and changes nothing", async () => {
    const cancelled = JSON.stringify({ action: "completed", workflow_job: { id: 77, run_id: 78, status: "completed", conclusion: "cancelled", labels: ["self-hosted", "team-a"], runner_id: 0, runner_name: "", runner_group_id: 0, completed_at: new Date().toISOString() }, organization: { login: "acme-org" } });
    const r = await deliver(cancelled, { "x-hub-signature-256": sign(cancelled) });
    expect(r.status).toBe(202);
    expect(r.json.status).toBe("queued");
  });

  test("the webhook route takes no OIDC token and the API still requires one", async () => {
    const r = await deliver(payload, { authorization: `Bearer ${alice}` });
    expect(r.status).toBe(401);
    expect(r.json.type).toBe("urn:ghapp-runner-broker:problem:webhook_unsigned");
    expect((await b.call("GET", "/api/v1/runners")).status).toBe(401);
  });
});

describe("without a webhook secret", () => {
  test("the route answers 404, like a route that does not exist, even to a signed delivery", async () => {
    const plain = await startBroker(w.env());
    try {
      const body = JSON.stringify({ zen: "hi", hook_id: 1 });
      const r = await fetch(`${plain.url}${HOOK}`, { method: "POST", headers: { "x-github-event": "ping", "x-github-delivery": randomUUID(), "x-hub-signature-256": sign(body) }, body });
      expect(r.status).toBe(404);
      expect(await r.json()).toEqual(await (await fetch(`${plain.url}/no-such-route`)).json());
    } finally {
      await plain.stop();
    }
  });

  test("an empty or unreadable GITHUB_WEBHOOK_SECRET_FILE stops the start with exit 2, naming the variable", async () => {
    const empty = join(w.dir, "empty-secret");
    writeFileSync(empty, "\n");
    for (const file of [empty, join(w.dir, "missing-secret")]) {
      const r = await runBroker(["serve"], w.env({ GITHUB_WEBHOOK_SECRET_FILE: file }));
      expect(r.code).toBe(2);
      expect(r.stderr).toContain("GITHUB_WEBHOOK_SECRET_FILE");
    }
  });
});

describe("failed deliveries", () => {
  test("deliveries GitHub could not make are redelivered by the background work, each exactly once, and acted on", async () => {
    const b2 = await startBroker(w.env({ GITHUB_WEBHOOK_SECRET_FILE: secretFile, SYNC_INTERVAL: "1s", CALLER_RATE_LIMIT: "1000" }));
    try {
      w.sim.webhooks.configure({ url: `${b2.url}${HOOK}`, secret: SECRET });
      await w.sim.webhooks.settled();
      const t = await w.token(ALICE);
      expect((await b2.call("POST", "/api/v1/admin/label-policies", { token: admin, body: policy(ALICE) })).status).toBe(201);
      const p = await b2.call("POST", "/api/v1/runners/provision", { token: t, body: { runner_name: "redelivered-1", labels: ["team-a"] } });
      const id = w.sim.runners.connect(p.json.encoded_jit_config).id;
      const firstId = w.sim.webhooks.deliveries().length;
      // queued and in_progress never reach the broker; the first redelivery is lost too.
      w.sim.webhooks.drop(3);
      w.sim.runners.startJob(id);
      await w.sim.webhooks.settled();
      const dropped = w.sim.webhooks.deliveries().slice(firstId);
      expect(dropped.map((d) => [d.action, d.status])).toEqual([["queued", "failed to connect"], ["in_progress", "failed to connect"]]);
      const guids = dropped.map((d) => d.guid);
      await eventually(() => guids.every((g) => w.sim.webhooks.deliveries().some((d) => d.guid === g && d.redelivery)), 10_000, "both redelivered");
      await Bun.sleep(4000); // several more rounds of background work
      await w.sim.webhooks.settled();
      for (const g of guids) expect(w.sim.webhooks.deliveries().filter((d) => d.guid === g && d.redelivery)).toHaveLength(1);
      const attempts = w.sim.requests.filter((r) => r.method === "POST" && /\/app\/hook\/deliveries\/\d+\/attempts$/.test(r.path));
      expect(attempts).toHaveLength(2);
      // The one redelivery that arrived was acted on (the database holds its GUID as processed).
      const arrived = w.sim.webhooks.deliveries().filter((d) => d.redelivery && d.status === "OK");
      expect(arrived).toHaveLength(1);
      const db = new Database(b2.env.DATABASE_URL!.replace("sqlite://", ""), { readonly: true });
      try {
        const row = db.query("SELECT processed_at FROM webhook_deliveries WHERE guid = ?").get(arrived[0]!.guid) as { processed_at: number | null } | null;
        expect(row?.processed_at).toBeGreaterThan(0);
      } finally {
        db.close();
      }
      const text = (await b2.call("GET", "/metrics")).text;
      expect(text).toMatch(/^ghapp_broker_webhook_redeliveries_total\{result="requested"\} 2$/m);
    } finally {
      w.sim.webhooks.configure({ url: `${b.url}${HOOK}`, secret: SECRET });
      await b2.stop();
    }
  }, 30_000);

  test("a failed delivery close to the end of GitHub's three-day window is not asked for; a recent one is", async () => {
    const b3 = await startBroker(w.env({ GITHUB_WEBHOOK_SECRET_FILE: secretFile, SYNC_INTERVAL: "1s" }));
    try {
      w.sim.webhooks.drop(1);
      w.sim.webhooks.configure({ url: `${b3.url}${HOOK}`, secret: SECRET }); // its ping is dropped
      await w.sim.webhooks.settled();
      const oldPing = w.sim.webhooks.deliveries().at(-1)!;
      expect(oldPing).toMatchObject({ event: "ping", status: "failed to connect" });
      // Every delivery so far, failed ones included, is now 2 days 23.5 hours old.
      w.sim.webhooks.backdate(3 * 24 * 3_600_000 - 30 * 60_000);
      const attemptsBefore = w.sim.requests.filter((r) => r.path.endsWith("/attempts")).length;
      await Bun.sleep(3000);
      expect(w.sim.requests.filter((r) => r.path.endsWith("/attempts")).length).toBe(attemptsBefore);
      w.sim.webhooks.drop(1);
      w.sim.webhooks.configure({ url: `${b3.url}${HOOK}`, secret: SECRET });
      await w.sim.webhooks.settled();
      const recentPing = w.sim.webhooks.deliveries().at(-1)!;
      await eventually(() => w.sim.webhooks.deliveries().some((d) => d.guid === recentPing.guid && d.redelivery && d.status === "OK"), 8000, "the recent ping redelivered");
      expect(w.sim.webhooks.deliveries().some((d) => d.guid === oldPing.guid && d.redelivery)).toBe(false);
    } finally {
      w.sim.webhooks.configure({ url: `${b.url}${HOOK}`, secret: SECRET });
      await w.sim.webhooks.settled();
      await b3.stop();
    }
  }, 30_000);
});

describe("the secret", () => {
  test("never appears in logs, answers, metrics or the database", async () => {
    const metrics = (await b.call("GET", "/metrics")).text;
    await b.stop();
    const db = readFileSync(b.env.DATABASE_URL!.replace("sqlite://", "")).toString("latin1");
    const walFile = `${b.env.DATABASE_URL!.replace("sqlite://", "")}-wal`;
    const wal = (() => {
      try {
        return readFileSync(walFile).toString("latin1");
      } catch {
        return "";
      }
    })();
    for (const text of [b.logs(), db, wal, metrics, ...answers]) expect(text).not.toContain(SECRET);
    expect(b.logs()).toContain("GitHub webhooks enabled");
  });
});
