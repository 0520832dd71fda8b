// The conformance check (conformance.ts) is what keeps the simulator honest: these tests pin that it
// catches what it must (a missing field, an undeclared status or operation, a bad client request, a
// bad webhook delivery), says where, corrects the description's known flaws only where listed, and
// that the simulator's own answers pass it.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import jwt from "jsonwebtoken";
import Ajv from "ajv";
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Conformance, formatFailure, reportLine } from "./conformance.ts";
import { applyDescriptionFlaws, DESCRIPTION_FLAWS } from "./description-flaws.ts";
import { EXCHANGES_DIR_ENV, exchangeRecorder, readExchanges, type ApiExchange } from "./exchanges.ts";
import { accountJson, installationJson } from "./github-objects.ts";
import { addOpenApiFormats, toJsonSchema } from "./openapi-schema.ts";
import { defaultInstallations, startSimulator } from "./simulator.ts";

const conformance = new Conformance();
const urls = { api: "https://github-sim.test", web: "https://github-sim.test" };
const context = { urls, appId: 424242, clientId: "Iv23liabcdef", appSlug: "ghapp-tokens-sim" };
const acme = defaultInstallations()[0]!;

function exchange(x: Partial<ApiExchange> & Pick<ApiExchange, "method" | "path" | "status">): ApiExchange {
  return { kind: "api", prefix: "", query: {}, requestBody: undefined, responseBody: undefined, contentType: "application/json; charset=utf-8", ...x };
}
const failures = (x: ApiExchange) => conformance.checkExchange(x).map(formatFailure);

describe("what the check catches, and how it says so", () => {
  test("an installation without html_url fails, naming the operation, the status and the JSON path", () => {
    const { html_url: _dropped, ...partial } = installationJson(acme, context);
    expect(failures(exchange({ method: "GET", path: "/app/installations/1001", status: 200, responseBody: partial }))).toEqual([
      "apps/get-installation 200: response (GET /app/installations/{installation_id}) body /html_url: is required",
    ]);
  });

  test("the simulator's old partial account (login, id, type, node_id, url) fails on the first field a Simple User requires", () => {
    const old = { ...installationJson(acme, context), account: { login: "acme-org", id: 5001, type: "Organization", node_id: "MDQ65001", url: "https://github-sim.test/users/acme-org" } };
    const [failure] = failures(exchange({ method: "GET", path: "/orgs/acme-org/installation", status: 200, responseBody: old }));
    expect(failure).toStartWith("apps/get-org-installation 200: response (GET /orgs/{org}/installation) body /account/avatar_url: is required");
  });

  test("a status the description does not list for the operation is a failure of its own", () => {
    expect(failures(exchange({ method: "GET", path: "/app", status: 418, responseBody: { message: "I'm a teapot" } }))).toEqual([
      "apps/get-authenticated 418: status (GET /app) is not a status the description lists (200); change the simulator, or cite GitHub's prose for it in description-flaws.ts",
    ]);
  });

  test("a JSON answer sent as another media type is a failure", () => {
    const x = exchange({ method: "GET", path: "/app/installations/1001", status: 200, responseBody: installationJson(acme, context), contentType: "text/plain" });
    expect(failures(x)).toEqual(["apps/get-installation 200: response (GET /app/installations/{installation_id}) content-type text/plain: the description gives application/json"]);
  });

  test("a path GitHub has no operation for is a failure", () => {
    expect(failures(exchange({ method: "GET", path: "/app/frobnicate", status: 200, responseBody: {} }))).toEqual([
      "GET /app/frobnicate 200: operation is not an operation of GitHub's description (api.github.com)",
    ]);
  });

  test("a client request outside the operation's request schema fails, even when the simulator accepted it", () => {
    const answer = { runner: {}, encoded_jit_config: "[redacted encoded_jit_config]" };
    const got = failures(exchange({ method: "POST", path: "/orgs/acme-org/actions/runners/generate-jitconfig", status: 201, requestBody: { name: "r1", runner_group_id: 2, labels: [] }, responseBody: answer }));
    expect(got[0]).toBe("actions/generate-runner-jitconfig-for-org: request (POST /orgs/{org}/actions/runners/generate-jitconfig) body /labels: must NOT have fewer than 1 items");
    const badQuery = failures(exchange({ method: "GET", path: "/app/installations", query: { per_page: ["many"], sort: ["id"] }, status: 200, responseBody: [] }));
    expect(badQuery).toEqual([
      "apps/list-installations: request (GET /app/installations) query parameter per_page /: must be integer",
      "apps/list-installations: request (GET /app/installations) query parameter sort: is not a parameter of this operation",
    ]);
  });

  test("an answer the test injected is not checked; the request that got it is", () => {
    const report = conformance.check([
      exchange({ method: "POST", path: "/app/installations/1001/access_tokens", status: 502, fault: "status", requestBody: { repositories: "api" }, responseBody: "<html>" }),
    ]);
    expect(report.injected).toBe(1);
    expect(report.responsesChecked).toBe(0);
    expect(report.failures.map(formatFailure)).toEqual([
      "apps/create-installation-access-token: request (POST /app/installations/{installation_id}/access_tokens) body /repositories: must be array",
    ]);
    expect(reportLine(report)).toBe(
      "simulator conformance: 1 operations, 1 exchanges (1 requests, 0 answers validated; 0 bad requests refused, 0 unknown paths answered 404, " +
        "1 injected faults not checked), 0 webhook deliveries, 1 failures",
    );
  });

  test("a failure never shows the values it found (an answer may hold a token)", () => {
    const secret = "ghs_424242_secretsecretsecret";
    const got = failures(exchange({ method: "POST", path: "/app/installations/1001/access_tokens", status: 201, responseBody: { token: 42, expires_at: secret } }));
    expect(got).toEqual(["apps/create-installation-access-token 201: response (POST /app/installations/{installation_id}/access_tokens) body /token: must be string"]);
    expect(got.join()).not.toContain(secret);
  });
});

describe("GitHub's description, read as OpenAPI 3.0 says", () => {
  const validate = (schema: unknown) => {
    const ajv = new Ajv({ strict: true, allowUnionTypes: true });
    addOpenApiFormats(ajv);
    return ajv.compile(toJsonSchema(schema, "") as object);
  };

  test("nullable allows null, and only null, beside the type", () => {
    const v = validate({ type: "string", nullable: true, format: "date-time" });
    expect([v(null), v("2026-01-01T00:00:00Z"), v("yesterday"), v(3)]).toEqual([true, true, false, false]);
    const composed = validate({ nullable: true, allOf: [{ type: "object", properties: { login: { type: "string" } }, required: ["login"] }] });
    expect([composed(null), composed({ login: "a" }), composed({})]).toEqual([true, true, false]);
  });

  test("a nullable enum that does not list null refuses null (OAI/OpenAPI-Specification#1900)", () => {
    const v = validate({ type: "string", nullable: true, enum: ["read", "write"] });
    expect([v("read"), v(null), v("admin")]).toEqual([true, false, false]);
  });

  test("formats are checked: date-time, uri, uri-template, email", () => {
    const v = validate({
      type: "object",
      properties: { at: { type: "string", format: "date-time" }, url: { type: "string", format: "uri" }, tpl: { type: "string", format: "uri-template" }, mail: { type: "string", format: "email" } },
    });
    expect(v({ at: "2026-02-30T00:00:00Z" })).toBe(false);
    expect(v({ url: "/relative/path" })).toBe(false);
    expect(v({ tpl: "https://h/users/x/following{/other_user}", url: "https://h/x", at: "2026-01-01T00:00:00+02:00", mail: "a@b.example" })).toBe(true);
    expect(v({ tpl: "https://h/{unclosed" })).toBe(false);
    expect(v({ mail: "not an address" })).toBe(false);
  });

  test("list-installations' account is corrected from allOf to anyOf at that one spot, and nowhere else", () => {
    const user = installationJson(defaultInstallations()[1]!, context);
    expect(failures(exchange({ method: "GET", path: "/app/installations", status: 200, responseBody: [user] }))).toEqual([]);
    const { login: _login, ...nameless } = user.account;
    const [failure] = failures(exchange({ method: "GET", path: "/app/installations", status: 200, responseBody: [{ ...user, account: nameless }] }));
    expect(failure).toStartWith("apps/list-installations 200: response (GET /app/installations) body /0/account/login: is required");
    expect(DESCRIPTION_FLAWS.every((f) => f.reason.length > 80 && f.pointer.startsWith("/"))).toBe(true);
  });

  test("a listed flaw that the description no longer has stops the check, so the list cannot go stale", () => {
    const fixed = { paths: { "/app/installations": { get: { responses: { "200": { content: { "application/json": { schema: { items: { properties: { account: { anyOf: [] } } } } } } } } } } } };
    expect(() => applyDescriptionFlaws("api.github.com", fixed)).toThrow("is no longer in api.github.com");
  });
});

describe("webhook deliveries, against @octokit/openapi-webhooks", () => {
  const installation = installationJson(acme, context);
  const sender = accountJson({ login: "acme-admin", id: 1, type: "User" }, urls);

  test("an installation.created delivery built from the simulator's objects passes", () => {
    const report = conformance.check([{ kind: "delivery", event: "installation", payload: { action: "created", installation, sender, repositories: [] } }]);
    expect(report.deliveries).toBe(1);
    expect(report.failures).toEqual([]);
  });

  test("a delivery the simulator records is read back and checked with the API exchanges", () => {
    const dir = mkdtempSync(join(tmpdir(), "deliveries-"));
    try {
      const recorder = exchangeRecorder({ [EXCHANGES_DIR_ENV]: dir })!;
      recorder.record({ kind: "delivery", event: "installation", payload: { action: "created", installation, sender } });
      recorder.record({ kind: "delivery", event: "installation", payload: { action: "deleted", installation: { id: 1001 }, sender } });
      const report = conformance.check(readExchanges(dir));
      expect(report.deliveries).toBe(2);
      expect(report.failures.map(formatFailure)).toEqual(["installation/deleted: delivery payload /installation/app_id: is required"]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("a delivery missing what the event requires fails, naming the event's operation and the path", () => {
    const failure = conformance.checkDelivery({ kind: "delivery", event: "installation", payload: { action: "created", sender } });
    expect(failure && formatFailure(failure)).toBe("installation/created: delivery payload /installation: is required");
    const unknown = conformance.checkDelivery({ kind: "delivery", event: "no_such_event", payload: {} });
    expect(unknown && formatFailure(unknown)).toBe("no_such_event: delivery is not a webhook event of GitHub's description");
  });
});

describe("the simulator's own answers", () => {
  const dirs: string[] = [];
  /** A simulator logging into a folder of its own, whatever the run's GHAPP_SIM_EXCHANGES_DIR. */
  async function recordedSimulator(prefix: string) {
    const dir = mkdtempSync(join(tmpdir(), "sim-exchanges-"));
    dirs.push(dir);
    const saved = process.env[EXCHANGES_DIR_ENV];
    process.env[EXCHANGES_DIR_ENV] = dir;
    try {
      return { dir, sim: await startSimulator({ prefix }) };
    } finally {
      if (saved === undefined) delete process.env[EXCHANGES_DIR_ENV];
      else process.env[EXCHANGES_DIR_ENV] = saved;
    }
  }
  afterAll(() => {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  /** Calls every endpoint the simulator serves, successes and GitHub's refusals; returns the secrets it saw. */
  async function exercise(sim: Awaited<ReturnType<typeof startSimulator>>) {
    const now = Math.floor(Date.now() / 1000);
    const appJwt = jwt.sign({ iat: now - 60, exp: now + 540, iss: String(sim.app.id) }, sim.app.privateKeyPem, { algorithm: "RS256" });
    const call = async (method: string, path: string, auth: string, body?: unknown) => {
      const res = await fetch(`${sim.url}${path}`, {
        method,
        headers: { authorization: auth, accept: "application/vnd.github+json", ...(body ? { "content-type": "application/json" } : {}) },
        ...(body ? { body: JSON.stringify(body) } : {}),
      });
      // GitHub answers are JSON objects whose fields the test reads.
      // eslint-disable-next-line @typescript-eslint/no-explicit-any
      return { status: res.status, body: (res.status === 204 ? null : await res.json()) as any };
    };
    const app = `Bearer ${appJwt}`;
    for (const path of ["/", "/meta", "/app", "/app/installations", "/app/installations/1001", "/orgs/acme-org/installation", "/users/Octo-User/installation", "/repos/acme-org/api/installation"]) {
      expect((await call("GET", path, app)).status).toBe(200);
    }
    expect((await call("GET", "/users/nobody/installation", app)).status).toBe(404);
    expect((await call("GET", "/app", "Bearer not.a.jwt")).status).toBe(401);
    const scoped = await call("POST", "/app/installations/1001/access_tokens", app, { repositories: ["api"], permissions: { contents: "read", organization_self_hosted_runners: "write" } });
    expect(scoped.status).toBe(201);
    const token = `token ${scoped.body.token}`;
    expect((await call("GET", "/installation/repositories", token)).status).toBe(200);
    expect((await call("GET", "/rate_limit", token)).status).toBe(200);
    const jit = await call("POST", "/orgs/acme-org/actions/runners/generate-jitconfig", token, { name: "conf-1", runner_group_id: 2, labels: ["team-a"] });
    expect(jit.status).toBe(201);
    const runner = `/orgs/acme-org/actions/runners/${jit.body.runner.id}`;
    expect((await call("GET", "/orgs/acme-org/actions/runners?per_page=10", token)).status).toBe(200);
    expect((await call("GET", runner, token)).status).toBe(200);
    expect((await call("GET", "/orgs/acme-org/actions/runner-groups", token)).status).toBe(200);
    expect((await call("GET", "/orgs/acme-org/actions/runner-groups/2", token)).status).toBe(200);
    expect((await call("GET", "/orgs/acme-org/actions/runner-groups/2/runners", token)).status).toBe(200);
    const registration = await call("POST", "/orgs/acme-org/actions/runners/registration-token", token);
    expect(registration.status).toBe(201);
    expect((await call("DELETE", runner, token)).status).toBe(204);
    expect((await call("GET", runner, token)).status).toBe(404);
    expect((await call("DELETE", "/installation/token", token)).status).toBe(204);
    return [appJwt, scoped.body.token as string, jit.body.encoded_jit_config as string, registration.body.token as string];
  }

  for (const [where, prefix, description] of [["api.github.com", "", "api.github.com"], ["GitHub Enterprise Server (/api/v3)", "/api/v3", "ghes-3.17"]] as const) {
    test(`on ${where}, every endpoint's answer conforms to ${description}'s description, and the log holds no secret`, async () => {
      const { dir, sim } = await recordedSimulator(prefix);
      let secrets: string[];
      try {
        secrets = await exercise(sim);
      } finally {
        await sim.close();
      }
      const exchanges = readExchanges(dir);
      expect(exchanges.every((x) => x.kind === "api" && x.prefix === prefix)).toBe(true);
      const report = conformance.check(exchanges);
      expect(report.failures.map(formatFailure)).toEqual([]);
      expect(report.responsesChecked).toBe(exchanges.length);
      expect(report.operations.size).toBe(20);
      const logged = readdirSync(dir).map((f) => readFileSync(join(dir, f), "utf8")).join("");
      for (const secret of secrets) expect(logged).not.toContain(secret);
    });
  }
});

describe("the check as npm test runs it", () => {
  const ROOT = join(import.meta.dir, "../..");
  const run = (cmd: string[]) => {
    const p = Bun.spawnSync(cmd, { cwd: ROOT, env: { ...process.env, NO_COLOR: "1" } });
    return { code: p.exitCode, out: p.stdout.toString(), err: p.stderr.toString() };
  };

  test("conformance-cli fails on a bad answer, naming it, and the summary prints its one line above the closing line", () => {
    const results = mkdtempSync(join(tmpdir(), "results-"));
    try {
      const dir = join(results, "simulator-exchanges");
      const { html_url: _dropped, ...partial } = installationJson(acme, context);
      const good = exchange({ method: "GET", path: "/app/installations/1002", status: 200, responseBody: installationJson(defaultInstallations()[1]!, context) });
      const bad = exchange({ method: "GET", path: "/app/installations/1001", status: 200, responseBody: partial });
      mkdirSync(dir);
      writeFileSync(join(dir, "1-a.jsonl"), [good, bad, bad].map((x) => JSON.stringify(x)).join("\n") + "\n");

      const check = run([process.execPath, "tests/simulator/conformance-cli.ts", dir, "--report", join(results, "conformance.txt")]);
      expect(check.code).toBe(1);
      const line =
        "simulator conformance: 1 operations, 3 exchanges (3 requests, 3 answers validated; 0 bad requests refused, 0 unknown paths answered 404, " +
        "0 injected faults not checked), 0 webhook deliveries, 1 failures";
      expect(check.out.trim().split("\n")).toEqual([
        "FAIL apps/get-installation 200: response (GET /app/installations/{installation_id}) body /html_url: is required (2 exchanges)",
        line,
      ]);

      writeFileSync(join(results, "checks.txt"), "pass bun test\nfail simulator conformance\n");
      const summary = run([process.execPath, "run", "ci/summarize.ts", results]);
      expect(summary.code).toBe(1);
      expect(summary.out.trim().split("\n").slice(-2)).toEqual([line, "1 passed, 1 failed"]);
    } finally {
      rmSync(results, { recursive: true, force: true });
    }
  });

  test("conformance-cli refuses an empty folder: a recorder that logged nothing must not pass as conforming", () => {
    const empty = mkdtempSync(join(tmpdir(), "empty-"));
    try {
      const check = run([process.execPath, "tests/simulator/conformance-cli.ts", empty]);
      expect(check.code).toBe(1);
      expect(check.out).toContain("0 exchanges");
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });
});
