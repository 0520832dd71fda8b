// A GitHub that lies, stalls and redirects: the hostile-server fixture of the generator's tests.
// It answers the few endpoints a mint or revoke uses like GitHub does, except for the behaviours
// queued with `next(...)`, which apply to the next matching requests in order:
//   stall-body    headers and the start of a JSON body, then nothing (the connection stays open)
//   html          a 200 HTML page, as a captive portal or a web UI answers
//   empty         the status with an empty body
//   json          the given status and JSON body (a token answer without a token, a bad expires_at…)
//   huge          an endless body (or one whose Content-Length declares 1 GiB)
//   redirect      a redirect to `to` (another server's origin)
//   date          a normal answer whose Date header is `offsetMs` off this host's clock
// node:http rather than Bun.serve: a stalled or endless body needs the raw response stream.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export type Behaviour =
  | { kind: "stall-body"; status?: number; headers?: Record<string, string> }
  | { kind: "html"; status?: number }
  | { kind: "empty"; status?: number }
  | { kind: "json"; status: number; body: unknown; headers?: Record<string, string> }
  | { kind: "huge"; declared?: boolean }
  | { kind: "redirect"; to: string; status?: number }
  | { kind: "date"; offsetMs: number };

export interface HostileRequest {
  method: string;
  path: string;
  headers: Record<string, string | string[] | undefined>;
  at: number;
}

export interface HostileServer {
  url: string;
  origin: string;
  requests: HostileRequest[];
  /** bytes the server managed to send for `huge` answers */
  hugeBytesSent: number;
  next(match: { method?: string; path?: string }, ...behaviours: Behaviour[]): void;
  reset(): void;
  close(): Promise<void>;
}

/** A token of GitHub's current form, ghs_<appid>_<JWT>, that expires `ttlMs` after `nowMs`. */
export function fakeToken(nowMs = Date.now()): string {
  const part = (o: unknown) => Buffer.from(JSON.stringify(o)).toString("base64url");
  return `ghs_424242_${part({ alg: "RS256", typ: "JWT" })}.${part({ sub: "1001", exp: Math.floor(nowMs / 1000) + 3600 })}.${Buffer.alloc(256, 7).toString("base64url")}`;
}

export async function startHostileServer(): Promise<HostileServer> {
  const requests: HostileRequest[] = [];
  let queue: Array<{ match: { method?: string; path?: string }; behaviour: Behaviour }> = [];
  const open = new Set<ServerResponse>();
  let hugeBytesSent = 0;

  const take = (method: string, path: string): Behaviour | undefined => {
    const i = queue.findIndex((q) => (!q.match.method || q.match.method === method) && (!q.match.path || path.includes(q.match.path)));
    return i < 0 ? undefined : queue.splice(i, 1)[0]!.behaviour;
  };

  /** What GitHub would answer. */
  const normal = (method: string, path: string, nowMs: number): { status: number; body?: unknown } => {
    if (method === "POST" && /^\/app\/installations\/\d+\/access_tokens$/.test(path)) {
      return { status: 201, body: { token: fakeToken(nowMs), expires_at: new Date(nowMs + 3_600_000).toISOString().replace(/\.\d{3}Z$/, "Z"), permissions: { contents: "read" }, repository_selection: "all" } };
    }
    if (method === "GET" && /^\/(users|orgs)\/[^/]+\/installation$/.test(path)) return { status: 200, body: { id: 1001, account: { login: "acme-org", type: "Organization" } } };
    if (method === "DELETE" && path === "/installation/token") return { status: 204 };
    return { status: 404, body: { message: "Not Found" } };
  };

  const handler = (req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? "/").split("?")[0]!;
    const method = req.method ?? "GET";
    requests.push({ method, path, headers: req.headers, at: Date.now() });
    req.resume();
    const behaviour = take(method, path);
    const date = (offset = 0) => new Date(Date.now() + offset).toUTCString();
    const send = (status: number, body: unknown, offset = 0, headers: Record<string, string> = {}) => {
      const text = body === undefined ? "" : JSON.stringify(body);
      res.writeHead(status, { date: date(offset), "content-type": "application/json; charset=utf-8", ...headers });
      res.end(text);
    };
    switch (behaviour?.kind) {
      case undefined:
      case "date": {
        const offset = behaviour?.kind === "date" ? behaviour.offsetMs : 0;
        const { status, body } = normal(method, path, Date.now() + offset);
        return send(status, body, offset);
      }
      case "stall-body":
        open.add(res);
        res.writeHead(behaviour.status ?? 201, { date: date(), "content-type": "application/json; charset=utf-8", ...behaviour.headers });
        res.write('{"token":"ghs_');
        return; // and never another byte
      case "html":
        res.writeHead(behaviour.status ?? 200, { date: date(), "content-type": "text/html; charset=utf-8" });
        return res.end("<!DOCTYPE html><html><head><title>Sign in to the network</title></head><body><form>Accept the terms</form></body></html>");
      case "empty":
        res.writeHead(behaviour.status ?? 201, { date: date(), "content-type": "application/json; charset=utf-8" });
        return res.end();
      case "json":
        return send(behaviour.status, behaviour.body, 0, behaviour.headers);
      case "redirect":
        res.writeHead(behaviour.status ?? 307, { date: date(), location: `${behaviour.to}${req.url ?? "/"}` });
        return res.end();
      case "huge": {
        open.add(res);
        res.writeHead(200, { date: date(), "content-type": "application/json", ...(behaviour.declared ? { "content-length": String(1024 ** 3) } : {}) });
        const chunk = Buffer.alloc(64 * 1024, 0x20);
        res.write('{"token":"');
        const pump = () => {
          while (!res.destroyed) {
            if (hugeBytesSent > 512 * 1024 ** 2) return res.destroy(); // a safety stop for the fixture itself
            hugeBytesSent += chunk.length;
            if (!res.write(chunk)) return res.once("drain", pump);
          }
        };
        res.on("close", () => open.delete(res));
        return pump();
      }
    }
  };

  const server: Server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url: origin,
    origin,
    requests,
    get hugeBytesSent() {
      return hugeBytesSent;
    },
    next(match, ...behaviours) {
      for (const behaviour of behaviours) queue.push({ match, behaviour });
    },
    reset() {
      queue = [];
      requests.length = 0;
      hugeBytesSent = 0;
      for (const r of open) r.destroy();
      open.clear();
    },
    async close() {
      for (const r of open) r.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
