import { expect, test } from "bun:test";
import { PassThrough } from "node:stream";
import { createLogger, resolveLogFormat, type LogFormat } from "../../generator/src/core/logger.ts";

const ghs = "ghs_16C7e42F292c6912E7710c838347Ae178B4a";
const jwtShaped = "eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiIxIn0.c2lnbmF0dXJlLWJ5dGVz";

/** Logs one entry through a stream that says whether it is a terminal, and returns what was written. */
async function logOnce(format: LogFormat | undefined, isTTY: boolean): Promise<string> {
  const stream = Object.assign(new PassThrough(), { isTTY });
  let text = "";
  stream.on("data", (c) => (text += c));
  const logger = createLogger("info", { correlation_id: "cid-1", version: "0.1.0" }, { stream, ...(format ? { format } : {}) });
  logger.info(`minted ${ghs}`, { path: "/var/run/github/token", nested: { jwt: jwtShaped }, repositories: ["api", "web"] });
  await logger.flush();
  return text;
}

test("JSON stays the default when the log stream is not a terminal (a pod, a pipe)", async () => {
  const text = await logOnce(undefined, false);
  const line = JSON.parse(text.trim());
  expect(line).toMatchObject({ level: "info", correlation_id: "cid-1", path: "/var/run/github/token" });
  expect(resolveLogFormat("auto", {})).toBe("json");
});

test("auto picks the text format at a terminal; an explicit json stays json there", async () => {
  const text = await logOnce(undefined, true);
  expect(text).toMatch(/^\d\d:\d\d:\d\d\.\d{3}Z INFO  minted \[REDACTED\]  path=\/var\/run\/github\/token /);
  expect(text.trim().split("\n")).toHaveLength(1);
  expect(() => JSON.parse(text)).toThrow();
  expect(JSON.parse(await logOnce("json", true)).level).toBe("info");
});

test("the text format masks secrets in the message and in nested fields", async () => {
  const text = await logOnce("text", false);
  expect(text).not.toContain(ghs);
  expect(text).not.toContain(jwtShaped);
  expect(text).toContain('nested={"jwt":"[REDACTED]"}');
  expect(text).toContain('repositories=["api","web"]');
  // What identifies a run to a log collector is noise to a person at a terminal.
  expect(text).not.toContain("cid-1");
});

test("winston is loaded at the first turn of the event loop, not when the logger is created", async () => {
  // In a fresh process: this one has loaded winston already. The overlap with a mint's request
  // rests on this (core/logger.ts says why).
  const script = `
    const { createLogger } = await import(${JSON.stringify(`${import.meta.dir}/../../generator/src/core/logger.ts`)});
    const loaded = () => Object.keys(require.cache).some((k) => k.includes("/winston/"));
    const before = loaded();
    createLogger("info", {});
    const created = loaded();
    await new Promise((r) => setImmediate(r));
    console.log(JSON.stringify({ before, created, afterTurn: loaded() }));
  `;
  const proc = Bun.spawnSync([process.execPath, "-e", script], { stderr: "pipe" });
  expect(proc.stderr.toString()).toBe("");
  expect(JSON.parse(proc.stdout.toString())).toEqual({ before: false, created: false, afterTurn: true });
});

test("entries logged before winston is ready are all written, in order; ones below the level never", async () => {
  const stream = new PassThrough();
  let text = "";
  stream.on("data", (c) => (text += c));
  const logger = createLogger("info", {}, { stream, format: "json" });
  logger.debug("below the level");
  logger.info("first");
  logger.warn("second", { n: 2 });
  logger.error("third");
  await logger.flush();
  expect(text.trim().split("\n").map((l) => [JSON.parse(l).level, JSON.parse(l).message])).toEqual([
    ["info", "first"],
    ["warn", "second"],
    ["error", "third"],
  ]);
});

test("flushing a logger that never logged resolves and writes nothing", async () => {
  const stream = new PassThrough();
  let text = "";
  stream.on("data", (c) => (text += c));
  const logger = createLogger("error", {}, { stream });
  logger.info("below the level");
  await logger.flush();
  expect(text).toBe("");
});
