// TLS in front of the broker, as an ingress or a service mesh puts it: the broker serves plain
// HTTP, and ghapp-token (like the chart's broker.url) accepts only https beyond localhost.
// bun tests/controlplane/tls-proxy.ts --listen 127.0.0.1:8444 --upstream http://127.0.0.1:8000 --cert F --key F
import { readFileSync } from "node:fs";

const arg = (name: string) => {
  const i = process.argv.indexOf(`--${name}`);
  const v = i > 0 ? process.argv[i + 1] : undefined;
  if (!v) throw new Error(`--${name} is required`);
  return v;
};
const [hostname, port] = arg("listen").split(":") as [string, string];
const upstream = arg("upstream");
Bun.serve({
  hostname,
  port: Number(port),
  tls: { cert: readFileSync(arg("cert"), "utf8"), key: readFileSync(arg("key"), "utf8") },
  async fetch(req) {
    const url = new URL(req.url);
    const headers = new Headers(req.headers);
    headers.delete("host");
    const body = req.method === "GET" || req.method === "HEAD" ? undefined : await req.arrayBuffer();
    const res = await fetch(`${upstream}${url.pathname}${url.search}`, { method: req.method, headers, body, redirect: "manual" });
    return new Response(await res.arrayBuffer(), { status: res.status, headers: res.headers });
  },
});
console.log(`listening on ${hostname}:${port}`);
