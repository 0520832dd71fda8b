// The throwaway PostgreSQL server the storage suite and the broker's end-to-end tests use: it runs
// as a non-root user on loopback, and goes away even when the test process is killed.
import { expect, test } from "bun:test";
import { existsSync, statSync } from "node:fs";
import { join } from "node:path";
import { SQL } from "bun";
import { startPostgres } from "../helpers/postgres.ts";

const canConnect = async (url: string) => {
  const sql = new SQL(url, { max: 1, connectionTimeout: 2 });
  try {
    await sql`SELECT 1`;
    return true;
  } catch {
    return false;
  } finally {
    await sql.close().catch(() => {});
  }
};

test("the server listens on 127.0.0.1 with a password, runs as a non-root user, and stop() removes its folder", async () => {
  const pg = await startPostgres({ fsync: false });
  try {
    expect(new URL(pg.url).hostname).toBe("127.0.0.1");
    expect(await canConnect(pg.url)).toBe(true);
    expect(await canConnect(pg.url.replace(pg.password, "not-the-password"))).toBe(false);
    if (process.getuid?.() === 0) expect(statSync(join(pg.dir, "data")).uid).not.toBe(0);
    const sql = new SQL(pg.url, { max: 1 });
    const [row] = await sql`SELECT current_setting('listen_addresses') AS listen`;
    await sql.close();
    expect(row.listen).toBe("127.0.0.1");
  } finally {
    await pg.stop();
  }
  expect(existsSync(pg.dir)).toBe(false);
  expect(await canConnect(pg.url)).toBe(false);
}, 60_000);

test("a test process killed outright takes its server along, and the next start removes the folder it left", async () => {
  const proc = Bun.spawn(["bun", join(import.meta.dir, "fixtures/hold-postgres.ts")], { stdout: "pipe", stderr: "inherit" });
  const reader = proc.stdout.getReader();
  let text = "";
  while (!text.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) break;
    text += new TextDecoder().decode(value);
  }
  const { dir, port } = JSON.parse(text) as { dir: string; port: number };
  proc.kill("SIGKILL");
  await proc.exited;
  // The server got SIGTERM when its parent died; give it a moment to shut down.
  const deadline = Date.now() + 15_000;
  const probe = () => Bun.connect({ hostname: "127.0.0.1", port, socket: { data() {} } }).then((s) => (s.end(), true), () => false);
  while ((await probe()) && Date.now() < deadline) await Bun.sleep(200);
  expect(await probe()).toBe(false);
  const next = await startPostgres({ fsync: false });
  await next.stop();
  expect(existsSync(dir)).toBe(false);
}, 90_000);

test("restart() brings the same cluster back on the same port with its data; stopServer('immediate') is a crash it recovers from", async () => {
  const pg = await startPostgres();
  try {
    const url = await pg.createDatabase("kept");
    const write = async (v: string) => {
      const sql = new SQL(url, { max: 1 });
      await sql.unsafe("CREATE TABLE IF NOT EXISTS t (v TEXT)");
      await sql`INSERT INTO t (v) VALUES (${v})`;
      await sql.close();
    };
    const read = async () => {
      const sql = new SQL(url, { max: 1 });
      const rows = (await sql`SELECT v FROM t ORDER BY v`) as Array<{ v: string }>;
      await sql.close();
      return rows.map((r) => r.v);
    };
    await write("a");
    await pg.restart();
    await write("b");
    await pg.stopServer("immediate");
    expect(await canConnect(pg.url)).toBe(false);
    await pg.startServer();
    expect(new URL(pg.url).port).toBe(String(pg.port));
    expect(await read()).toEqual(["a", "b"]);
  } finally {
    await pg.stop();
  }
  expect(existsSync(pg.dir)).toBe(false);
}, 90_000);
