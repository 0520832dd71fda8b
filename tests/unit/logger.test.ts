import { expect, test } from "bun:test";
import { PassThrough } from "node:stream";
import { createLogger, flushLogger, resolveLogFormat, type LogFormat } from "../../generator/src/core/logger.ts";

const ghs = "ghs_16C7e42F292c6912E7710c838347Ae178B4a";
const jwtShaped = "eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiIxIn0.c2lnbmF0dXJlLWJ5dGVz";

/** Logs one entry through a stream that says whether it is a terminal, and returns what was written. */
async function logOnce(format: LogFormat | undefined, isTTY: boolean): Promise<string> {
  const stream = Object.assign(new PassThrough(), { isTTY });
  let text = "";
  stream.on("data", (c) => (text += c));
  const logger = createLogger("info", { correlation_id: "cid-1", version: "0.1.0" }, { stream, ...(format ? { format } : {}) });
  logger.info(`minted ${ghs}`, { path: "/var/run/github/token", nested: { jwt: jwtShaped }, repositories: ["api", "web"] });
  await flushLogger(logger);
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
