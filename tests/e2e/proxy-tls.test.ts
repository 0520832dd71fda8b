// GitHub Enterprise Server over TLS with a private CA, reached directly or through a corporate
// proxy (HTTPS_PROXY with CONNECT), and NO_PROXY bypassing it: what Bun's fetch honours.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createServer, connect, type Server, type Socket } from "node:net";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { startSimulator, type Simulator } from "../simulator/simulator.ts";
import { makeSelfSignedCert } from "../simulator/tls.ts";
import { logLines, runGenerator, tempDir } from "../helpers/generator.ts";

let sim: Simulator;
let proxy: Server;
let proxyPort = 0;
const tunnels: string[] = [];
const tmp = tempDir();
let caFile = "";
let keyFile = "";

beforeAll(async () => {
  const tls = makeSelfSignedCert(tmp.dir);
  caFile = tls.caFile;
  sim = await startSimulator({ tls: { cert: tls.cert, key: tls.key }, prefix: "/api/v3" });
  keyFile = join(tmp.dir, "privateKey");
  writeFileSync(keyFile, sim.app.privateKeyPem);
  // A minimal forward proxy: answers CONNECT host:port by piping bytes both ways, as Squid does.
  proxy = createServer((client: Socket) => {
    client.once("data", (head) => {
      const m = /^CONNECT ([^:\s]+):(\d+) HTTP\/1\.[01]\r\n/.exec(head.toString("latin1"));
      if (!m) return client.end("HTTP/1.1 405 Method Not Allowed\r\n\r\n");
      tunnels.push(`${m[1]}:${m[2]}`);
      const upstream = connect(Number(m[2]), m[1] === "localhost" ? "127.0.0.1" : m[1]!, () => {
        client.write("HTTP/1.1 200 Connection Established\r\n\r\n");
        upstream.pipe(client);
        client.pipe(upstream);
      });
      upstream.on("error", () => client.destroy());
      client.on("error", () => upstream.destroy());
    });
  });
  await new Promise<void>((r) => proxy.listen(0, "127.0.0.1", r));
  proxyPort = (proxy.address() as { port: number }).port;
});
afterAll(async () => {
  await sim.close();
  proxy.close();
  tmp.cleanup();
});

function env(extra: Record<string, string>) {
  const out = join(tmp.dir, `out-${Math.random().toString(36).slice(2)}`);
  require("node:fs").mkdirSync(out);
  return { APP_ID: String(sim.app.id), PRIVATE_KEY_FILE: keyFile, GITHUB_API_URL: `https://localhost:${sim.port}/api/v3`, OUTPUT_PATH: join(out, "token"), OWNER: "acme-org", ...extra };
}

describe("private CA", () => {
  test("trusts the GHES certificate through NODE_EXTRA_CA_CERTS", async () => {
    const e = env({ NODE_EXTRA_CA_CERTS: caFile });
    const r = await runGenerator([], e);
    expect(r.code).toBe(0);
    expect(sim.tokens.has(readFileSync(e.OUTPUT_PATH, "utf8"))).toBe(true);
  });

  test("trusts it through SSL_CERT_FILE too", async () => {
    expect((await runGenerator([], env({ SSL_CERT_FILE: caFile }))).code).toBe(0);
  });

  test("without the CA: exit 2 at once, saying to set NODE_EXTRA_CA_CERTS", async () => {
    const r = await runGenerator([], env({}));
    expect(r.code).toBe(2);
    expect(r.ms).toBeLessThan(3000); // a trust failure is not retried
    expect(logLines(r.stderr).at(-1)!.message).toContain("is not trusted");
    expect(logLines(r.stderr).at(-1)!.message).toContain("NODE_EXTRA_CA_CERTS");
  });
});

describe("corporate proxy", () => {
  test("tunnels through HTTPS_PROXY with CONNECT", async () => {
    tunnels.length = 0;
    const r = await runGenerator([], env({ NODE_EXTRA_CA_CERTS: caFile, HTTPS_PROXY: `http://127.0.0.1:${proxyPort}` }));
    expect(r.code).toBe(0);
    expect(tunnels.length).toBeGreaterThanOrEqual(1);
    expect(tunnels[0]).toBe(`localhost:${sim.port}`);
  });

  test("goes direct for hosts in NO_PROXY", async () => {
    tunnels.length = 0;
    const r = await runGenerator([], env({ NODE_EXTRA_CA_CERTS: caFile, HTTPS_PROXY: `http://127.0.0.1:${proxyPort}`, NO_PROXY: "localhost" }));
    expect(r.code).toBe(0);
    expect(tunnels).toEqual([]);
  });
});
