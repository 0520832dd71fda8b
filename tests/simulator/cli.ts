// Runs the GitHub API simulator as its own process, for the demo, the container test, the kind
// job (ci/kind-e2e.sh, where it runs in a pod) and anything else that is not a bun test. It
// writes what a client needs into --state-dir:
//   app.pem          the app's private key (0600): generated now, or the --app-key-file given
//   simulator.json   { url, origin, oidcIssuer, appId, clientId, installations, pid, port, caFile? }
//   ca.pem           with --tls and no --tls-cert: the self-signed certificate clients must trust
// Faults can be injected over HTTP: POST {origin}/_simulator/faults with a Fault (see simulator.ts).
// With GHAPP_SIM_EXCHANGES_DIR=DIR in its environment it logs every API exchange into DIR for the
// conformance check (exchanges.ts, conformance.ts); tests that spawn it pass their environment on.
//
// Usage: npm run simulator -- --state-dir DIR [--listen 127.0.0.1:0] [--prefix /api/v3]
//          [--tls | --tls-cert FILE --tls-key FILE] [--public-url URL]
//          [--app-id N] [--app-key-file FILE] [--token-ttl 3600] [--token-format jwt|classic]
//          [--webhook-url URL --webhook-secret-file FILE] [--actions-permission]
//        npm run simulator -- oidc-token --url ORIGIN --sub S --aud A [--claim k=v]...   (prints a token)
//        npm run simulator -- --help
// (`npm run simulator` is `bun tests/simulator/cli.ts`, with the project's own bun.)
//
// In a pod: --listen 0.0.0.0:8443 --public-url https://github-sim.NS.svc/api/v3 (the name clients
// use, so Link headers and access_tokens_url point there), --tls-cert/--tls-key from a Secret
// signed by a CA the clients are given, and --app-id/--app-key-file from the same Secret that
// feeds the chart's SecretStore, so a restarted pod keeps the key the cluster already holds.
import { parseArgs } from "node:util";
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { oidcTokenCommand } from "./oidc-token-command.ts";
import { startSimulator } from "./simulator.ts";
import { makeSelfSignedCert } from "./tls.ts";

const USAGE =
  "usage: npm run simulator -- --state-dir DIR [--listen HOST:PORT] [--prefix /api/v3] " +
  "[--tls | --tls-cert FILE --tls-key FILE] [--public-url URL] [--app-id N] [--app-key-file FILE] [--token-ttl SECONDS] [--token-format jwt|classic]\n" +
  "         [--webhook-url URL --webhook-secret-file FILE] [--actions-permission]\n" +
  "       npm run simulator -- oidc-token --url ORIGIN --sub SUBJECT --aud AUDIENCE [--claim NAME=VALUE]... (see oidc-token --help)\n" +
  "       npm run simulator -- --help";

const HELP = `A GitHub API simulator (App authentication, installation tokens, self-hosted runners) with an
OpenID Connect issuer at ORIGIN/oidc, for tests and the demo. It runs until SIGTERM or SIGINT.

${USAGE}

  --state-dir DIR       where to write app.pem (0600), simulator.json and, with --tls, ca.pem (required)
  --listen HOST:PORT    address to listen on (default 127.0.0.1:0, a free port)
  --prefix /api/v3      serve the API under /api/v3, as GitHub Enterprise Server does (default: none)
  --tls                 serve HTTPS with a self-signed certificate written to DIR/ca.pem
  --tls-cert FILE, --tls-key FILE   serve HTTPS with this certificate and key
  --public-url URL      the URL clients use when it is not the listening address (behind a Service)
  --app-id N            the App's id (default 424242)
  --app-key-file FILE   the App's private key (PEM; default: a new one)
  --token-ttl SECONDS   lifetime of installation tokens (default 3600)
  --token-format F      jwt (ghs_<appid>_<JWT>, GitHub's form since April 2026; default) or classic (ghs_ + 36)
  --webhook-url URL     the App's webhook URL: signed workflow_job deliveries go there (e.g. the broker's
                        /api/v1/webhooks/github); also settable later with PUT /_simulator/webhooks
  --webhook-secret-file FILE   the webhook secret (the broker's GITHUB_WEBHOOK_SECRET_FILE)
  --actions-permission  grant the org installation "actions: read", which workflow_job deliveries need
  -h, --help            this help

Control endpoints (faults, clock, runners, OIDC tokens and key rotation) are listed at the top of
tests/simulator/simulator.ts, runners.ts and oidc-issuer.ts.

Environment: GHAPP_SIM_EXCHANGES_DIR=DIR logs every API exchange into DIR, to be checked against
GitHub's OpenAPI description with: bun tests/simulator/conformance-cli.ts DIR

Exit codes: 0 stopped by a signal, 2 bad arguments.`;

function fail(message: string): never {
  console.error(`simulator: ${message}\n${USAGE}`);
  process.exit(2);
}

const argv = process.argv.slice(2);
if (argv[0] === "oidc-token") process.exit(await oidcTokenCommand(argv.slice(1)));
if (argv.includes("--help") || argv.includes("-h")) {
  console.log(HELP);
  process.exit(0);
}

let parsed;
try {
  parsed = parseArgs({
    args: argv,
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
      "webhook-url": { type: "string" },
      "webhook-secret-file": { type: "string" },
      "actions-permission": { type: "boolean", default: false },
    },
  });
} catch (e) {
  fail((e as Error).message);
}
const { values } = parsed;
const stateDir = values["state-dir"] ?? fail("--state-dir is required");
const tokenTtl = /^[1-9]\d{0,5}$/.test(values["token-ttl"] ?? "") ? Number(values["token-ttl"]) : fail("--token-ttl is a whole number of seconds from 1 to 999999, e.g. 3600");
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
if (!!values["webhook-url"] !== !!values["webhook-secret-file"]) fail("--webhook-url and --webhook-secret-file go together");
let webhook: { url: string; secret: string } | undefined;
if (values["webhook-url"]) {
  if (!/^https?:\/\//.test(values["webhook-url"])) fail(`--webhook-url ${values["webhook-url"]} is not an http(s) URL`);
  let secret = "";
  try {
    secret = readFileSync(values["webhook-secret-file"]!, "utf8").trim();
  } catch {
    fail(`--webhook-secret-file ${values["webhook-secret-file"]} cannot be read`);
  }
  if (!secret) fail(`--webhook-secret-file ${values["webhook-secret-file"]} is empty`);
  webhook = { url: values["webhook-url"], secret };
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
  tokenTtlSeconds: tokenTtl,
  tokenFormat,
  ...(tls ? { tls: { cert: tls.cert, key: tls.key } } : {}),
  ...(appId !== undefined ? { appId } : {}),
  ...(values["app-key-file"] ? { appPrivateKeyPem: readFileSync(values["app-key-file"], "utf8") } : {}),
  ...(publicUrl ? { publicOrigin: publicUrl.origin } : {}),
});
writeFileSync(join(stateDir, "app.pem"), sim.app.privateKeyPem, { mode: 0o600 });
if (values["actions-permission"]) for (const i of sim.installations) if (i.account.type === "Organization") i.permissions.actions = "read";
if (webhook) sim.webhooks.configure(webhook);
// Written to a temporary name and renamed, so a process waiting for the file never reads half of it.
writeFileSync(
  join(stateDir, "simulator.json.tmp"),
  JSON.stringify(
    {
      url: sim.url,
      origin: sim.origin,
      oidcIssuer: sim.oidc.issuer,
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
