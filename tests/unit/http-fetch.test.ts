// The fetch ky calls: what it does with redirects, huge bodies and TLS, against real local servers.
import { afterAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { boundedFetch, MAX_BODY_BYTES } from "../../generator/src/core/http-fetch.ts";
import { GhappError } from "../../generator/src/core/errors.ts";
import { tempDir } from "../helpers/generator.ts";
import { runCommand } from "../helpers/run.ts";

const seen: string[] = [];
const other = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: (r) => (seen.push(new URL(r.url).pathname), new Response("{}")) });
const api = Bun.serve({
  port: 0,
  hostname: "127.0.0.1",
  fetch(r) {
    const path = new URL(r.url).pathname;
    seen.push(path);
    if (path === "/renamed") return new Response(null, { status: 301, headers: { location: "/repositories/1/installation" } });
    if (path === "/elsewhere") return new Response(null, { status: 307, headers: { location: `http://127.0.0.1:${other.port}/steal` } });
    if (path === "/loop") return new Response(null, { status: 302, headers: { location: "/loop" } });
    if (path === "/big") return new Response("x".repeat(MAX_BODY_BYTES + 1));
    if (path === "/exact") return new Response("x".repeat(MAX_BODY_BYTES));
    return new Response(JSON.stringify({ path, authorization: r.headers.get("authorization") }), { headers: { "content-type": "application/json" } });
  },
});
const origin = `http://127.0.0.1:${api.port}`;
const get = (path: string, method = "GET") => boundedFetch({ origin })(new Request(`${origin}${path}`, { method, headers: { authorization: "Bearer x" } }));
const failure = async (p: Promise<unknown>) => (await p.then(() => undefined, (e: unknown) => e)) as GhappError;
const tmp = tempDir();
afterAll(() => {
  api.stop(true);
  other.stop(true);
  tmp.cleanup();
});

describe("redirects", () => {
  test("a GET redirect within the API's origin is followed, keeping its headers", async () => {
    const res = await get("/renamed");
    expect(await res.json()).toEqual({ path: "/repositories/1/installation", authorization: "Bearer x" });
  });
  test("a redirect to another origin is refused with exit 5, and the other host sees nothing", async () => {
    seen.length = 0;
    const e = await failure(get("/elsewhere"));
    expect(e.exitCode).toBe(5);
    expect(e.message).toContain("redirects to another host, which is not followed");
    expect(seen).toEqual(["/elsewhere"]);
  });
  test("a redirect of a POST or DELETE is not followed, and redirect loops end", async () => {
    expect((await failure(get("/renamed", "DELETE"))).message).toContain("not followed for DELETE");
    expect((await failure(get("/loop"))).exitCode).toBe(5);
  });
});

describe("bodies", () => {
  test("at most 1 MiB is read", async () => {
    expect((await (await get("/exact")).text()).length).toBe(MAX_BODY_BYTES);
    const e = await failure(get("/big"));
    expect(e.exitCode).toBe(5);
    expect(e.message).toContain("larger than 1024 KiB");
  });
});

describe("TLS", () => {
  test("verifies certificates even when NODE_TLS_REJECT_UNAUTHORIZED=0 would make Bun's fetch accept any", async () => {
    // Bun takes that variable as fetch's default (plain fetch succeeds below); boundedFetch does not.
    const script = join(tmp.dir, "tls.ts");
    writeFileSync(
      script,
      `import { startSimulator } from ${JSON.stringify(join(import.meta.dir, "../simulator/simulator.ts"))};
import { makeSelfSignedCert } from ${JSON.stringify(join(import.meta.dir, "../simulator/tls.ts"))};
import { boundedFetch } from ${JSON.stringify(join(import.meta.dir, "../../generator/src/core/http-fetch.ts"))};
const c = makeSelfSignedCert(${JSON.stringify(tmp.dir)}, []);
const sim = await startSimulator({ tls: { cert: c.cert, key: c.key } });
const plain = await fetch(sim.url + "/meta").then((r) => String(r.status), (e) => e.code);
const bounded = await boundedFetch({ origin: sim.origin })(new Request(sim.url + "/meta")).then((r) => String(r.status), (e) => e.code);
console.log(JSON.stringify({ plain, bounded }));
await sim.close();
`,
    );
    const r = await runCommand([process.execPath, script], { env: { ...process.env, NODE_TLS_REJECT_UNAUTHORIZED: "0" }, timeoutMs: 20_000 });
    expect(JSON.parse(r.stdout)).toEqual({ plain: "200", bounded: "DEPTH_ZERO_SELF_SIGNED_CERT" });
  });
});
