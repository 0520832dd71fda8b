// The broker's storage suite, run against SQLite and a real PostgreSQL server: the same
// behaviour from both implementations of the one Storage interface.
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { GhappError } from "../../generator/src/core/errors.ts";
import { MIGRATIONS } from "../../generator/src/broker/storage/migrations/index.ts";
import { parseDatabaseUrl } from "../../generator/src/broker/storage/database-url.ts";
import { openStorage } from "../../generator/src/broker/storage/open.ts";
import { mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { LabelPolicy, RunnerReservation, Storage, TrustPolicy } from "../../generator/src/broker/storage/storage.ts";
import { BACKENDS, type TestDatabase } from "./storage-backends.ts";

/** A clock the test moves by hand. */
function fakeClock(start = Date.parse("2026-03-01T12:00:00.000Z")) {
  let t = start;
  return { now: () => new Date(t), advance: (ms: number) => void (t += ms), at: () => t };
}

const reservation = (over: Partial<RunnerReservation> = {}): RunnerReservation => ({
  name: "runner-1",
  provisionedBy: "repo:acme/app:ref:refs/heads/main",
  labels: ["self-hosted", "linux", "gpu"],
  ephemeral: true,
  mode: "jit",
  runnerGroupId: 2,
  maxRunners: 5,
  ...over,
});

const policy = (over: Partial<LabelPolicy> = {}): LabelPolicy => ({
  userIdentity: "team-a",
  allowedLabels: ["gpu", "linux"],
  labelPatterns: ["^team-a-[a-z]+$"],
  requiredLabels: ["team-a"],
  maxRunners: 3,
  allowRegistrationToken: false,
  runnerGroupId: 2,
  ...over,
});

const trustPolicy = (over: Partial<TrustPolicy> = {}): TrustPolicy => ({
  name: "team-a-deployer",
  issuer: "https://kubernetes.default.svc.cluster.local",
  audience: "ghapp-runner-broker",
  subject: "system:serviceaccount:team-a:deployer",
  claims: { "kubernetes.io.namespace": "team-a" },
  claimPatterns: {},
  owner: "acme-org",
  repositories: ["api", "web"],
  permissions: { contents: "write" },
  mode: "enforce",
  ...over,
});

const sha256 = (s: string) => createHash("sha256").update(s).digest("hex");

for (const backend of BACKENDS) {
  describe(`storage on ${backend.name}`, () => {
    let db: TestDatabase;
    let clock: ReturnType<typeof fakeClock>;
    let storage: Storage;
    const opened: Storage[] = [];

    /** Another handle (own connection/pool) on the test's database, sharing its clock. */
    const another = () => {
      const s = db.open({ now: clock.now });
      opened.push(s);
      return s;
    };

    beforeAll(() => backend.setUp(), 60_000);
    afterAll(() => backend.tearDown(), 30_000);

    // A fresh, migrated database per test.
    const fresh = async () => {
      db = await backend.fresh();
      clock = fakeClock();
      storage = another();
      await storage.migrate();
    };

    afterEach(async () => {
      await Promise.all(opened.splice(0).map((s) => s.close()));
    });

    // ---- migrations --------------------------------------------------------------------

    test("migrating a fresh database applies every migration once; migrating again applies none", async () => {
      db = await backend.fresh();
      clock = fakeClock();
      storage = another();
      const first = await storage.migrate();
      expect(first.applied).toEqual(MIGRATIONS.map((m) => m.version));
      expect(await storage.migrate()).toEqual({ applied: [], version: first.version });
      const rows = await db.raw("SELECT version, name FROM schema_migrations ORDER BY version");
      expect(rows.map((r) => [Number(r.version), r.name])).toEqual(MIGRATIONS.map((m) => [m.version, m.name]));
    });

    test("three processes migrating one fresh database at once apply each migration exactly once", async () => {
      db = await backend.fresh();
      clock = fakeClock();
      const results = await Promise.all([another(), another(), another()].map((s) => s.migrate()));
      expect(results.flatMap((r) => r.applied).sort()).toEqual(MIGRATIONS.map((m) => m.version));
      expect(new Set(results.map((r) => r.version)).size).toBe(1);
    });

    test("a database migrated by a newer broker is refused with a configuration error", async () => {
      await fresh();
      await db.raw(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, 'future', 0)`);
      const error = await storage.migrate().catch((e) => e);
      expect(error).toBeInstanceOf(GhappError);
      expect(error.exitCode).toBe(2);
      expect(error.message).toContain("version 999, newer than this broker knows");
    });

    // ---- runners -----------------------------------------------------------------------

    test("a reservation is a pending runner without GitHub id or secret hash, stamped by the clock", async () => {
      await fresh();
      const result = await storage.reserveRunner(reservation());
      expect(result.ok).toBe(true);
      if (!result.ok) return;
      expect(result.runner).toMatchObject({
        name: "runner-1",
        status: "pending",
        githubRunnerId: null,
        secretSha256: null,
        labels: ["self-hosted", "linux", "gpu"],
        ephemeral: true,
        mode: "jit",
        runnerGroupId: 2,
        provisionedBy: "repo:acme/app:ref:refs/heads/main",
        lastSeenAt: null,
        deletedAt: null,
      });
      expect(result.runner.createdAt.toISOString()).toBe("2026-03-01T12:00:00.000Z");
      expect(await storage.getRunnerById(result.runner.id)).toEqual(result.runner);
      expect(await storage.getRunnerByName("runner-1")).toEqual(result.runner);
    });

    test("updating a runner changes only the given fields and moves updatedAt", async () => {
      await fresh();
      const r = await storage.reserveRunner(reservation({ mode: "registration_token", ephemeral: false }));
      if (!r.ok) throw new Error("reservation refused");
      clock.advance(1500);
      const updated = await storage.updateRunner(r.runner.id, { githubRunnerId: 4242, secretSha256: sha256("x"), status: "active", lastSeenAt: clock.now() });
      expect(updated).toMatchObject({ githubRunnerId: 4242, secretSha256: sha256("x"), status: "active", labels: r.runner.labels, ephemeral: false, mode: "registration_token" });
      expect(updated!.updatedAt.getTime() - r.runner.createdAt.getTime()).toBe(1500);
      expect(updated!.lastSeenAt?.toISOString()).toBe("2026-03-01T12:00:01.500Z");
      expect(await storage.getRunnerByGithubId(4242)).toEqual(updated);
      expect(await storage.updateRunner(999_999, { status: "active" })).toBeNull();
    });

    test("a deleted runner stays deleted, frees its name and no longer counts against the quota", async () => {
      await fresh();
      const r = await storage.reserveRunner(reservation({ maxRunners: 1 }));
      if (!r.ok) throw new Error("reservation refused");
      expect(await storage.reserveRunner(reservation({ name: "runner-2", maxRunners: 1 }))).toMatchObject({ ok: false, reason: "quota_exceeded", held: 1 });
      clock.advance(10);
      const deleted = await storage.updateRunner(r.runner.id, { status: "deleted" });
      expect(deleted?.deletedAt?.getTime()).toBe(clock.at());
      clock.advance(10);
      const revived = await storage.updateRunner(r.runner.id, { status: "active", lastSeenAt: clock.now() });
      expect(revived).toMatchObject({ status: "deleted", deletedAt: deleted!.deletedAt, lastSeenAt: clock.now() });
      expect((await storage.updateRunner(r.runner.id, { status: "deleted" }))?.deletedAt).toEqual(deleted!.deletedAt);
      expect(await storage.countLiveRunners(r.runner.provisionedBy)).toBe(0);
      expect(await storage.getRunnerByName("runner-1")).toBeNull();
      expect((await storage.getRunnerByName("runner-1", { includeDeleted: true }))?.id).toBe(r.runner.id);
      // The name may be used again; the new runner is the one found by name from then on.
      const again = await storage.reserveRunner(reservation({ maxRunners: 1 }));
      expect(again.ok).toBe(true);
      if (again.ok) expect((await storage.getRunnerByName("runner-1", { includeDeleted: true }))?.id).toBe(again.runner.id);
    });

    test("a name held by anyone is taken, for every other identity too", async () => {
      await fresh();
      expect((await storage.reserveRunner(reservation())).ok).toBe(true);
      expect(await storage.reserveRunner(reservation({ provisionedBy: "someone-else" }))).toEqual({ ok: false, reason: "name_taken", held: 0 });
    });

    test("listing runners filters by owner, status, group and time, newest first, bounded by limit", async () => {
      await fresh();
      const ids: number[] = [];
      for (const [i, owner] of ["a", "a", "b", "a"].entries()) {
        const r = await storage.reserveRunner(reservation({ name: `r${i}`, provisionedBy: owner, runnerGroupId: i === 3 ? 3 : 2 }));
        if (!r.ok) throw new Error("reservation refused");
        ids.push(r.runner.id);
        clock.advance(1000);
      }
      await storage.updateRunner(ids[1]!, { status: "busy" });
      await storage.updateRunner(ids[0]!, { status: "deleted" });
      const names = async (f: Parameters<Storage["listRunners"]>[0]) => (await storage.listRunners(f)).map((r) => r.name);
      expect(await names({})).toEqual(["r3", "r2", "r1"]);
      expect(await names({ provisionedBy: "a" })).toEqual(["r3", "r1"]);
      expect(await names({ provisionedBy: "a", includeDeleted: true, order: "asc" })).toEqual(["r0", "r1", "r3"]);
      expect(await names({ status: "deleted" })).toEqual(["r0"]);
      expect(await names({ status: ["busy", "pending"] })).toEqual(["r3", "r2", "r1"]);
      expect(await names({ runnerGroupId: 3 })).toEqual(["r3"]);
      expect(await names({ since: new Date(Date.parse("2026-03-01T12:00:02.000Z")) })).toEqual(["r3", "r2"]);
      expect(await names({ limit: 1 })).toEqual(["r3"]);
      expect(await names({ order: "asc", limit: 2, afterId: ids[1]! })).toEqual(["r2", "r3"]);
      await expect(storage.listRunners({ limit: 1001 })).rejects.toThrow("limit must be an integer from 1 to 1000");
      await expect(storage.listRunners({ status: "gone" as never })).rejects.toThrow("status must be one of");
    });

    // ---- label policies ------------------------------------------------------------------

    test("putting a policy creates it, putting it again replaces it and keeps its creation time", async () => {
      await fresh();
      const first = await storage.putLabelPolicy(policy());
      expect(first.created).toBe(true);
      expect(first.policy).toMatchObject(policy());
      clock.advance(60_000);
      const second = await storage.putLabelPolicy(policy({ maxRunners: 7, allowRegistrationToken: true, labelPatterns: [] }));
      expect(second.created).toBe(false);
      expect(second.policy).toMatchObject({ maxRunners: 7, allowRegistrationToken: true, labelPatterns: [] });
      expect(second.policy.createdAt).toEqual(first.policy.createdAt);
      expect(second.policy.updatedAt.getTime() - first.policy.updatedAt.getTime()).toBe(60_000);
      expect(await storage.getLabelPolicy("team-a")).toEqual(second.policy);
    });

    test("policies are listed by identity, found exactly (no fallback to *) and deleted once", async () => {
      await fresh();
      await storage.putLabelPolicy(policy({ userIdentity: "zed" }));
      await storage.putLabelPolicy(policy({ userIdentity: "*" }));
      await storage.putLabelPolicy(policy({ userIdentity: "alpha" }));
      expect((await storage.listLabelPolicies()).map((p) => p.userIdentity)).toEqual(["*", "alpha", "zed"]);
      expect(await storage.getLabelPolicy("nobody-has-this")).toBeNull();
      expect(await storage.deleteLabelPolicy("alpha")).toBe(true);
      expect(await storage.deleteLabelPolicy("alpha")).toBe(false);
      expect(await storage.getLabelPolicy("alpha")).toBeNull();
    });

    // ---- trust policies --------------------------------------------------------------------

    test("a trust policy is stored as given, replaced by name keeping its creation time, listed by name and deleted once", async () => {
      await fresh();
      const first = await storage.putTrustPolicy(trustPolicy());
      expect(first.created).toBe(true);
      expect(first.policy).toMatchObject(trustPolicy());
      clock.advance(60_000);
      const changed = trustPolicy({ subject: undefined, subjectPattern: "system:serviceaccount:team-a:[a-z]+", repositories: "*", mode: "audit", claimPatterns: { "kubernetes.io.serviceaccount.name": "ci|release" } });
      const second = await storage.putTrustPolicy(changed);
      expect(second.created).toBe(false);
      expect(second.policy).toEqual({ ...changed, createdAt: first.policy.createdAt, updatedAt: new Date(first.policy.updatedAt.getTime() + 60_000) });
      expect("subject" in second.policy).toBe(false);
      await storage.putTrustPolicy(trustPolicy({ name: "alpha", issuer: "https://token.actions.githubusercontent.com" }));
      expect((await storage.listTrustPolicies()).map((p) => [p.name, p.issuer])).toEqual([
        ["alpha", "https://token.actions.githubusercontent.com"],
        ["team-a-deployer", "https://kubernetes.default.svc.cluster.local"],
      ]);
      expect(await storage.getTrustPolicy("alpha")).toMatchObject({ name: "alpha", owner: "acme-org" });
      expect(await storage.deleteTrustPolicy("alpha")).toBe(true);
      expect(await storage.deleteTrustPolicy("alpha")).toBe(false);
      expect(await storage.getTrustPolicy("alpha")).toBeNull();
    });

    test("a trust policy written in a transaction that fails is not stored", async () => {
      await fresh();
      await expect(
        storage.transaction(async (tx) => {
          await tx.putTrustPolicy(trustPolicy());
          throw new Error("the audit write failed");
        }),
      ).rejects.toThrow("the audit write failed");
      expect(await storage.listTrustPolicies()).toEqual([]);
    });

    // ---- audit log and security events -----------------------------------------------------

    test("audit records are filtered by user, action and time, newest first, and paged in ascending order", async () => {
      await fresh();
      for (const [actor, action] of [["alice", "runner.provision"], ["bob", "runner.provision"], ["alice", "runner.deprovision"], ["system", "sync.status_change"]] as const) {
        await storage.appendAudit({ actor, action, result: "success", runnerName: "r", details: { n: actor } });
        clock.advance(1000);
      }
      const actions = async (f: Parameters<Storage["listAudit"]>[0]) => (await storage.listAudit(f)).map((r) => `${r.actor}:${r.action}`);
      expect(await actions({ user: "alice" })).toEqual(["alice:runner.deprovision", "alice:runner.provision"]);
      expect(await actions({ action: "runner.provision" })).toEqual(["bob:runner.provision", "alice:runner.provision"]);
      expect(await actions({ since: new Date("2026-03-01T12:00:02.000Z") })).toEqual(["system:sync.status_change", "alice:runner.deprovision"]);
      expect(await actions({ limit: 2 })).toHaveLength(2);
      const page1 = await storage.listAudit({ order: "asc", limit: 3 });
      const page2 = await storage.listAudit({ order: "asc", limit: 3, afterId: page1.at(-1)!.id });
      expect([...page1, ...page2].map((r) => r.actor)).toEqual(["alice", "bob", "alice", "system"]);
      expect(page1[0]).toMatchObject({ result: "success", runnerName: "r", githubRunnerId: null, details: { n: "alice" }, at: new Date("2026-03-01T12:00:00.000Z") });
    });

    test("audit records are filtered by result and a time range, and paged newest first (the dashboard's audit page)", async () => {
      await fresh();
      for (const [actor, result] of [["alice", "success"], ["bob", "denied"], ["alice", "denied"], ["carol", "failure"], ["alice", "denied"]] as const) {
        await storage.appendAudit({ actor, action: "runner.provision", result });
        clock.advance(1000);
      }
      const actors = async (f: Parameters<Storage["listAudit"]>[0]) => (await storage.listAudit(f)).map((r) => `${r.actor}:${r.result}`);
      expect(await actors({ result: "denied" })).toEqual(["alice:denied", "alice:denied", "bob:denied"]);
      expect(await actors({ since: new Date("2026-03-01T12:00:01.000Z"), until: new Date("2026-03-01T12:00:03.000Z") })).toEqual(["carol:failure", "alice:denied", "bob:denied"]);
      const page1 = await storage.listAudit({ limit: 2 });
      const page2 = await storage.listAudit({ limit: 2, beforeId: page1.at(-1)!.id });
      const page3 = await storage.listAudit({ limit: 2, beforeId: page2.at(-1)!.id });
      expect([...page1, ...page2, ...page3].map((r) => r.actor)).toEqual(["alice", "carol", "alice", "bob", "alice"]);
      expect(await actors({ user: "alice", result: "denied", beforeId: page1[0]!.id })).toEqual(["alice:denied"]);
    });

    test("runners and security events page newest first with beforeId; security events end at until", async () => {
      await fresh();
      for (const name of ["r1", "r2", "r3"]) await storage.reserveRunner({ name, provisionedBy: "alice", labels: ["x"], ephemeral: true, mode: "jit", runnerGroupId: 2, maxRunners: 10 });
      const first = await storage.listRunners({ limit: 2 });
      expect(first.map((r) => r.name)).toEqual(["r3", "r2"]);
      expect((await storage.listRunners({ limit: 2, beforeId: first.at(-1)!.id })).map((r) => r.name)).toEqual(["r1"]);
      for (const eventType of ["a_event", "b_event"]) await storage.recordSecurityEvent({ eventType, severity: "low", actionTaken: "none" });
      const events = await storage.listSecurityEvents({ limit: 1 });
      expect((await storage.listSecurityEvents({ beforeId: events[0]!.id })).map((e) => e.eventType)).toEqual(["a_event"]);
      const at = events[0]!.at;
      expect((await storage.listSecurityEvents({ until: new Date(at.getTime() - 1) })).map((e) => e.eventType)).toEqual([]);
      expect((await storage.listSecurityEvents({ since: at, until: at })).map((e) => e.eventType).sort()).toEqual(["a_event", "b_event"]);
    });

    test("security events are filtered by user, type and time", async () => {
      await fresh();
      await storage.recordSecurityEvent({ eventType: "label_not_allowed", severity: "medium", userIdentity: "alice", actionTaken: "request_refused", details: { label: "prod" } });
      clock.advance(5000);
      await storage.recordSecurityEvent({ eventType: "unprovisioned_runner", severity: "high", runnerName: "intruder", githubRunnerId: 77, actionTaken: "runner_removed" });
      clock.advance(5000);
      await storage.recordSecurityEvent({ eventType: "quota_exceeded", severity: "low", userIdentity: "alice", actionTaken: "request_refused" });
      const types = async (f: Parameters<Storage["listSecurityEvents"]>[0]) => (await storage.listSecurityEvents(f)).map((e) => e.eventType);
      expect(await types({})).toEqual(["quota_exceeded", "unprovisioned_runner", "label_not_allowed"]);
      expect(await types({ user: "alice" })).toEqual(["quota_exceeded", "label_not_allowed"]);
      expect(await types({ eventType: "unprovisioned_runner" })).toEqual(["unprovisioned_runner"]);
      expect(await types({ since: new Date("2026-03-01T12:00:05.000Z"), limit: 1 })).toEqual(["quota_exceeded"]);
      const [intruder] = await storage.listSecurityEvents({ eventType: "unprovisioned_runner" });
      expect(intruder).toMatchObject({ severity: "high", userIdentity: null, runnerName: "intruder", githubRunnerId: 77, actionTaken: "runner_removed", details: {} });
    });

    test("repeated refusals of one identity are one security event per type and minute, with a count; what the sync did stays one row each", async () => {
      await fresh();
      const refuse = (s: Storage, user: string, eventType = "label_not_allowed") => s.recordSecurityEvent({ eventType, severity: "medium", userIdentity: user, runnerName: `r-${user}`, actionTaken: "request_refused", details: { labels: ["prod"] } });
      const first = await refuse(storage, "alice");
      expect([first.count, first.lastAt.getTime()]).toEqual([1, first.at.getTime()]);
      clock.advance(1000);
      // Two replicas refusing the same identity at once add to the same row.
      const [a, b] = [another(), another()];
      await Promise.all(Array.from({ length: 20 }, (_, i) => refuse(i % 2 ? a : b, "alice")));
      await refuse(storage, "alice", "quota_exceeded");
      await refuse(storage, "bob");
      clock.advance(60_000);
      await refuse(storage, "alice");
      for (let i = 0; i < 2; i++) await storage.recordSecurityEvent({ eventType: "unprovisioned_runner", severity: "high", runnerName: "intruder", githubRunnerId: 77, actionTaken: "runner_removed" });
      const events = await storage.listSecurityEvents({ order: "asc" });
      expect(events.map((e) => [e.userIdentity, e.eventType, e.count])).toEqual([
        ["alice", "label_not_allowed", 21],
        ["alice", "quota_exceeded", 1],
        ["bob", "label_not_allowed", 1],
        ["alice", "label_not_allowed", 1],
        [null, "unprovisioned_runner", 1],
        [null, "unprovisioned_runner", 1],
      ]);
      expect(events[0]!.at.getTime()).toBe(first.at.getTime());
      expect(events[0]!.lastAt.getTime()).toBe(first.at.getTime() + 1000);
      expect(events[0]!.details).toEqual({ labels: ["prod"] });
    });

    test("the runner groups the sync cannot read are replaced as a whole and read back by any handle", async () => {
      await fresh();
      expect(await storage.listSyncGroupFailures()).toEqual([]);
      const since = new Date("2026-03-01T11:00:00.000Z");
      await storage.setSyncGroupFailures([
        { runnerGroupId: 7, code: "not_found", reason: "GitHub has no runner group 7", since },
        { runnerGroupId: 3, code: "github_unavailable", reason: "GitHub is unavailable", since },
      ]);
      expect((await another().listSyncGroupFailures()).map((f) => [f.runnerGroupId, f.code, f.reason, f.since.getTime()])).toEqual([
        [3, "github_unavailable", "GitHub is unavailable", since.getTime()],
        [7, "not_found", "GitHub has no runner group 7", since.getTime()],
      ]);
      await storage.setSyncGroupFailures([{ runnerGroupId: 7, code: "not_found", reason: "GitHub has no runner group 7", since }]);
      expect((await storage.listSyncGroupFailures()).map((f) => f.runnerGroupId)).toEqual([7]);
      await storage.setSyncGroupFailures([]);
      expect(await storage.listSyncGroupFailures()).toEqual([]);
      await expect(storage.setSyncGroupFailures([{ runnerGroupId: 1, code: "Not Found!", reason: "x", since }])).rejects.toThrow(TypeError);
    });

    test("a policy keeps the repositories and workflows it names, and the exposed runner groups are read back by any handle", async () => {
      await fresh();
      const base = { allowedLabels: ["linux"], labelPatterns: [], requiredLabels: [], maxRunners: 2, allowRegistrationToken: false, runnerGroupId: 2 };
      await storage.putLabelPolicy({ ...base, userIdentity: "acme", repositories: ["acme-org/api"], workflows: ["acme-org/api/.github/workflows/ci.yml@refs/heads/main"] });
      await storage.putLabelPolicy({ ...base, userIdentity: "older" });
      const acme = await another().getLabelPolicy("acme");
      expect([acme!.repositories, acme!.workflows]).toEqual([["acme-org/api"], ["acme-org/api/.github/workflows/ci.yml@refs/heads/main"]]);
      const older = await storage.getLabelPolicy("older");
      expect([older!.repositories, older!.workflows]).toEqual([[], []]);
      const since = new Date("2026-03-01T11:00:00.000Z");
      await storage.setRunnerGroupExposures("acme-org", [{ runnerGroupId: 5, reasons: ["public_repositories", "visibility_all"], since }]);
      expect((await another().listRunnerGroupExposures()).map((e) => [e.org, e.runnerGroupId, e.reasons, e.since.getTime()])).toEqual([["acme-org", 5, ["public_repositories", "visibility_all"], since.getTime()]]);
      await storage.setRunnerGroupExposures("acme-org", []);
      expect(await storage.listRunnerGroupExposures()).toEqual([]);
      await expect(storage.setRunnerGroupExposures("acme-org", [{ runnerGroupId: 5, reasons: ["Visible!"], since }])).rejects.toThrow(TypeError);
    });

    test("unauthenticated failures are added up per minute and reason, so a flood is a few rows", async () => {
      await fresh();
      for (let i = 0; i < 30; i++) await storage.addUnauthenticatedFailures([{ reason: "invalid_token", count: 100 }, { reason: "missing_token", count: 1 }]);
      clock.advance(60_000);
      await storage.addUnauthenticatedFailures([{ reason: "invalid_token", count: 2 }, { reason: "expired", count: 0 }]);
      const buckets = await storage.listUnauthenticatedFailures({ since: new Date(0) });
      expect(buckets.map((b) => [b.bucketStart.toISOString(), b.reason, b.count])).toEqual([
        ["2026-03-01T12:00:00.000Z", "invalid_token", 3000],
        ["2026-03-01T12:00:00.000Z", "missing_token", 30],
        ["2026-03-01T12:01:00.000Z", "invalid_token", 2],
      ]);
      await expect(storage.addUnauthenticatedFailures([{ reason: "Bearer eyJ…", count: 1 }])).rejects.toThrow("reason must be a code");
    });

    // ---- transactions ---------------------------------------------------------------------

    test("a change and its audit record commit together", async () => {
      await fresh();
      const id = await storage.transaction(async (tx) => {
        const r = await tx.reserveRunner(reservation());
        if (!r.ok) throw new Error("reservation refused");
        await tx.appendAudit({ actor: r.runner.provisionedBy, action: "runner.provision", result: "success", runnerName: r.runner.name });
        await tx.recordSecurityEvent({ eventType: "none", severity: "low", actionTaken: "none" });
        return r.runner.id;
      });
      expect((await storage.getRunnerById(id))?.name).toBe("runner-1");
      expect(await storage.listAudit({ runnerName: "runner-1" })).toHaveLength(1);
      expect(await storage.listSecurityEvents({})).toHaveLength(1);
    });

    test("when the transaction throws, the change, its audit record and security event all roll back and the error comes out unchanged", async () => {
      await fresh();
      await storage.putLabelPolicy(policy());
      const mine = new Error("GitHub said no");
      const thrown = await storage
        .transaction(async (tx) => {
          await tx.reserveRunner(reservation());
          await tx.appendAudit({ actor: "team-a", action: "runner.provision", result: "success" });
          await tx.recordSecurityEvent({ eventType: "label_not_allowed", severity: "medium", actionTaken: "request_refused" });
          await tx.deleteLabelPolicy("team-a");
          throw mine;
        })
        .catch((e) => e);
      expect(thrown).toBe(mine);
      expect(await storage.listRunners({ includeDeleted: true })).toEqual([]);
      expect(await storage.listAudit()).toEqual([]);
      expect(await storage.listSecurityEvents()).toEqual([]);
      expect(await storage.getLabelPolicy("team-a")).not.toBeNull();
      // And the handle still works afterwards.
      expect((await storage.reserveRunner(reservation())).ok).toBe(true);
    });

    test("calling the Storage itself inside its own transaction is refused at once, not a hang", async () => {
      await fresh();
      const error = await storage
        .transaction(async () => {
          await storage.reserveRunner(reservation());
        })
        .catch((e) => e);
      expect(error).toBeInstanceOf(TypeError);
      expect(error.message).toContain("use the transaction's tx argument");
      expect(await storage.listRunners()).toEqual([]);
      // Concurrent top-level calls are not nested ones.
      const [a, b] = await Promise.all([storage.reserveRunner(reservation({ name: "a" })), storage.transaction((tx) => tx.reserveRunner(reservation({ name: "b" })))]);
      expect([a.ok, b.ok]).toEqual([true, true]);
    });

    test("a write held up by another process's lock longer than lockTimeoutMs fails as unavailable, and works once it is free", async () => {
      await fresh();
      const impatient = db.open({ now: clock.now, lockTimeoutMs: 300 });
      opened.push(impatient);
      const release = await db.holdQuotaLock("repo:acme/app:ref:refs/heads/main");
      const started = Date.now();
      const error = await impatient.reserveRunner(reservation()).catch((e) => e);
      const waited = Date.now() - started;
      await release();
      expect(error).toBeInstanceOf(GhappError);
      expect(error.exitCode).toBe(5);
      expect(waited).toBeGreaterThanOrEqual(250);
      expect((await impatient.reserveRunner(reservation())).ok).toBe(true);
    });

    // ---- quota and names under concurrency ------------------------------------------------

    test("50 concurrent reservations by one identity with max_runners 5, from several handles, give exactly 5", async () => {
      await fresh();
      // Separate handles stand for replicas (PostgreSQL: own pools) or processes (SQLite: own connections).
      const handles = [storage, another(), another()];
      const results = await Promise.all(
        Array.from({ length: 50 }, (_, i) =>
          handles[i % handles.length]!.transaction(async (tx) => {
            const r = await tx.reserveRunner(reservation({ name: `c-${i}`, maxRunners: 5 }));
            await tx.appendAudit({ actor: "repo:acme/app:ref:refs/heads/main", action: "runner.provision", result: r.ok ? "success" : "denied", runnerName: `c-${i}` });
            return r;
          }),
        ),
      );
      expect(results.filter((r) => r.ok)).toHaveLength(5);
      expect(results.filter((r) => !r.ok && r.reason === "quota_exceeded")).toHaveLength(45);
      expect(await storage.countLiveRunners("repo:acme/app:ref:refs/heads/main")).toBe(5);
      expect(await storage.listAudit({ limit: 100 })).toHaveLength(50);
    }, 30_000);

    test("three separate processes making 17 reservations each for one identity with max_runners 5 get 5 between them", async () => {
      await fresh();
      const startAt = String(Date.now() + 1500);
      const procs = [1, 2, 3].map((tag) =>
        Bun.spawn(["bun", join(import.meta.dir, "fixtures/reserve-many.ts"), db.url, "17", String(tag)], { stdout: "pipe", stderr: "pipe", env: { ...process.env, START_AT: startAt } }),
      );
      const outputs = await Promise.all(procs.map(async (p) => ({ code: await p.exited, out: await new Response(p.stdout).text(), err: await new Response(p.stderr).text() })));
      for (const o of outputs) expect(o.err + o.code).toBe("0");
      expect(outputs.reduce((n, o) => n + Number(o.out.trim()), 0)).toBe(5);
      expect(await storage.countLiveRunners("shared-identity")).toBe(5);
      expect(await storage.listAudit({ limit: 100 })).toHaveLength(51);
    }, 60_000);

    test("20 identities racing for one runner name: exactly one gets it", async () => {
      await fresh();
      const handles = [storage, another(), another()];
      const results = await Promise.all(Array.from({ length: 20 }, (_, i) => handles[i % 3]!.reserveRunner(reservation({ name: "contested", provisionedBy: `id-${i}` }))));
      expect(results.filter((r) => r.ok)).toHaveLength(1);
      expect(results.filter((r) => !r.ok && r.reason === "name_taken")).toHaveLength(19);
      expect(await storage.listRunners({ includeDeleted: true })).toHaveLength(1);
    }, 30_000);

    // ---- pre-existing runners --------------------------------------------------------------

    test("a runner group's baseline is recorded once, by whichever replica is first", async () => {
      await fresh();
      const handles = [storage, another(), another()];
      const firsts = await Promise.all(handles.map((h, i) => h.recordBaseline(2, [{ githubRunnerId: 10 + i, name: `old-${i}` }])));
      expect(firsts.filter(Boolean)).toHaveLength(1);
      const winner = firsts.indexOf(true);
      expect(await storage.listPreexistingRunners()).toEqual([{ githubRunnerId: 10 + winner, name: `old-${winner}`, runnerGroupId: 2, recordedAt: clock.now() }]);
      expect(await storage.isPreexistingRunner(10 + winner)).toBe(true);
      expect(await storage.isPreexistingRunner(10 + ((winner + 1) % 3))).toBe(false);
      expect(await storage.recordBaseline(3, [])).toBe(true);
      expect(await storage.listBaselineGroups()).toEqual([2, 3]);
    });

    // ---- several organisations ---------------------------------------------------------

    test("runners and policies carry their organisation, and runners are listed by organisation", async () => {
      await fresh();
      await storage.reserveRunner(reservation({ name: "in-a", org: "acme-org" }));
      await storage.reserveRunner(reservation({ name: "in-b", org: "acme-labs" }));
      expect((await storage.getRunnerByName("in-b"))?.org).toBe("acme-labs");
      expect((await another().listRunners({ org: "acme-org" })).map((r) => r.name)).toEqual(["in-a"]);
      expect((await storage.listRunners({ org: "acme-labs" })).map((r) => r.name)).toEqual(["in-b"]);
      await storage.putLabelPolicy(policy({ org: "acme-labs" }));
      expect((await storage.getLabelPolicy("team-a"))?.org).toBe("acme-labs");
    });

    test("rows from before several organisations get the organisation the broker served, once, and keep an organisation they have", async () => {
      await fresh();
      await storage.reserveRunner(reservation({ name: "old" }));
      await storage.reserveRunner(reservation({ name: "new", org: "acme-labs" }));
      await storage.putLabelPolicy(policy());
      await storage.recordBaseline(2, [{ githubRunnerId: 11, name: "pre" }]);
      expect((await storage.getRunnerByName("old"))?.org).toBe("");
      await storage.assignOrg("acme-org");
      await another().assignOrg("someone-else");
      expect((await storage.getRunnerByName("old"))?.org).toBe("acme-org");
      expect((await storage.getRunnerByName("new"))?.org).toBe("acme-labs");
      expect((await storage.getLabelPolicy("team-a"))?.org).toBe("acme-org");
      expect(await storage.listBaselineGroups("acme-org")).toEqual([2]);
      expect(await storage.listBaselineGroups("someone-else")).toEqual([]);
    });

    test("a runner group's baseline is per organisation: group 2 of one is not group 2 of another", async () => {
      await fresh();
      expect(await storage.recordBaseline(2, [{ githubRunnerId: 21, name: "pre-a" }], "acme-org")).toBe(true);
      expect(await storage.recordBaseline(2, [{ githubRunnerId: 22, name: "pre-b" }], "acme-labs")).toBe(true);
      expect(await storage.recordBaseline(2, [], "acme-labs")).toBe(false);
      expect(await storage.listBaselineGroups("acme-labs")).toEqual([2]);
      expect(await storage.isPreexistingRunner(22)).toBe(true);
    });

    test("failing runner groups of two organisations with the same group id are both kept", async () => {
      await fresh();
      const since = new Date("2026-03-01T11:00:00.000Z");
      await storage.setSyncGroupFailures([
        { org: "acme-org", runnerGroupId: 2, code: "not_found", reason: "GitHub has no runner group 2", since },
        { org: "acme-labs", runnerGroupId: 2, code: "github_misconfigured", reason: "the installation is gone", since },
      ]);
      expect((await another().listSyncGroupFailures()).map((f) => [f.org, f.runnerGroupId, f.code])).toEqual([
        ["acme-labs", 2, "github_misconfigured"],
        ["acme-org", 2, "not_found"],
      ]);
    });

    test("exposed runner groups of two organisations with the same group id keep separate exposures", async () => {
      await fresh();
      const since = new Date("2026-03-01T11:00:00.000Z");
      const later = new Date("2026-03-02T11:00:00.000Z");
      await storage.setRunnerGroupExposures("acme-org", [{ runnerGroupId: 2, reasons: ["visibility_all"], since }]);
      await another().setRunnerGroupExposures("acme-labs", [{ runnerGroupId: 2, reasons: ["public_repositories"], since: later }]);
      const listed = async () => (await another().listRunnerGroupExposures()).map((e) => [e.org, e.runnerGroupId, e.reasons, e.since.getTime()]);
      expect(await listed()).toEqual([
        ["acme-labs", 2, ["public_repositories"], later.getTime()],
        ["acme-org", 2, ["visibility_all"], since.getTime()],
      ]);
      // One organisation's round replaces its own exposures only.
      await storage.setRunnerGroupExposures("acme-org", []);
      expect(await listed()).toEqual([["acme-labs", 2, ["public_repositories"], later.getTime()]]);
    });

    test("exposures recorded before migration 8 (no organisation) get the organisation the broker served", async () => {
      await fresh();
      const since = new Date("2026-03-01T11:00:00.000Z");
      await db.raw(`INSERT INTO runner_group_exposures_by_org (org, runner_group_id, reasons, since) VALUES ('', 3, '["visibility_all"]', ${since.getTime()})`);
      await storage.assignOrg("Acme-Org");
      await another().assignOrg("someone-else");
      expect((await storage.listRunnerGroupExposures()).map((e) => [e.org, e.runnerGroupId, e.reasons])).toEqual([["acme-org", 3, ["visibility_all"]]]);
    });

    // ---- lease -------------------------------------------------------------------------

    test("a lease has one holder at a time: the holder renews, another is refused until it expires", async () => {
      await fresh();
      const a = await storage.acquireLease("sync", "replica-a", 30_000);
      expect(a).toMatchObject({ holder: "replica-a", generation: 1, expiresAt: new Date(clock.at() + 30_000) });
      expect(await another().acquireLease("sync", "replica-b", 30_000)).toBeNull();
      clock.advance(20_000);
      const renewed = await storage.renewLease("sync", "replica-a", 30_000);
      expect(renewed).toMatchObject({ holder: "replica-a", generation: 1, acquiredAt: a!.acquiredAt, expiresAt: new Date(clock.at() + 30_000) });
      expect(await storage.acquireLease("sync", "replica-a", 30_000)).toMatchObject({ generation: 1 });
      expect(await storage.renewLease("sync", "replica-b", 30_000)).toBeNull();
      expect(await storage.releaseLease("sync", "replica-b")).toBe(false);
      expect((await storage.getLease("sync"))?.holder).toBe("replica-a");
    });

    test("after the holder stops renewing, another takes the lease over and the old holder cannot renew", async () => {
      await fresh();
      await storage.acquireLease("sync", "replica-a", 30_000);
      clock.advance(30_000);
      const b = await another().acquireLease("sync", "replica-b", 30_000);
      expect(b).toMatchObject({ holder: "replica-b", generation: 2, acquiredAt: clock.now() });
      expect(await storage.renewLease("sync", "replica-a", 30_000)).toBeNull();
      expect(await storage.acquireLease("sync", "replica-a", 30_000)).toBeNull();
    });

    test("a released lease is free at once for another holder", async () => {
      await fresh();
      await storage.acquireLease("sync", "replica-a", 30_000);
      expect(await storage.releaseLease("sync", "replica-a")).toBe(true);
      expect(await storage.acquireLease("sync", "replica-b", 30_000)).toMatchObject({ holder: "replica-b", generation: 2 });
    });

    test("of ten replicas asking for a free lease at once, exactly one gets it", async () => {
      await fresh();
      const handles = [storage, another(), another()];
      const leases = await Promise.all(Array.from({ length: 10 }, (_, i) => handles[i % 3]!.acquireLease("sync", `replica-${i}`, 30_000)));
      expect(leases.filter((l) => l !== null)).toHaveLength(1);
    });

    // ---- secrets -------------------------------------------------------------------------

    test("the interface takes only a secret's SHA-256, and audit details shaped like secrets are refused", async () => {
      await fresh();
      const r = await storage.reserveRunner(reservation());
      if (!r.ok) throw new Error("reservation refused");
      const jitConfig = Buffer.from(JSON.stringify({ ".runner": "x".repeat(300), ".credentials": "y".repeat(300) })).toString("base64");
      const installationToken = `ghs_${"A1b2C3d4".repeat(5)}`;
      await expect(storage.updateRunner(r.runner.id, { secretSha256: jitConfig })).rejects.toThrow("never the secret");
      await expect(storage.updateRunner(r.runner.id, { secretSha256: sha256(jitConfig).toUpperCase() })).rejects.toThrow(TypeError);
      await expect(storage.appendAudit({ actor: "a", action: "runner.provision", result: "success", details: { encoded_jit_config: jitConfig } })).rejects.toThrow("shaped like a secret");
      await expect(storage.recordSecurityEvent({ eventType: "x", severity: "low", actionTaken: "none", details: { token: installationToken } })).rejects.toThrow("shaped like a secret");
      expect(await storage.listAudit()).toEqual([]);
    });

    test("after a provisioning flow the database holds the secrets' hashes and never the secrets", async () => {
      await fresh();
      const jitConfig = Buffer.from(JSON.stringify({ ".runner": "r".repeat(200), ".credentials_rsaparams": "k".repeat(400) })).toString("base64");
      const registrationToken = "AABF3JGZDX3P5PMEXLND6TS6FCWO6";
      for (const [name, mode, secret] of [["jit-1", "jit", jitConfig], ["reg-1", "registration_token", registrationToken]] as const) {
        await storage.transaction(async (tx) => {
          const r = await tx.reserveRunner(reservation({ name, mode }));
          if (!r.ok) throw new Error("reservation refused");
          await tx.updateRunner(r.runner.id, { githubRunnerId: 100, secretSha256: sha256(secret) });
          await tx.appendAudit({ actor: r.runner.provisionedBy, action: "runner.provision", result: "success", runnerName: name, details: { secret_sha256: sha256(secret), mode } });
        });
      }
      const contents = await db.contents();
      expect(contents).toContain(sha256(jitConfig));
      expect(contents).toContain(sha256(registrationToken));
      expect(contents.includes(jitConfig.slice(0, 40)) ? "jit config stored" : "clean").toBe("clean");
      expect(contents.includes(registrationToken) ? "registration token stored" : "clean").toBe("clean");
    });

    test("the schema itself refuses a secret in the hash column, whatever code writes it", async () => {
      await fresh();
      const p = backend.name === "sqlite" ? (n: number) => `?${n}` : (n: number) => `$${n}`;
      const insert = `INSERT INTO runners (name, labels, ephemeral, mode, status, provisioned_by, runner_group_id, secret_sha256, created_at, updated_at)
        VALUES ('raw', '[]', ${p(1)}, 'jit', 'pending', 'x', 2, ${p(2)}, 0, 0)`;
      await expect(db.raw(insert, [true, "AABF3JGZDX3P5PMEXLND6TS6FCWO6"])).rejects.toThrow();
      await db.raw(insert, [true, sha256("fine")]);
    });

    // ---- the database failing ---------------------------------------------------------------

    if (backend.name === "postgres") {
      test("a wrong password is a configuration error naming DATABASE_URL, and no password appears in it", async () => {
        await fresh();
        const url = new URL(db.url);
        const right = decodeURIComponent(url.password);
        url.password = "wrong-Passw0rd-xyz";
        const error = await openStorage(url.href).migrate().catch((e) => e);
        expect(error).toBeInstanceOf(GhappError);
        expect(error.exitCode).toBe(2);
        expect(error.message).toContain("DATABASE_URL");
        expect(error.message).toContain(":***@127.0.0.1");
        for (const secret of ["wrong-Passw0rd-xyz", right]) expect(error.message.includes(secret) ? "password in message" : "clean").toBe("clean");
      });

      test("a read-only database (a standby) is 'unavailable' for writes, never a silent success", async () => {
        await fresh();
        const name = new URL(db.url).pathname.slice(1);
        await db.raw(`ALTER DATABASE ${name} SET default_transaction_read_only = on`);
        const s = another(); // a new pool: the setting applies to new sessions
        const error = await s.appendAudit({ actor: "a", action: "x", result: "success" }).catch((e) => e);
        expect(error).toBeInstanceOf(GhappError);
        expect(error.exitCode).toBe(5);
        expect(await s.listAudit()).toEqual([]);
      });

      test("a database that does not exist is a configuration error", async () => {
        await fresh();
        const url = new URL(db.url);
        url.pathname = "/no_such_database";
        const error = await openStorage(url.href).migrate().catch((e) => e);
        expect(error.exitCode).toBe(2);
      });

      test("a server that does not answer is 'unavailable' (exit 5), and the password stays out of the message", async () => {
        await fresh();
        const url = new URL(db.url);
        const listener = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
        url.port = String(listener.port);
        listener.stop(true);
        const s = openStorage(url.href);
        const error = await s.ping().catch((e) => e);
        await s.close();
        expect(error).toBeInstanceOf(GhappError);
        expect(error.exitCode).toBe(5);
        expect(error.message).toContain("is unavailable");
        expect(error.message.includes(decodeURIComponent(url.password)) ? "password in message" : "clean").toBe("clean");
      });
    }
  });
}

describe("DATABASE_URL", () => {
  const configMessage = (value: string) => {
    try {
      openStorage(value);
    } catch (error) {
      expect(error).toBeInstanceOf(GhappError);
      expect((error as GhappError).exitCode).toBe(2);
      return (error as GhappError).message;
    }
    throw new Error(`${value} was accepted`);
  };

  test("sqlite:/// is an absolute path, sqlite:// a path relative to the working folder", () => {
    expect(parseDatabaseUrl("sqlite:///var/lib/runner-broker/broker.db")).toMatchObject({ kind: "sqlite", path: "/var/lib/runner-broker/broker.db" });
    expect(parseDatabaseUrl("sqlite://data/broker.db", "/srv/app")).toMatchObject({ kind: "sqlite", path: "/srv/app/data/broker.db" });
    expect(parseDatabaseUrl("postgresql://u:p@db.internal:5432/broker?sslmode=require")).toMatchObject({ kind: "postgres", display: "postgresql://u:***@db.internal:5432/broker?sslmode=require" });
  });

  test("an unsupported scheme is refused naming DATABASE_URL and both accepted forms, never the password", () => {
    const message = configMessage("mysql://broker:hunter2-secret@db/broker");
    expect(message).toContain('DATABASE_URL has the scheme "mysql:"');
    expect(message).toContain("sqlite:///var/lib/runner-broker/broker.db");
    expect(message).toContain("postgres://USER:PASSWORD@HOST:5432/DATABASE");
    expect(message).not.toContain("hunter2");
  });

  test("empty values, missing files and hosts, and bad paths are refused with the fix", () => {
    expect(configMessage("")).toContain("DATABASE_URL is empty");
    expect(configMessage("broker.db")).toContain("DATABASE_URL has no scheme");
    expect(configMessage("sqlite://")).toContain("names no file");
    expect(configMessage("sqlite:///tmp/")).toContain("names a folder");
    expect(configMessage("sqlite:///tmp/x.db?mode=ro")).toContain("takes no options");
    expect(configMessage("sqlite:///no/such/folder/broker.db")).toContain("folder /no/such/folder does not exist");
    expect(configMessage("postgres://u:pa@ss@/db")).not.toContain("pa@ss");
    expect(configMessage("postgres:///broker")).toContain("names no host");
  });

  test("a file that is not a SQLite database is a configuration error", () => {
    const dir = mkdtempSync(join(tmpdir(), "broker-url-"));
    try {
      writeFileSync(join(dir, "notes.db"), "this is not a database, just text long enough to be read as a header\n".repeat(20));
      expect(configMessage(`sqlite://${join(dir, "notes.db")}`)).toContain("it is not a SQLite database");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("a new SQLite file is readable by the broker's user only", async () => {
    const dir = mkdtempSync(join(tmpdir(), "broker-url-"));
    try {
      const s = openStorage(`sqlite://${join(dir, "broker.db")}`);
      await s.migrate();
      await s.close();
      expect(statSync(join(dir, "broker.db")).mode & 0o777).toBe(0o600);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
