// The simulator is only useful if it is as strict as GitHub: these tests pin the behaviour the
// generator's tests rely on (JWT checks with GitHub's messages, pagination, faults).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import jwt from "jsonwebtoken";
import { generateAppKey, manyInstallations, startSimulator, type Simulator } from "./simulator.ts";

let sim: Simulator;
beforeAll(async () => {
  sim = await startSimulator();
});
afterAll(async () => {
  await sim.close();
});

const nowS = () => Math.floor(Date.now() / 1000);
function appJwt(claims: Record<string, unknown> = {}, key = sim.app.privateKeyPem) {
  return jwt.sign({ iat: nowS() - 60, exp: nowS() + 540, iss: String(sim.app.id), ...claims }, key, { algorithm: "RS256" });
}
// GitHub answers are JSON objects whose shape each test asserts on.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const json = async (res: Response): Promise<any> => res.json();
const get = (path: string, auth: string, base = sim.url) => fetch(`${base}${path}`, { headers: { authorization: auth, accept: "application/vnd.github+json" } });

describe("app authentication", () => {
  test("accepts a JWT signed with the app key, by app id and by client id", async () => {
    expect((await get("/app", `Bearer ${appJwt()}`)).status).toBe(200);
    expect((await get("/app", `Bearer ${appJwt({ iss: sim.app.clientId })}`)).status).toBe(200);
  });

  test("rejects a JWT signed with another key as GitHub does", async () => {
    const res = await get("/app", `Bearer ${appJwt({}, generateAppKey().privateKeyPem)}`);
    expect(res.status).toBe(401);
    expect((await json(res)).message).toBe("A JSON web token could not be decoded");
  });

  test("rejects a wrong app id with the same message", async () => {
    const res = await get("/app", `Bearer ${appJwt({ iss: "1" })}`);
    expect(res.status).toBe(401);
    expect((await json(res)).message).toBe("A JSON web token could not be decoded");
  });

  test("rejects an exp more than ten minutes ahead", async () => {
    const res = await get("/app", `Bearer ${appJwt({ exp: nowS() + 1200 })}`);
    expect(res.status).toBe(401);
    expect((await json(res)).message).toBe("'Expiration time' claim ('exp') is too far in the future");
  });

  test("rejects an expired JWT and an iat in the future", async () => {
    const expired = await get("/app", `Bearer ${appJwt({ iat: nowS() - 700, exp: nowS() - 100 })}`);
    expect((await json(expired)).message).toContain("'Expiration time' claim ('exp') must be a numeric value representing the future time");
    const future = await get("/app", `Bearer ${appJwt({ iat: nowS() + 300, exp: nowS() + 600 })}`);
    expect((await json(future)).message).toContain("'Issued at' claim ('iat') must be an Integer");
  });

  test("judges time by its own clock, so a skewed server rejects a host-clock JWT", async () => {
    sim.setClockOffset(-900);
    try {
      const res = await get("/app", `Bearer ${appJwt()}`);
      expect(res.status).toBe(401);
      expect(Date.parse(res.headers.get("date")!)).toBeLessThan(Date.now() - 800_000);
    } finally {
      sim.setClockOffset(0);
    }
  });

  test("answers with GitHub's headers", async () => {
    const res = await get("/app", `Bearer ${appJwt()}`);
    expect(res.headers.get("x-github-api-version-selected")).toBe("2022-11-28");
    expect(res.headers.get("x-ratelimit-remaining")).toMatch(/^\d+$/);
    expect(res.headers.get("x-github-request-id")).toBeTruthy();
  });
});

describe("installation tokens", () => {
  test("issues a ghs_ token that lists the installation's repositories, scoped when asked", async () => {
    const res = await fetch(`${sim.url}/app/installations/1001/access_tokens`, {
      method: "POST",
      headers: { authorization: `Bearer ${appJwt()}` },
      body: JSON.stringify({ repositories: ["api"], permissions: { contents: "read" } }),
    });
    expect(res.status).toBe(201);
    const body = await json(res);
    // GitHub's form since April 2026: ghs_<appid>_<JWT>, about 520 characters
    expect(body.token).toMatch(new RegExp(`^ghs_${sim.app.id}_eyJ[A-Za-z0-9_-]+\\.eyJ[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+$`));
    expect(body.token.length).toBeGreaterThan(450);
    expect(body.token.length).toBeLessThan(600);
    expect(body.permissions).toEqual({ contents: "read" });
    for (const scheme of ["token", "Bearer"]) {
      const repos = await json(await get("/installation/repositories", `${scheme} ${body.token}`));
      expect(repos.repositories.map((r: { full_name: string }) => r.full_name)).toEqual(["acme-org/api"]);
    }
  });

  test("issues the 40-character form with tokenFormat: classic", async () => {
    const classic = await startSimulator({ tokenFormat: "classic" });
    try {
      const jwtFor = () => jwt.sign({ iat: Math.floor(Date.now() / 1000) - 30, exp: Math.floor(Date.now() / 1000) + 300, iss: String(classic.app.id) }, classic.app.privateKeyPem, { algorithm: "RS256" });
      const res = await fetch(`${classic.url}/app/installations/1001/access_tokens`, { method: "POST", headers: { authorization: `Bearer ${jwtFor()}` } });
      const body = (await res.json()) as { token: string };
      expect(body.token).toMatch(/^ghs_[A-Za-z0-9]{36}$/);
      expect((await fetch(`${classic.url}/installation/repositories`, { headers: { authorization: `token ${body.token}` } })).status).toBe(200);
    } finally {
      await classic.close();
    }
  });

  test("answers 422 for repositories outside the installation and for ungranted permissions", async () => {
    const post = (b: unknown) => fetch(`${sim.url}/app/installations/1001/access_tokens`, { method: "POST", headers: { authorization: `Bearer ${appJwt()}` }, body: JSON.stringify(b) });
    expect((await post({ repositories: ["secret-repo"] })).status).toBe(422);
    expect((await post({ permissions: { administration: "write" } })).status).toBe(422);
  });

  test("a token gets no more than the App was granted, even where the installation holds more (the stricter reading)", async () => {
    // The installation accepted contents: write and pull_requests: write; the App's registration now asks
    // for contents: read only (an owner who has not yet approved the App's reduced permissions).
    const narrow = await startSimulator({ appPermissions: { contents: "read", metadata: "read" } });
    try {
      const now = Math.floor(Date.now() / 1000);
      const token = jwt.sign({ iat: now - 30, exp: now + 300, iss: String(narrow.app.id) }, narrow.app.privateKeyPem, { algorithm: "RS256" });
      const post = (b?: unknown) =>
        fetch(`${narrow.url}/app/installations/1001/access_tokens`, { method: "POST", headers: { authorization: `Bearer ${token}` }, ...(b ? { body: JSON.stringify(b) } : {}) });
      const asked = await post({ permissions: { contents: "write" } });
      expect(asked.status).toBe(422);
      expect((await json(asked)).message).toBe("The permissions requested are not granted to this installation.");
      expect((await json(await post())).permissions).toEqual({ contents: "read", metadata: "read" });
    } finally {
      await narrow.close();
    }
  });

  test("revoked and expired tokens get 401 Bad credentials", async () => {
    sim.setTokenTtl(1);
    const res = await fetch(`${sim.url}/app/installations/1001/access_tokens`, { method: "POST", headers: { authorization: `Bearer ${appJwt()}` } });
    sim.setTokenTtl(3600);
    const { token } = await json(res);
    await Bun.sleep(1100);
    const after = await get("/installation/repositories", `token ${token}`);
    expect(after.status).toBe(401);
    expect((await json(after)).message).toBe("Bad credentials");
  });

  test("answers 403 for a suspended installation and 404 for an unknown one", async () => {
    const other = await startSimulator();
    try {
      other.suspend(1001);
      const j = jwt.sign({ iat: nowS() - 60, exp: nowS() + 540, iss: String(other.app.id) }, other.app.privateKeyPem, { algorithm: "RS256" });
      const post = (id: number) => fetch(`${other.url}/app/installations/${id}/access_tokens`, { method: "POST", headers: { authorization: `Bearer ${j}` } });
      const suspended = await post(1001);
      expect(suspended.status).toBe(403);
      expect((await json(suspended)).message).toBe("This installation has been suspended");
      expect((await post(999)).status).toBe(404);
    } finally {
      await other.close();
    }
  });
});

describe("uninstalling the App", () => {
  test("the installation is gone (404 for its lookup and new tokens) and its tokens stop working (401)", async () => {
    const other = await startSimulator();
    try {
      const j = jwt.sign({ iat: nowS() - 60, exp: nowS() + 540, iss: String(other.app.id) }, other.app.privateKeyPem, { algorithm: "RS256" });
      const auth = { authorization: `Bearer ${j}` };
      const { token } = await json(await fetch(`${other.url}/app/installations/1001/access_tokens`, { method: "POST", headers: auth }));
      other.uninstall(1001);
      expect((await fetch(`${other.url}/orgs/acme-org/installation`, { headers: auth })).status).toBe(404);
      expect((await fetch(`${other.url}/app/installations/1001/access_tokens`, { method: "POST", headers: auth })).status).toBe(404);
      const used = await fetch(`${other.url}/orgs/acme-org/actions/runners`, { headers: { authorization: `token ${token}` } });
      expect(used.status).toBe(401);
    } finally {
      await other.close();
    }
  });
});

describe("pagination", () => {
  test("pages through 250 installations with a Link header", async () => {
    const big = await startSimulator({ installations: manyInstallations(250) });
    try {
      const j = jwt.sign({ iat: nowS() - 60, exp: nowS() + 540, iss: String(big.app.id) }, big.app.privateKeyPem, { algorithm: "RS256" });
      let next: string | undefined = `${big.url}/app/installations?per_page=100`;
      const logins: string[] = [];
      while (next) {
        const res: Response = await fetch(next, { headers: { authorization: `Bearer ${j}` } });
        logins.push(...(await json(res)).map((i: { account: { login: string } }) => i.account.login));
        next = /<([^>]+)>; rel="next"/.exec(res.headers.get("link") ?? "")?.[1];
      }
      expect(logins.length).toBe(250);
      expect(new Set(logins).size).toBe(250);
    } finally {
      await big.close();
    }
  });
});

describe("faults", () => {
  test("injects 5xx, 429 with Retry-After, and secondary and primary rate limits, then recovers", async () => {
    sim.inject(
      { kind: "status", status: 502, match: { path: "/app" } },
      { kind: "retry-after", retryAfter: 7, match: { path: "/app" } },
      { kind: "secondary-rate-limit", retryAfter: 3, match: { path: "/app" } },
      { kind: "primary-rate-limit", resetIn: 30, match: { path: "/app" } },
    );
    const auth = `Bearer ${appJwt()}`;
    expect((await get("/app", auth)).status).toBe(502);
    const r429 = await get("/app", auth);
    expect([r429.status, r429.headers.get("retry-after")]).toEqual([429, "7"]);
    const secondary = await get("/app", auth);
    expect(secondary.status).toBe(403);
    expect((await json(secondary)).message).toContain("secondary rate limit");
    const primary = await get("/app", auth);
    expect([primary.status, primary.headers.get("x-ratelimit-remaining")]).toEqual([403, "0"]);
    expect(Number(primary.headers.get("x-ratelimit-reset"))).toBeGreaterThan(nowS() + 20);
    expect((await get("/app", auth)).status).toBe(200);
  });

  test("drops the connection without an answer", async () => {
    sim.inject({ kind: "drop", times: 3 });
    const err = await get("/app", `Bearer ${appJwt()}`).then(() => null, (e: { code?: string }) => e);
    sim.clearFaults();
    expect(err?.code).toBe("ECONNRESET");
  });

  test("serves GitHub Enterprise Server paths under /api/v3 only", async () => {
    const ghes = await startSimulator({ prefix: "/api/v3" });
    try {
      const j = jwt.sign({ iat: nowS() - 60, exp: nowS() + 540, iss: String(ghes.app.id) }, ghes.app.privateKeyPem, { algorithm: "RS256" });
      expect(ghes.url).toEndWith("/api/v3");
      expect((await fetch(`${ghes.url}/app`, { headers: { authorization: `Bearer ${j}` } })).status).toBe(200);
      expect((await fetch(`${ghes.origin}/app`, { headers: { authorization: `Bearer ${j}` } })).status).toBe(404);
    } finally {
      await ghes.close();
    }
  });
});
