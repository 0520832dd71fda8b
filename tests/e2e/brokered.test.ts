// ghapp-token's brokered mode against the REAL broker (dist/ghapp-runner-broker, tests/broker/harness.ts)
// and the GitHub simulator, which is also the OIDC issuer: the compiled generator presents an OIDC
// token from a file and gets an installation token narrowed to what the broker's trust policy grants
// and what OWNER, REPOSITORIES and PERMISSIONS ask; no policy or a bad token is exit 3, asking beyond
// the policy exit 4, and nothing is written on a refusal. The same against a Kubernetes API server's
// TokenRequest tokens and the rendered chart is tests/controlplane/brokered.test.ts.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { stringify } from "yaml";
import { AUDIENCE, startBroker, startWorld, type Broker, type World } from "../broker/harness.ts";
import { runGenerator } from "../helpers/generator.ts";
import { expectNoSecrets } from "../helpers/secrets.ts";

let world: World;
let broker: Broker;
const SUB = "repo:acme-org/api:ref:refs/heads/main";
const GHOST = "repo:acme-org/ghost:ref:refs/heads/main";

beforeAll(async () => {
  world = await startWorld();
  const policies = join(world.dir, "policies.yaml");
  writeFileSync(
    policies,
    stringify({
      label_policies: [],
      trust_policies: [
        { name: "api-builds", issuer: world.sim.oidc.issuer, audience: AUDIENCE, subject: SUB, owner: "acme-org", repositories: ["api", "web"], permissions: { contents: "write", issues: "read" } },
        // An owner the App is not installed on: the broker's GitHub call fails (502 github_misconfigured).
        { name: "ghost-owner", issuer: world.sim.oidc.issuer, audience: AUDIENCE, subject: GHOST, owner: "nobody-org", repositories: "*", permissions: { contents: "read" } },
      ],
    }),
  );
  broker = await startBroker(world.env({ POLICY_FILE: policies }));
});
afterAll(async () => {
  await broker?.stop();
  await world?.close();
});

/** The environment of a brokered ghapp-token whose OIDC token file holds `oidc`. */
function env(oidc: string, extra: Record<string, string> = {}) {
  const dir = join(world.dir, `step-${Math.random().toString(36).slice(2)}`);
  mkdirSync(dir);
  writeFileSync(join(dir, "oidc-token"), oidc, { mode: 0o600 });
  return { BROKER_URL: broker.url, OIDC_TOKEN_FILE: join(dir, "oidc-token"), OUTPUT_PATH: join(dir, "token"), LOG_FORMAT: "json", ...extra };
}

describe("brokered ghapp-token against the real broker", () => {
  test("a caller a policy names gets a token narrowed as asked, written 0600 with its metadata", async () => {
    const oidc = await world.token(SUB);
    const e = env(oidc, { OWNER: "acme-org", REPOSITORIES: "api", PERMISSIONS: "contents=read" });
    const r = await runGenerator(["mint"], e);
    expect(r.stderr.split("\n").filter((l) => l.includes('"error"'))).toEqual([]);
    expect(r.code).toBe(0);
    const token = readFileSync(e.OUTPUT_PATH, "utf8");
    expect(statSync(e.OUTPUT_PATH).mode & 0o777).toBe(0o600);
    // What GitHub issued: exactly the narrowed scope.
    const issued = world.sim.tokens.get(token)!;
    expect(issued).toBeDefined();
    const meta = JSON.parse(readFileSync(`${e.OUTPUT_PATH}.json`, "utf8"));
    expect(meta.owner).toBe("acme-org");
    expect(meta.repositories).toEqual(["acme-org/api"]);
    expect(meta.permissions.contents).toBe("read");
    expect(meta.permissions.issues).toBeUndefined();
    expectNoSecrets(r.stdout + r.stderr, [token, oidc]);
  });

  test("OWNER may be left out: the policy's owner is used", async () => {
    const e = env(await world.token(SUB));
    const r = await runGenerator(["mint"], e);
    expect(r.code).toBe(0);
    expect(JSON.parse(readFileSync(`${e.OUTPUT_PATH}.json`, "utf8")).owner).toBe("acme-org");
  });

  test("a caller no policy names is refused: exit 3, nothing written", async () => {
    const oidc = await world.token("repo:acme-org/other:ref:refs/heads/main");
    const e = env(oidc);
    const r = await runGenerator(["mint"], e);
    expect(r.code).toBe(3);
    expect(existsSync(e.OUTPUT_PATH)).toBe(false);
    expect(existsSync(`${e.OUTPUT_PATH}.json`)).toBe(false);
    expect(r.stderr).toContain("no trust policy");
    expectNoSecrets(r.stdout + r.stderr, [oidc]);
  });

  test("asking beyond the policy is refused: exit 4 naming what was refused, nothing written", async () => {
    const e = env(await world.token(SUB), { PERMISSIONS: "administration=write" });
    const r = await runGenerator(["mint"], e);
    expect(r.code).toBe(4);
    expect(existsSync(e.OUTPUT_PATH)).toBe(false);
    expect(r.stderr).toContain("administration");
    const e2 = env(await world.token(SUB), { REPOSITORIES: "infra" });
    const r2 = await runGenerator(["mint"], e2);
    expect(r2.code).toBe(4);
    expect(r2.stderr).toContain("infra");
    expect(existsSync(e2.OUTPUT_PATH)).toBe(false);
  });

  test("a policy whose owner the App is not installed on: exit 4 at once (not retried), nothing written", async () => {
    const e = env(await world.token(GHOST));
    const before = world.sim.requests.length;
    const r = await runGenerator(["mint"], e);
    expect(r.code).toBe(4);
    expect(r.stderr).toContain("OWNER");
    expect(existsSync(e.OUTPUT_PATH)).toBe(false);
    // One exchange: the broker asked GitHub once (or a few times itself), ghapp-token did not retry it.
    expect(r.stderr).not.toContain("retrying the broker request");
    expect(world.sim.requests.length - before).toBeLessThan(10);
  });

  test("GitHub down behind the broker (a scope not in its cache): exit 5, nothing written", async () => {
    world.sim.inject({ kind: "status", status: 503, match: { path: "/access_tokens" }, times: 1000 });
    try {
      // The broker answers 503 with a Retry-After beyond MAX_RETRY_WAIT: ghapp-token fails at once.
      const e = env(await world.token(SUB), { REPOSITORIES: "web", PERMISSIONS: "issues=read", MAX_RETRY_WAIT: "1s" });
      const r = await runGenerator(["mint"], e, { timeoutMs: 60_000 });
      expect(r.code).toBe(5);
      expect(existsSync(e.OUTPUT_PATH)).toBe(false);
      expect(existsSync(`${e.OUTPUT_PATH}.json`)).toBe(false);
    } finally {
      world.sim.clearFaults();
    }
  }, 90_000);

  test("a token for another audience, or an expired one, is refused: exit 3", async () => {
    const wrongAudience = env(await world.token(SUB, { aud: "someone-else" }));
    expect((await runGenerator(["mint"], wrongAudience)).code).toBe(3);
    const expired = env(await world.token(SUB, { iat: Math.floor(Date.now() / 1000) - 7200, exp: Math.floor(Date.now() / 1000) - 3600 }));
    const r = await runGenerator(["mint"], expired);
    expect(r.code).toBe(3);
    expect(existsSync(expired.OUTPUT_PATH)).toBe(false);
  });

  test("refresh writes the broker's narrowed token and stops cleanly on SIGTERM (re-reading the token file: brokered-hostile.test.ts)", async () => {
    const e = env(await world.token(SUB), { LISTEN_ADDR: "127.0.0.1:0", REPOSITORIES: "web" });
    const proc = Bun.spawn([require("../helpers/generator.ts").BINARY, "refresh"], { env: e, stdout: "ignore", stderr: "pipe" });
    try {
      const deadline = Date.now() + 10_000;
      while (!existsSync(e.OUTPUT_PATH) && Date.now() < deadline) await Bun.sleep(50);
      const token = readFileSync(e.OUTPUT_PATH, "utf8");
      expect(world.sim.tokens.has(token)).toBe(true);
      expect(JSON.parse(readFileSync(`${e.OUTPUT_PATH}.json`, "utf8")).repositories).toEqual(["acme-org/web"]);
    } finally {
      proc.kill("SIGTERM");
      expect(await proc.exited).toBe(0);
    }
  }, 20_000);
});
