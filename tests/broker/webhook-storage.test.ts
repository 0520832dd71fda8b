// Webhook deliveries in the broker's storage (migration 4), run against SQLite and a real PostgreSQL
// server: a GUID is accepted once across handles (replicas), processing is claimed exactly once,
// and a redelivery is asked for at most once per GUID.
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import type { Storage } from "../../generator/src/broker/storage/storage.ts";
import { BACKENDS, type TestDatabase } from "./storage-backends.ts";

function fakeClock(start = Date.parse("2026-03-01T12:00:00.000Z")) {
  let t = start;
  return { now: () => new Date(t), advance: (ms: number) => void (t += ms) };
}

const GUID = "72d3162e-cc78-11e3-81ab-4c9367dc0958";
const delivery = (guid = GUID, over: Record<string, unknown> = {}) => ({ guid, event: "workflow_job", action: "in_progress", workflowJobId: 2_000_001, runnerId: 101, runnerName: "build-1", runnerGroupId: 2, ...over });

for (const backend of BACKENDS) {
  describe(`webhook deliveries on ${backend.name}`, () => {
    let db: TestDatabase;
    let clock: ReturnType<typeof fakeClock>;
    const opened: Storage[] = [];
    const another = () => {
      const s = db.open({ now: clock.now });
      opened.push(s);
      return s;
    };
    const fresh = async () => {
      db = await backend.fresh();
      clock = fakeClock();
      const s = another();
      await s.migrate();
      return s;
    };

    beforeAll(() => backend.setUp(), 60_000);
    afterAll(() => backend.tearDown(), 30_000);
    afterEach(async () => {
      await Promise.all(opened.splice(0).map((s) => s.close()));
    });

    test("a delivery GUID is accepted once: recording it again, from any handle, is a replay", async () => {
      const s = await fresh();
      expect(await s.recordWebhookDelivery(delivery())).toBe(true);
      expect(await another().recordWebhookDelivery(delivery())).toBe(false);
      expect(await s.getWebhookDelivery(GUID)).toMatchObject({ guid: GUID, event: "workflow_job", action: "in_progress", workflowJobId: 2_000_001, runnerId: 101, runnerName: "build-1", runnerGroupId: 2, processedAt: null, outcome: null, receivedAt: clock.now() });
    });

    test("of ten handles recording one GUID at once, exactly one succeeds", async () => {
      await fresh();
      const handles = Array.from({ length: 10 }, another);
      const results = await Promise.all(handles.map((h) => h.recordWebhookDelivery(delivery())));
      expect(results.filter(Boolean)).toHaveLength(1);
    });

    test("processing is claimed once, and a claimed delivery leaves the unprocessed list", async () => {
      const s = await fresh();
      await s.recordWebhookDelivery(delivery());
      await s.recordWebhookDelivery(delivery("b1a2c3d4-0000-4000-8000-000000000002", { action: "queued", runnerId: null, runnerName: null, runnerGroupId: null }));
      clock.advance(60_000);
      const before = new Date(clock.now().getTime() - 30_000);
      expect((await s.listUnprocessedWebhookDeliveries({ receivedBefore: before })).map((d) => d.guid)).toEqual([GUID, "b1a2c3d4-0000-4000-8000-000000000002"]);
      const claims = await Promise.all([s.claimWebhookDelivery(GUID, "status_change"), another().claimWebhookDelivery(GUID, "no_change")]);
      expect(claims.filter(Boolean)).toHaveLength(1);
      expect((await s.getWebhookDelivery(GUID))?.processedAt).toEqual(clock.now());
      expect((await s.listUnprocessedWebhookDeliveries({ receivedBefore: before })).map((d) => d.guid)).toEqual(["b1a2c3d4-0000-4000-8000-000000000002"]);
    });

    test("a claim inside a transaction that throws is rolled back, so the delivery is processed later", async () => {
      const s = await fresh();
      await s.recordWebhookDelivery(delivery());
      await expect(
        s.transaction(async (tx) => {
          await tx.claimWebhookDelivery(GUID, "status_change");
          throw new Error("the runner update failed");
        }),
      ).rejects.toThrow("the runner update failed");
      expect((await s.getWebhookDelivery(GUID))?.processedAt).toBeNull();
    });

    test("a workflow job counts as completed once a completed delivery of it was received", async () => {
      const s = await fresh();
      await s.recordWebhookDelivery(delivery());
      expect(await s.isWorkflowJobCompleted(2_000_001)).toBe(false);
      await s.recordWebhookDelivery(delivery("c0ffee00-0000-4000-8000-000000000003", { action: "completed" }));
      expect(await s.isWorkflowJobCompleted(2_000_001)).toBe(true);
      expect(await s.isWorkflowJobCompleted(2_000_002)).toBe(false);
    });

    test("pruning forgets processed deliveries older than the cut, never unprocessed ones", async () => {
      const s = await fresh();
      await s.recordWebhookDelivery(delivery());
      await s.claimWebhookDelivery(GUID, "no_change");
      await s.recordWebhookDelivery(delivery("d0d0d0d0-0000-4000-8000-000000000004"));
      clock.advance(8 * 24 * 3_600_000);
      expect(await s.pruneWebhookDeliveries(new Date(clock.now().getTime() - 7 * 24 * 3_600_000))).toBe(1);
      expect(await s.getWebhookDelivery(GUID)).toBeNull();
      expect(await s.getWebhookDelivery("d0d0d0d0-0000-4000-8000-000000000004")).not.toBeNull();
    });

    test("a redelivery is asked for once per GUID, whichever handle asks", async () => {
      const s = await fresh();
      const results = await Promise.all([s, another(), another()].map((h) => h.recordRedeliveryRequest({ guid: GUID, githubDeliveryId: 90_000_001, result: "requested" })));
      expect(results.filter(Boolean)).toHaveLength(1);
      expect(await s.getRedeliveryRequest(GUID)).toEqual({ guid: GUID, githubDeliveryId: 90_000_001, result: "requested", requestedAt: clock.now() });
      expect(await s.getRedeliveryRequest("00000000-0000-4000-8000-000000000000")).toBeNull();
    });

    test("what is not a GUID, an event name or an outcome is refused before it reaches the database", async () => {
      const s = await fresh();
      await expect(s.recordWebhookDelivery(delivery("not a guid; DROP TABLE"))).rejects.toThrow(TypeError);
      await expect(s.recordWebhookDelivery(delivery(GUID, { event: "Workflow Job" }))).rejects.toThrow(TypeError);
      await expect(s.claimWebhookDelivery(GUID, "sha256=abc")).rejects.toThrow(TypeError);
      expect(await s.getWebhookDelivery(GUID)).toBeNull();
    });
  });
}
