// The simulator's App webhook as a receiver meets it: signed workflow_job deliveries shaped like
// GitHub's (checked against @octokit/openapi-webhooks), drops, the App's delivery log behind the App
// JWT, and redelivery with the same GUID. The broker's webhook tests stand on these.
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { createHmac } from "node:crypto";
import Ajv from "ajv";
import jwt from "jsonwebtoken";
import webhooksSpec from "@octokit/openapi-webhooks/generated/api.github.com.json" with { type: "json" };
import restSpec from "@octokit/openapi/generated/api.github.com.json" with { type: "json" };
import { defaultInstallations, startSimulator, type Simulator } from "./simulator.ts";

const SECRET = "it's-a-secret-to-everybody-0123456789";

interface Received {
  headers: Record<string, string>;
  body: string;
}

let sim: Simulator;
let received: Received[] = [];
let answerWith = 202;
let receiver: ReturnType<typeof Bun.serve>;

beforeAll(async () => {
  receiver = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(req) {
      const headers: Record<string, string> = {};
      req.headers.forEach((v, k) => (headers[k] = v));
      received.push({ headers, body: await req.text() });
      return new Response("{}", { status: answerWith });
    },
  });
  const installations = defaultInstallations();
  installations[0]!.permissions.actions = "read";
  sim = await startSimulator({ installations });
});
afterAll(async () => {
  await sim.close();
  receiver.stop(true);
});
beforeEach(async () => {
  answerWith = 202;
  sim.webhooks.configure({ url: `http://127.0.0.1:${receiver.port}/hook`, secret: SECRET });
  await sim.webhooks.settled();
  received = [];
});
afterEach(() => sim.webhooks.configure(null));

const nowS = () => Math.floor(Date.now() / 1000);
const appJwt = () => jwt.sign({ iat: nowS() - 60, exp: nowS() + 540, iss: String(sim.app.id) }, sim.app.privateKeyPem, { algorithm: "RS256" });

/** One job on a fresh online runner in group 2: returns the runner's id. */
function runJob(name: string, finish = true): number {
  const r = sim.runners.seed({ name, labels: ["team-a"], runner_group_id: 2, status: "online" });
  sim.runners.startJob(r.id);
  if (finish) sim.runners.finishJob(r.id);
  return r.id;
}

const ajv = new Ajv({ strict: false, validateFormats: false, allErrors: true });
ajv.addSchema(webhooksSpec as object, "webhooks");
ajv.addSchema(restSpec as object, "rest");
const schemaFor = (action: string) => ajv.getSchema(`webhooks#/components/schemas/webhook-workflow-job-${action.replace("_", "-")}`)!;

describe("deliveries", () => {
  test("a runner taking a job and finishing it sends queued, in_progress and completed, signed with the secret", async () => {
    const id = runJob("hook-1");
    await sim.webhooks.settled();
    expect(received.map((r) => JSON.parse(r.body).action)).toEqual(["queued", "in_progress", "completed"]);
    for (const r of received) {
      expect(r.headers["x-hub-signature-256"]).toBe(`sha256=${createHmac("sha256", SECRET).update(r.body).digest("hex")}`);
      expect(r.headers["x-github-event"]).toBe("workflow_job");
      expect(r.headers["x-github-delivery"]).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
      expect(r.headers["x-github-hook-installation-target-type"]).toBe("integration");
      expect(r.headers["x-github-hook-installation-target-id"]).toBe(String(sim.app.id));
      expect(r.headers["user-agent"]).toStartWith("GitHub-Hookshot/");
      expect(r.headers["content-type"]).toBe("application/json");
      expect(r.body).not.toContain(SECRET);
    }
    const [queued, inProgress, completed] = received.map((r) => JSON.parse(r.body).workflow_job);
    expect(queued).toMatchObject({ status: "queued", runner_id: null, runner_name: null, runner_group_id: null, labels: ["self-hosted", "team-a"] });
    expect(inProgress).toMatchObject({ status: "in_progress", runner_id: id, runner_name: "hook-1", runner_group_id: 2 });
    expect(completed).toMatchObject({ status: "completed", conclusion: "success", runner_id: id, id: queued.id });
    expect(new Set(received.map((r) => r.headers["x-github-delivery"])).size).toBe(3);
  });

  test("every delivery is a full workflow_job payload as GitHub's webhook description has it", async () => {
    runJob("hook-schema");
    await sim.webhooks.settled();
    for (const r of received) {
      const payload = JSON.parse(r.body);
      const validate = schemaFor(payload.action);
      expect({ action: payload.action, valid: validate(payload), errors: validate.errors ?? null }).toEqual({ action: payload.action, valid: true, errors: null });
    }
  });

  test("without the Actions permission on the installation, GitHub sends no workflow_job delivery", async () => {
    const inst = sim.installations[0]!;
    delete inst.permissions.actions;
    try {
      runJob("hook-noperm");
      await sim.webhooks.settled();
      expect(received).toEqual([]);
    } finally {
      inst.permissions.actions = "read";
    }
  });

  test("configuring the webhook sends a ping", async () => {
    sim.webhooks.configure({ url: `http://127.0.0.1:${receiver.port}/hook`, secret: SECRET });
    await sim.webhooks.settled();
    expect(received).toHaveLength(1);
    expect(received[0]!.headers["x-github-event"]).toBe("ping");
    const ping = JSON.parse(received[0]!.body);
    expect(ping.hook.app_id).toBe(sim.app.id);
    const validate = ajv.getSchema("webhooks#/components/schemas/webhook-ping")!;
    expect({ valid: validate(ping), errors: validate.errors ?? null }).toEqual({ valid: true, errors: null });
    expect(received[0]!.body).not.toContain(SECRET);
  });
});

describe("the App's delivery log and redelivery", () => {
  const list = (query = "", auth = `Bearer ${appJwt()}`) => fetch(`${sim.url}/app/hook/deliveries${query}`, { headers: auth ? { authorization: auth } : {} });

  test("a dropped delivery never reaches the URL and is logged as failed; an answer other than 2xx is logged as failed too", async () => {
    sim.webhooks.drop(1);
    runJob("hook-drop", false);
    await sim.webhooks.settled();
    expect(received.map((r) => JSON.parse(r.body).action)).toEqual(["in_progress"]);
    answerWith = 500;
    sim.runners.finishJob(sim.runners.list().find((r) => r.name === "hook-drop")!.id);
    await sim.webhooks.settled();
    const log = (await (await list()).json()) as any[];
    expect(log[0]).toMatchObject({ event: "workflow_job", action: "completed", status: "Invalid HTTP Response: 500", status_code: 500, redelivery: false });
    expect(log[1]).toMatchObject({ action: "in_progress", status: "OK", status_code: 202 });
    expect(log[2]).toMatchObject({ action: "queued", status: "failed to connect", redelivery: false });
    expect(log[0]).not.toHaveProperty("request");
  });

  test("redelivery sends the same payload with the same GUID, logged as a redelivery", async () => {
    sim.webhooks.drop(1);
    runJob("hook-redeliver", false);
    await sim.webhooks.settled();
    const failed = ((await (await list()).json()) as any[]).find((d) => d.status !== "OK")!;
    const original = sim.webhooks.deliveries().find((d) => d.id === failed.id)!;
    received = [];
    const res = await fetch(`${sim.url}/app/hook/deliveries/${failed.id}/attempts`, { method: "POST", headers: { authorization: `Bearer ${appJwt()}` } });
    expect(res.status).toBe(202);
    await sim.webhooks.settled();
    expect(received).toHaveLength(1);
    expect(received[0]!.headers["x-github-delivery"]).toBe(failed.guid);
    expect(JSON.parse(received[0]!.body)).toEqual(original.request.payload as object);
    const log = (await (await list()).json()) as any[];
    expect(log[0]).toMatchObject({ guid: failed.guid, redelivery: true, status: "OK" });
    expect((await fetch(`${sim.url}/app/hook/deliveries/1/attempts`, { method: "POST", headers: { authorization: `Bearer ${appJwt()}` } })).status).toBe(404);
  });

  test("the log takes the App's JWT only, is newest first and pages with a cursor in Link", async () => {
    expect((await list("", "")).status).toBe(401);
    const token = [...sim.tokens.keys()][0];
    if (token) expect((await list("", `token ${token}`)).status).toBe(401);
    runJob("hook-page-1");
    runJob("hook-page-2");
    await sim.webhooks.settled();
    const all = (await (await list("?per_page=100")).json()) as any[];
    const item = ajv.getSchema("rest#/components/schemas/hook-delivery-item")!;
    for (const d of all) expect({ id: d.id, valid: item(d), errors: item.errors ?? null }).toEqual({ id: d.id, valid: true, errors: null });
    expect(all.map((d) => d.id)).toEqual([...all.map((d) => d.id)].sort((a, b) => b - a));
    const seen: number[] = [];
    let next: string | undefined = `${sim.url}/app/hook/deliveries?per_page=2`;
    while (next) {
      const res: Response = await fetch(next, { headers: { authorization: `Bearer ${appJwt()}` } });
      seen.push(...((await res.json()) as any[]).map((d) => d.id));
      next = /<([^>]+)>;\s*rel="next"/.exec(res.headers.get("link") ?? "")?.[1];
      if (next) expect(next).toContain("cursor=");
    }
    expect(seen).toEqual(all.map((d) => d.id));
    const failures = (await (await list("?per_page=100&status=failure")).json()) as any[];
    expect(failures.every((d) => d.status_code >= 400)).toBe(true);
  });
});
