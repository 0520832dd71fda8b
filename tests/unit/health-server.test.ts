// The sidecar's endpoints as the kubelet sees them, with whatever state the refresh loop is in:
// JSON always (never Bun's HTML error page), liveness apart from the token's validity.
import { afterAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { startHealthServer, type HealthState } from "../../generator/src/token/health-server.ts";
import { Metrics } from "../../generator/src/token/metrics.ts";
import { tempDir } from "../helpers/generator.ts";

const tmp = tempDir();
const outputPath = join(tmp.dir, "token");
writeFileSync(outputPath, "ghs_0123456789abcdefghijABCDEFGHIJ012345");
let state: HealthState = { outputPath };
let alive = true;
const NOW = Date.parse("2026-06-01T12:00:00Z");
const server = startHealthServer({ hostname: "127.0.0.1", port: 0 }, { state: () => state, alive: () => alive, metrics: new Metrics(), now: () => NOW });
afterAll(() => {
  server.stop(true);
  tmp.cleanup();
});
const get = async (path: string, method = "GET") => {
  const r = await fetch(`http://127.0.0.1:${server.port}${path}`, { method });
  return { status: r.status, type: r.headers.get("content-type") ?? "", body: method === "HEAD" ? null : ((await r.json()) as Record<string, unknown>) };
};

describe("health endpoints", () => {
  test("/healthz and /readyz: 200 while the token is valid by GitHub's clock, 503 before and after", async () => {
    state = { outputPath, expiresAt: NOW + 60_000 };
    for (const path of ["/healthz", "/readyz"]) expect(await get(path)).toEqual({ status: 200, type: expect.stringContaining("application/json"), body: { status: "ok", expires_at: "2026-06-01T12:01:00.000Z" } });
    state = { outputPath, expiresAt: NOW - 1 };
    expect((await get("/healthz")).body).toEqual({ status: "expired", expires_at: "2026-06-01T11:59:59.999Z" });
    state = { outputPath };
    expect((await get("/readyz")).status).toBe(503);
  });

  test("an expiry that is NaN or beyond what a Date holds answers JSON 503, not an error page", async () => {
    for (const expiresAt of [Number.NaN, 1e20, Number.POSITIVE_INFINITY]) {
      state = { outputPath, expiresAt };
      const r = await get("/healthz");
      expect(r.status).toBe(503);
      expect(r.type).toContain("application/json");
      expect(r.body).toEqual({ status: "starting", expires_at: null });
    }
  });

  test("/livez follows the loop, not the token: alive with an expired token, 503 only when wedged", async () => {
    state = { outputPath, expiresAt: NOW - 3_600_000 };
    alive = true;
    expect(await get("/livez")).toEqual({ status: 200, type: expect.stringContaining("application/json"), body: { status: "alive" } });
    alive = false;
    expect((await get("/livez")).status).toBe(503);
    alive = true;
  });

  test("unknown paths and methods answer JSON", async () => {
    const unknown = await get("/nope");
    expect(unknown.status).toBe(404);
    expect(unknown.type).toContain("application/json");
    const post = await get("/healthz", "POST");
    expect(post.status).toBe(405);
    expect(post.type).toContain("application/json");
  });
});
