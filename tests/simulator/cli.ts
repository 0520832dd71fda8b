// Runs the GitHub API simulator as its own process, for the demo, the container test and
// anything else that is not a bun test. It writes what a client needs into --state-dir:
//   app.pem          the app's private key (0600), generated now; never committed anywhere
//   simulator.json   { url, origin, appId, clientId, installations, pid, caFile? }
//   ca.pem           with --tls: the self-signed certificate clients must trust
// Faults can be injected over HTTP: POST {origin}/_simulator/faults with a Fault (see simulator.ts).
//
// Usage: bun tests/simulator/cli.ts --state-dir DIR [--listen 127.0.0.1:0] [--tls] [--token-ttl 3600] [--prefix /api/v3]
import { parseArgs } from "node:util";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { startSimulator } from "./simulator.ts";
import { makeSelfSignedCert } from "./tls.ts";

const { values } = parseArgs({
  options: {
    "state-dir": { type: "string" },
    listen: { type: "string", default: "127.0.0.1:0" },
    tls: { type: "boolean", default: false },
    "token-ttl": { type: "string", default: "3600" },
    prefix: { type: "string", default: "" },
  },
});
const stateDir = values["state-dir"];
if (!stateDir) {
  console.error("usage: bun tests/simulator/cli.ts --state-dir DIR [--listen HOST:PORT] [--tls] [--token-ttl SECONDS] [--prefix /api/v3]");
  process.exit(2);
}
const [hostname = "127.0.0.1", port = "0"] = values.listen!.split(/:(?=\d+$)/);
mkdirSync(stateDir, { recursive: true });

const tls = values.tls ? makeSelfSignedCert(stateDir) : undefined;
const sim = await startSimulator({
  hostname,
  port: Number(port),
  prefix: values.prefix,
  tokenTtlSeconds: Number(values["token-ttl"]),
  ...(tls ? { tls: { cert: tls.cert, key: tls.key } } : {}),
});
writeFileSync(join(stateDir, "app.pem"), sim.app.privateKeyPem, { mode: 0o600 });
writeFileSync(
  join(stateDir, "simulator.json"),
  JSON.stringify(
    {
      url: sim.url,
      origin: sim.origin,
      appId: sim.app.id,
      clientId: sim.app.clientId,
      installations: sim.installations.map((i) => ({ id: i.id, login: i.account.login })),
      pid: process.pid,
      ...(tls ? { caFile: tls.caFile } : {}),
    },
    null,
    2,
  ) + "\n",
);
console.log(`GitHub API simulator listening on ${sim.url} (state in ${stateDir})`);

const stop = async () => {
  await sim.close();
  process.exit(0);
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
