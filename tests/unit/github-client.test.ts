// GitHub's clock, as the client learns it from the Date header of every answer.
import { afterAll, describe, expect, test } from "bun:test";
import { GitHubClient } from "../../generator/src/core/github-client.ts";
import { createLogger } from "../../generator/src/core/logger.ts";
import { PassThrough } from "node:stream";

let offsetMs = 0;
const server = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => Response.json({}, { headers: { date: new Date(Date.now() + offsetMs).toUTCString() } }) });
afterAll(() => server.stop(true));
const logger = createLogger("error", {}, { stream: new PassThrough() });

async function skewAfterAnswer(offset: number): Promise<number> {
  offsetMs = offset;
  const client = new GitHubClient({ apiUrl: `http://127.0.0.1:${server.port}`, timeoutMs: 2000, maxRetryWaitMs: 0, logger });
  await client.request("GET", "/meta", { token: "ghs_0123456789abcdefghijABCDEFGHIJ012345" });
  return client.githubNow() - Date.now();
}

describe("GitHub's clock", () => {
  test("is learnt from any answer's Date header, not only a clock-skew 401", async () => {
    expect(Math.abs((await skewAfterAnswer(2 * 3_600_000)) - 2 * 3_600_000)).toBeLessThan(1500);
    expect(Math.abs((await skewAfterAnswer(-2 * 3_600_000)) + 2 * 3_600_000)).toBeLessThan(1500);
  });
  test("a difference within the header's one-second resolution is no skew", async () => {
    expect(Math.abs(await skewAfterAnswer(0))).toBeLessThan(50);
    expect(Math.abs(await skewAfterAnswer(900))).toBeLessThan(50);
  });
  test("a Date more than a day off is not believed", async () => {
    expect(Math.abs(await skewAfterAnswer(10 * 86_400_000))).toBeLessThan(50);
  });
});
