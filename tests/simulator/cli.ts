// Runs the GitHub API simulator as its own process, for the demo, the container test, the kind
// job (ci/kind-e2e.sh, where it runs in a pod) and anything else that is not a bun test. It
// writes what a client needs into --state-dir:
//   app.pem          the app's private key (0600): generated now, or the --app-key-file given
//   simulator.json   { url, origin, appId, clientId, installations, pid, port, caFile? }
//   ca.pem           with --tls and no --tls-cert: the self-signed certificate clients must trust
// Faults can be injected over HTTP: POST {origin}/_simulator/faults with a Fault (see simulator.ts).
//
// Usage: bun tests/simulator/cli.ts --state-dir DIR [--listen 127.0.0.1:0] [--prefix /api/v3]
//          [--tls | --tls-cert FILE --tls-key FILE] [--public-url URL]
//          [--app-id N] [--app-key-file FILE] [--token-ttl 3600] [--token-format jwt|classic]
//
// In a pod: --listen 0.0.0.0:8443 --public-url https://github-sim.NS.svc/api/v3 (the name clients
// use, so Link headers and access_tokens_url point there), --tls-cert/--tls-key from a Secret
// signed by a CA the clients are given, and --app-id/--app-key-file from the same Secret that
// feeds the chart's SecretStore, so a restarted pod keeps the key the cluster already holds.
import { parseArgs } from "node:util";
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { startSimulator } from "./simulator.ts";
import { makeSelfSignedCert } from "./tls.ts";

const USAGE =
  "usage: bun tests/simulator/cli.ts --state-dir DIR [--listen HOST:PORT] [--prefix /api/v3] " +
  "[--tls | --tls-cert FILE --tls-key FILE] [--public-url URL] [--app-id N] [--app-key-file FILE] [--token-ttl SECONDS] [--token-format jwt|classic]";

function fail(message: string): never {
  console.error(`simulator: ${message}\n${USAGE}`);
  process.exit(2);
}

const { values } = parseArgs({
  options: {
    "state-dir": { type: "string" },
    listen: { type: "string", default: "127.0.0.1:0" },
    tls: { type: "boolean", default: false },
    "tls-cert": { type: "string" },
    "tls-key": { type: "string" },
    "public-url": { type: "string" },
    "app-id": { type: "string" },
    "app-key-file": { type: "string" },
    "token-ttl": { type: "string", default: "3600" },
    prefix: { type: "string", default: "" },
    "token-format": { type: "string", default: "jwt" },
  },
});
const stateDir = values["state-dir"] ?? fail("--state-dir is required");
const tokenFormat = values["token-format"] === "classic" || values["token-format"] === "jwt" ? values["token-format"] : fail("--token-format is jwt or classic");
const [hostname = "127.0.0.1", port = "0"] = values.listen!.split(/:(?=\d+$)/);
if (!!values["tls-cert"] !== !!values["tls-key"]) fail("--tls-cert and --tls-key go together");
const appId = values["app-id"] === undefined ? undefined : Number(values["app-id"]);
if (appId !== undefined && !(Number.isInteger(appId) && appId > 0)) fail(`--app-id ${values["app-id"]} is not a positive integer`);

let publicUrl: URL | undefined;
if (values["public-url"]) {
  try {
    publicUrl = new URL(values["public-url"]);
  } catch {
    fail(`--public-url ${values["public-url"]} is not a URL`);
  }
  // The prefix is part of the public URL (https://HOST/api/v3); keep the two consistent.
  const path = publicUrl.pathname.replace(/\/+$/, "");
  if (path !== values.prefix) fail(`--public-url's path "${path}" differs from --prefix "${values.prefix}"`);
}
mkdirSync(stateDir, { recursive: true });

const given = values["tls-cert"] ? { cert: readFileSync(values["tls-cert"], "utf8"), key: readFileSync(values["tls-key"]!, "utf8") } : undefined;
const generated = !given && (values.tls || publicUrl?.protocol === "https:") ? makeSelfSignedCert(stateDir, publicUrl ? [publicUrl.hostname] : []) : undefined;
const tls = given ?? generated;
if (publicUrl && (publicUrl.protocol === "https:") !== !!tls) fail(`--public-url is ${publicUrl.protocol} but the simulator serves ${tls ? "https" : "http"}`);

const sim = await startSimulator({
  hostname,
  port: Number(port),
  prefix: values.prefix,
  tokenTtlSeconds: Number(values["token-ttl"]),
  tokenFormat,
  ...(tls ? { tls: { cert: tls.cert, key: tls.key } } : {}),
  ...(appId !== undefined ? { appId } : {}),
  ...(values["app-key-file"] ? { appPrivateKeyPem: readFileSync(values["app-key-file"], "utf8") } : {}),
  ...(publicUrl ? { publicOrigin: publicUrl.origin } : {}),
});
writeFileSync(join(stateDir, "app.pem"), sim.app.privateKeyPem, { mode: 0o600 });
// Written to a temporary name and renamed, so a process waiting for the file never reads half of it.
writeFileSync(
  join(stateDir, "simulator.json.tmp"),
  JSON.stringify(
    {
      url: sim.url,
      origin: sim.origin,
      appId: sim.app.id,
      clientId: sim.app.clientId,
      installations: sim.installations.map((i) => ({ id: i.id, login: i.account.login })),
      pid: process.pid,
      // where it listens, which differs from url's port behind a Service
      port: sim.port,
      ...(generated ? { caFile: generated.caFile } : {}),
    },
    null,
    2,
  ) + "\n",
);
renameSync(join(stateDir, "simulator.json.tmp"), join(stateDir, "simulator.json"));
console.log(`GitHub API simulator listening on ${hostname}:${sim.port}, serving ${sim.url} (state in ${stateDir})`);

const stop = async () => {
  await sim.close();
  process.exit(0);
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
