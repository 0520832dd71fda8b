// `npm run bench` (2/3): a mint end to end — process start to exit with the token written — for
// ghapp-token beside two anchors doing the same job against the same simulator in the same run:
// @octokit/auth-app on Node (what actions/create-github-app-token uses) and a minimal Go mint with
// bradleyfalzon/ghinstallation (what Go sidecars commonly use). As in the pod, the token goes to
// tmpfs; every executable built here is evicted from the page cache before its warm-ups, so its
// resident figures are not inflated by a just-written file; the runs are interleaved round-robin
// so that the machine's load drifts alike for all three. Prints medians, p90 and peak resident
// memory, then the targets and whether this run met them. Never fails on a figure.
import { $ } from "bun";
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { IMAGE } from "../../ci/image-rootfs.ts";
import { startSimulator } from "../simulator/simulator.ts";
import { AUDIENCE, startBroker } from "../broker/harness.ts";
import { stringify } from "yaml";
import { buildLauncher, evictFromPageCache, interleave, median, mib, quantile, target, tmpfsFolder, type Contender } from "./lib.ts";

const RUNS = Number(process.env.BENCH_RUNS ?? 21);
const ROOT = resolve(import.meta.dir, "../..");
const BINARY = join(ROOT, "dist/ghapp-token");
const GO_ANCHOR = join(ROOT, ".cache/bench/go-mint");
if (!existsSync(BINARY)) throw new Error("dist/ghapp-token is missing: run npm run build");

await buildLauncher();
// The Go anchor, built as Go programs ship (static, trimmed paths) from its own module.
await $`go build -C ${join(import.meta.dir, "go-mint")} -trimpath -ldflags=-s -o ${GO_ANCHOR} .`.env({ ...process.env, CGO_ENABLED: "0" }).quiet();
for (const exe of [BINARY, GO_ANCHOR]) await evictFromPageCache(exe);

const sim = await startSimulator();
const dir = tmpfsFolder("ghapp-bench-");
writeFileSync(join(dir, "key.pem"), sim.app.privateKeyPem, { mode: 0o600 });
const env = { APP_ID: String(sim.app.id), PRIVATE_KEY_FILE: join(dir, "key.pem"), GITHUB_API_URL: sim.url, INSTALLATION_ID: "1001", OUTPUT_PATH: join(dir, "token"), PATH: process.env.PATH ?? "/usr/bin:/bin" };

// Brokered mode (issue 21) beside it: the real broker on loopback with a trust policy for the
// simulator's OIDC issuer, answering from its token cache (the first warm-up fills it), so what is
// measured is ghapp-token's side of a cache hit: read the OIDC token, one POST, write the file.
const brokerDir = tmpfsFolder("ghapp-bench-broker-");
writeFileSync(join(brokerDir, "app.pem"), sim.app.privateKeyPem, { mode: 0o600 });
const SUBJECT = "repo:acme-org/api:ref:refs/heads/main";
writeFileSync(
  join(brokerDir, "policies.yaml"),
  stringify({ trust_policies: [{ name: "bench", issuer: sim.oidc.issuer, audience: AUDIENCE, subject: SUBJECT, owner: "acme-org", repositories: "*", permissions: { contents: "read" } }] }),
);
const broker = await startBroker({
  PATH: "/usr/bin:/bin",
  GITHUB_APP_ID: String(sim.app.id),
  GITHUB_APP_PRIVATE_KEY_FILE: join(brokerDir, "app.pem"),
  GITHUB_ORG: "acme-org",
  GITHUB_API_URL: sim.url,
  DATABASE_URL: `sqlite://${join(brokerDir, "broker.db")}`,
  LISTEN_ADDR: "127.0.0.1:0",
  OIDC_ISSUER: sim.oidc.issuer,
  OIDC_AUDIENCE: AUDIENCE,
  POLICY_FILE: join(brokerDir, "policies.yaml"),
  SYNC_INTERVAL: "1h",
  // Every run of every round is one exchange for the same identity.
  TOKEN_RATE_LIMIT: "100000",
});
writeFileSync(join(dir, "oidc-token"), await sim.oidc.mint({ sub: SUBJECT, aud: AUDIENCE, expires_in: 3600 }), { mode: 0o600 });
const brokered = { APP_ID: "", PRIVATE_KEY_FILE: "", INSTALLATION_ID: "", BROKER_URL: broker.url, OIDC_TOKEN_FILE: join(dir, "oidc-token"), OWNER: "acme-org" };

const minted = (name: string) => (code: number, stderr: string) => {
  const token = existsSync(env.OUTPUT_PATH) ? readFileSync(env.OUTPUT_PATH, "utf8") : "";
  if (code !== 0 || !token.startsWith("ghs_")) throw new Error(`${name} did not mint (exit ${code}): ${stderr}`);
};
// ghapp-token runs as the image runs it (the Dockerfile's ENV, IMAGE.ownEnv: no JIT), which is
// what the targets are about; the bare executable (JIT on, with its reluctant start-up policy)
// is shown beside it.
const contenders: Contender[] = [
  { name: "ghapp-token, as the image runs it", cmd: [BINARY], env: { ...IMAGE.ownEnv }, check: minted("ghapp-token"), runs: [] },
  { name: "@octokit/auth-app on Node (anchor)", cmd: ["node", join(import.meta.dir, "octokit-mint.mjs")], check: minted("the Node anchor"), runs: [] },
  { name: "ghinstallation on Go (anchor)", cmd: [GO_ANCHOR], check: minted("the Go anchor"), runs: [] },
  { name: "ghapp-token, the bare executable", cmd: [BINARY], check: minted("ghapp-token"), runs: [] },
  { name: "ghapp-token brokered, broker cache hit, as the image runs it", cmd: [BINARY], env: { ...IMAGE.ownEnv, ...brokered }, check: minted("brokered ghapp-token"), runs: [] },
];
await interleave(contenders, RUNS, 2, env, () => rmSync(env.OUTPUT_PATH, { force: true }));
await broker.stop();
await sim.close();
rmSync(dir, { recursive: true, force: true });
rmSync(brokerDir, { recursive: true, force: true });

const ms = (c: Contender) => median(c.runs.map((r) => r.ms));
const peak = (c: Contender) => Math.max(...c.runs.map((r) => r.peakRss));
console.log(`\nmint end to end against the simulator on loopback, token on tmpfs: ${RUNS} interleaved runs each after 2 warm-ups\n`);
console.log("| | median | p90 | peak RSS (median / max) |");
console.log("|---|---:|---:|---:|");
for (const c of contenders) {
  console.log(`| ${c.name} | ${ms(c).toFixed(1)} ms | ${quantile(c.runs.map((r) => r.ms), 0.9).toFixed(1)} ms | ${mib(median(c.runs.map((r) => r.peakRss)))} / ${mib(peak(c))} MiB |`);
}
const [ours, node, go, , viaBroker] = contenders as [Contender, Contender, Contender, Contender, Contender];
const faster = ms(node) / ms(ours);
const slower = ms(ours) / ms(go);
console.log("\ntargets (this run):");
console.log(target("faster than the Node anchor", `${faster.toFixed(2)}×`, faster >= 6, "≥ 6×"));
console.log(target("time against the Go anchor", `${slower.toFixed(2)}× Go's`, slower <= 3, "≤ 3×"));
console.log(target("mint peak resident memory", `${mib(peak(ours))} MiB`, peak(ours) < 50 * 2 ** 20, "< 50 MiB"));
const brokeredRatio = ms(viaBroker) / ms(ours);
console.log(target("brokered mint (broker cache hit) against a key-based mint", `${brokeredRatio.toFixed(2)}× (${ms(viaBroker).toFixed(1)} ms vs ${ms(ours).toFixed(1)} ms)`, brokeredRatio <= 1.5, "≤ 1.5×"));
