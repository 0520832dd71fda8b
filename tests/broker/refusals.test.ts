// What a caller who sends the wrong thing, or keeps sending it, sees and leaves behind: a 4xx
// problem that says what to fix (never a 500 "please report it"), and security events that stay
// one row per identity, reason and minute however often the refusal repeats.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { ADMIN, ALICE, policy, startBroker, startWorld, type Broker, type World } from "./harness.ts";

let w: World;
let b: Broker;
let admin: string;
let alice: string;

beforeAll(async () => {
  w = await startWorld();
  b = await startBroker(w.env({ CALLER_RATE_LIMIT: "1000" }));
  [admin, alice] = await Promise.all([w.token(ADMIN), w.token(ALICE)]);
  expect((await b.call("POST", "/api/v1/admin/label-policies", { token: admin, body: policy(ALICE) })).status).toBe(201);
});
afterAll(async () => {
  await b?.stop();
  await w?.close();
});

describe("a body that is not JSON", () => {
  test.each([
    ["text/plain", "POST", "/api/v1/runners/provision", "alice"],
    ["application/x-www-form-urlencoded", "POST", "/api/v1/runners/provision", "alice"],
    ["text/plain", "POST", "/api/v1/admin/label-policies", "admin"],
    ["(none)", "POST", "/api/v1/admin/label-policies", "admin"],
  ])("Content-Type %s on %s %s is 415 problem+json, never a 500", async (contentType, method, path, who) => {
    const headers: Record<string, string> = { authorization: `Bearer ${who === "admin" ? admin : alice}` };
    if (contentType !== "(none)") headers["content-type"] = contentType;
    const body = path.endsWith("provision") ? JSON.stringify({ runner_name: "plain-1", labels: ["team-a"] }) : JSON.stringify(policy(ALICE));
    const res = await fetch(`${b.url}${path}`, { method, headers, body });
    const json = (await res.json()) as Record<string, unknown>;
    expect(res.status).toBe(415);
    expect(res.headers.get("content-type")).toStartWith("application/problem+json");
    expect(json).toMatchObject({ type: "urn:ghapp-runner-broker:problem:unsupported_media_type", status: 415 });
    expect(String(json.detail)).toContain("Content-Type: application/json");
    expect(b.logs()).not.toContain("please report it");
    // Nothing reached GitHub.
    expect(w.sim.runners.list().some((r) => r.name === "plain-1")).toBe(false);
  });

  test("the OpenAPI document lists 415 for the routes that take a body", async () => {
    const doc = (await b.call("GET", "/openapi.json")).json;
    expect(Object.keys(doc.paths["/api/v1/runners/provision"].post.responses)).toContain("415");
    expect(Object.keys(doc.paths["/api/v1/admin/label-policies"].post.responses)).toContain("415");
  });
});

describe("repeated refusals", () => {
  test("one identity refused 40 times in a minute is one security event with a count; the audit log keeps a row per request", async () => {
    const before = (await b.call("GET", "/api/v1/admin/audit-log?limit=1000", { token: admin })).json.records.length;
    const answers = await Promise.all(Array.from({ length: 40 }, (_, i) => b.call("POST", "/api/v1/runners/provision", { token: alice, body: { runner_name: `greedy-${i}`, labels: ["prod-deploy"] } })));
    expect(new Set(answers.map((a) => a.status))).toEqual(new Set([403]));
    const events = (await b.call("GET", `/api/v1/admin/security-events?event_type=label_not_allowed&user=${encodeURIComponent(ALICE)}`, { token: admin })).json.events;
    // Two rows at most: the 40 requests may straddle a minute boundary.
    expect(events.length).toBeLessThanOrEqual(2);
    expect(events.reduce((n: number, e: any) => n + e.count, 0)).toBe(40);
    expect(events[0].last_at >= events[0].at).toBe(true);
    const audit = (await b.call("GET", "/api/v1/admin/audit-log?limit=1000", { token: admin })).json.records;
    expect(audit.length - before).toBe(40);
  });

  test("a non-administrator knocking on admin routes is one admin_forbidden event per minute, counted", async () => {
    for (let i = 0; i < 15; i++) expect((await b.call("GET", "/api/v1/admin/audit-log", { token: alice })).status).toBe(403);
    const events = (await b.call("GET", `/api/v1/admin/security-events?event_type=admin_forbidden&user=${encodeURIComponent(ALICE)}`, { token: admin })).json.events;
    expect(events.length).toBeLessThanOrEqual(2);
    expect(events.reduce((n: number, e: any) => n + e.count, 0)).toBe(15);
  });
});
