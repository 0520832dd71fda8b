// The readiness monitor on its own (the broker's timer, not a caller, runs the checks): one log line
// per change of a dependency's state, never one per check; nothing is "ready" before a check said
// so; concurrent refreshes run each check once.
import { describe, expect, test } from "bun:test";
import { PassThrough } from "node:stream";
import { createLogger } from "../../generator/src/core/logger.ts";
import { BrokerMetrics } from "../../generator/src/broker/metrics.ts";
import { Readiness } from "../../generator/src/broker/readiness.ts";

function capture() {
  const stream = new PassThrough();
  let text = "";
  stream.on("data", (c) => (text += String(c)));
  const logger = createLogger("info", {}, { stream, format: "json" });
  return {
    logger,
    lines: async () => {
      await logger.flush();
      return text.split("\n").filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
    },
  };
}

describe("Readiness", () => {
  test("a dependency failing for many checks, then working, is one warning and one info line", async () => {
    const { logger, lines } = capture();
    let up = false;
    let calls = 0;
    const r = new Readiness([{ name: "github", check: async () => { calls++; if (!up) throw new Error("GitHub is unavailable: retry later"); } }], 1000, logger, new BrokerMetrics());
    for (let i = 0; i < 5; i++) await r.refresh();
    expect(r.snapshot()).toEqual({ ready: false, checks: { github: "failing" }, reasons: { github: "GitHub is unavailable: retry later" } });
    up = true;
    await r.refresh();
    await r.refresh();
    expect(r.snapshot().ready).toBe(true);
    expect(calls).toBe(7);
    expect((await lines()).map((l) => [l.level, l.message, l.dependency])).toEqual([
      ["warn", "github unavailable: the broker is not ready until it works", "github"],
      ["info", "github works again", "github"],
    ]);
  });

  test("nothing is ready before its first check, and the metric follows the state", async () => {
    const { logger } = capture();
    const metrics = new BrokerMetrics();
    const r = new Readiness([{ name: "issuer", check: async () => {} }, { name: "database", check: async () => {} }], 1000, logger, metrics);
    expect(r.snapshot()).toEqual({ ready: false, checks: { issuer: "failing", database: "failing" }, reasons: { issuer: "not checked yet", database: "not checked yet" } });
    await r.refresh();
    expect(r.snapshot().ready).toBe(true);
    expect(await metrics.registry.getSingleMetricAsString("ghapp_broker_dependency_up")).toContain('ghapp_broker_dependency_up{dependency="issuer"} 1');
  });

  test("callers asking at once share one run of the checks", async () => {
    const { logger } = capture();
    let calls = 0;
    const r = new Readiness([{ name: "github", check: async () => { calls++; await Bun.sleep(50); } }], 1000, logger, new BrokerMetrics());
    await Promise.all(Array.from({ length: 20 }, () => r.refresh()));
    expect(calls).toBe(1);
  });
});
