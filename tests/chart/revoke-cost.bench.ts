// What revoking a step's token costs (the chart README, "When the token ends"): wall time and peak
// memory of the two ways a step can do it, against the simulator on loopback over TLS. Prints
// median and p90 over RUNS runs; never fails (figures to read, not a timed test). Against GitHub,
// add one round trip to its API. Run: bun tests/chart/revoke-cost.bench.ts
//   ghapp-token revoke        the generator revoking the token in OUTPUT_PATH (no App credentials)
//   gh api -X DELETE …        what test-github-app's script and values-examples/own-template.workflow.yaml do
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { startSimulator } from "../simulator/simulator.ts";
import { makeSelfSignedCert } from "../simulator/tls.ts";

const RUNS = Number(process.env.BENCH_RUNS ?? 20);
const ROOT = resolve(import.meta.dir, "../..");
const BINARY = join(ROOT, "dist/ghapp-token");
if (!existsSync(BINARY)) throw new Error("dist/ghapp-token is missing: run npm run build");

const dir = mkdtempSync(join(tmpdir(), "revoke-bench-"));
const tls = makeSelfSignedCert(dir);
writeFileSync(join(dir, "ca.crt"), tls.cert);
const sim = await startSimulator({ tls: { cert: tls.cert, key: tls.key }, prefix: "/api/v3" });
const apiUrl = `https://localhost:${sim.port}/api/v3`;
writeFileSync(join(dir, "key.pem"), sim.app.privateKeyPem);
const tokenFile = join(dir, "token");
const base = { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: dir, NODE_EXTRA_CA_CERTS: join(dir, "ca.crt"), SSL_CERT_DIR: `/etc/ssl/certs:${dir}`, GITHUB_API_URL: apiUrl, OUTPUT_PATH: tokenFile };

async function run(cmd: string[], env: Record<string, string>): Promise<{ ms: number; rss: number }> {
  const t0 = performance.now();
  const proc = Bun.spawn(cmd, { env, stdout: "ignore", stderr: "pipe", cwd: dir });
  const code = await proc.exited;
  const ms = performance.now() - t0;
  if (code !== 0) throw new Error(`${cmd.join(" ")} failed (exit ${code}): ${(await new Response(proc.stderr).text()).slice(0, 400)}`);
  return { ms, rss: proc.resourceUsage()!.maxRSS };
}

/** Mints a fresh token into tokenFile (not measured), then measures one way of revoking it. */
async function measure(revoke: (token: string) => [string[], Record<string, string>]): Promise<{ ms: number[]; rss: number[] }> {
  const ms: number[] = [];
  const rss: number[] = [];
  for (let i = 0; i < RUNS + 2; i++) {
    rmSync(tokenFile, { force: true });
    await run([BINARY, "mint"], { ...base, APP_ID: String(sim.app.id), PRIVATE_KEY_FILE: join(dir, "key.pem"), OWNER: "acme-org" });
    const token = await Bun.file(tokenFile).text();
    const [cmd, env] = revoke(token);
    const r = await run(cmd, env);
    if (!sim.tokens.get(token)?.revoked) throw new Error(`${cmd[0]} exited 0 but the token is not revoked`);
    if (i < 2) continue; // warm-up
    ms.push(r.ms);
    rss.push(r.rss);
  }
  return { ms, rss };
}

const q = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))]!;
const mib = (b: number) => (b / 1024 / 1024).toFixed(1);
const show = (name: string, r: { ms: number[]; rss: number[] }) =>
  console.log(`${name.padEnd(28)} median ${q(r.ms, 0.5).toFixed(0).padStart(4)} ms   p90 ${q(r.ms, 0.9).toFixed(0).padStart(4)} ms   peak RSS ${mib(q(r.rss, 0.5))} MiB`);

try {
  console.log(`revoking one installation token, ${RUNS} runs each, simulator on loopback over TLS`);
  show("ghapp-token revoke", await measure(() => [[BINARY, "revoke"], base]));
  show("gh api -X DELETE (gh CLI)", await measure((token) => [["gh", "api", "-X", "DELETE", "/installation/token", "--silent"], { ...base, GH_HOST: `localhost:${sim.port}`, GH_ENTERPRISE_TOKEN: token }]));
} finally {
  await sim.close();
  rmSync(dir, { recursive: true, force: true });
}
