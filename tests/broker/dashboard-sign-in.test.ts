// The dashboard's pieces without a browser: its settings (off, required, refused), the sealed
// cookies (unreadable, unforgeable, expiring, bound to their purpose), HTML escaping, and the
// sign-in against the simulator's issuer: state, nonce and audience checked by the broker's verifier.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { parseBrokerConfig } from "../../generator/src/broker/config.ts";
import { parseDashboardConfig } from "../../generator/src/broker/dashboard/settings.ts";
import { CookieSealer } from "../../generator/src/broker/dashboard/sealed-cookie.ts";
import { h } from "../../generator/src/broker/dashboard/html.ts";
import { SignIn, SignInError } from "../../generator/src/broker/dashboard/sign-in.ts";
import { OidcVerifier } from "../../generator/src/broker/oidc.ts";
import { dashboardRouter } from "../../generator/src/broker/dashboard/router.ts";
import { OwnerBinding } from "../../generator/src/broker/owner-binding.ts";
import { createLogger } from "../../generator/src/core/logger.ts";
import { Writable } from "node:stream";
import { startSimulator, type Simulator } from "../simulator/simulator.ts";

const message = (f: () => unknown) => {
  try {
    f();
  } catch (e) {
    return (e as Error).message;
  }
  return "no error";
};

describe("settings", () => {
  test("the dashboard is off without DASHBOARD_CLIENT_ID, and its other settings alone are a configuration error", () => {
    expect(parseDashboardConfig({})).toBeUndefined();
    expect(message(() => parseDashboardConfig({ "dashboard-url": "https://broker.example.com" }))).toContain("DASHBOARD_URL is set but DASHBOARD_CLIENT_ID is not");
  });

  test("with a client id, DASHBOARD_URL is required, https (http on loopback only), and the session TTL is bounded", () => {
    expect(message(() => parseDashboardConfig({ "dashboard-client-id": "c" }))).toContain("DASHBOARD_URL is not set");
    expect(message(() => parseDashboardConfig({ "dashboard-client-id": "c", "dashboard-url": "http://broker.example.com" }))).toContain("must be https");
    expect(message(() => parseDashboardConfig({ "dashboard-client-id": "c", "dashboard-url": "https://b.example.com", "dashboard-session-ttl": "24h" }))).toContain("outside 1m..12h");
    expect(parseDashboardConfig({ "dashboard-client-id": "c", "dashboard-url": "https://b.example.com/" })).toEqual({ clientId: "c", url: "https://b.example.com", sessionTtlMs: 30 * 60_000 });
  });

  test("the broker's configuration carries the dashboard's settings when serving", () => {
    const base = { "app-id": "1", "private-key-file": "/k.pem", org: "acme-org", "oidc-issuer": "https://issuer.example", "oidc-audience": "a" } as const;
    expect(parseBrokerConfig(base).dashboard).toBeUndefined();
    expect(parseBrokerConfig({ ...base, "dashboard-client-id": "dash", "dashboard-url": "https://b.example.com", "dashboard-session-ttl": "10m" }).dashboard).toEqual({ clientId: "dash", url: "https://b.example.com", sessionTtlMs: 600_000 });
  });
});

describe("sealed cookies and escaping", () => {
  test("a sealed value is unreadable, opens only with its key and purpose, and not after it expires", () => {
    const sealer = new CookieSealer("k".repeat(32));
    const text = sealer.seal("session", { identity: "repo:acme-org/api", exp: 2_000 });
    expect(text).not.toContain("acme");
    expect(Buffer.from(text, "base64url").toString("latin1")).not.toContain("acme");
    expect(sealer.open<{ identity: string; exp: number }>("session", text, 1_000)?.identity).toBe("repo:acme-org/api");
    expect(sealer.open("session", text, 2_000)).toBeUndefined();
    expect(sealer.open("sign-in", text, 1_000)).toBeUndefined();
    expect(new CookieSealer("x".repeat(32)).open("session", text, 1_000)).toBeUndefined();
    const flipped = text.slice(0, 20) + (text[20] === "A" ? "B" : "A") + text.slice(21);
    expect(sealer.open("session", flipped, 1_000)).toBeUndefined();
  });

  test("every interpolated value is escaped, nested templates are not escaped twice", () => {
    expect(h`<td>${'<script>alert("x")</script>'}</td>`.text).toBe("<td>&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;</td>");
    expect(h`<ul>${["a&b", "c"].map((x) => h`<li>${x}</li>`)}</ul>`.text).toBe("<ul><li>a&amp;b</li><li>c</li></ul>");
  });
});

describe("sign-in against the simulator's issuer", () => {
  let sim: Simulator;
  let signIn: SignIn;
  const SUB = "repo:acme-org/api:ref:refs/heads/main";
  beforeAll(async () => {
    sim = await startSimulator();
    const verifier = new OidcVerifier({ issuer: sim.oidc.issuer, audience: "ghapp-runner-broker", identityClaim: "sub", timeoutMs: 5_000 });
    signIn = new SignIn({ issuer: sim.oidc.issuer, clientId: "dash", redirectUri: "http://127.0.0.1:9/ui/callback", timeoutMs: 5_000 }, verifier);
  });
  afterAll(() => sim.close());

  /** Follows the provider's redirect as a browser would, and returns the callback's query. */
  const authorize = async (location: string) => {
    const res = await fetch(location, { redirect: "manual" });
    const back = new URL(res.headers.get("location")!);
    return { state: back.searchParams.get("state") ?? undefined, code: back.searchParams.get("code") ?? undefined };
  };

  test("start asks for a code with PKCE S256, state and nonce; finish yields the identity the API would", async () => {
    const { location, pending } = await signIn.start(Date.now(), SUB);
    const q = new URL(location).searchParams;
    expect([q.get("response_type"), q.get("code_challenge_method"), q.get("client_id"), q.get("state"), q.get("nonce")]).toEqual(["code", "S256", "dash", pending.state, pending.nonce]);
    expect(q.get("code_challenge")).not.toBe(pending.verifier);
    const caller = await signIn.finish(pending, await authorize(location));
    expect(caller.identity).toBe(SUB);
    expect(caller.claims.aud).toBe("dash");
  });

  test("another sign-in's state, or a nonce that is not this sign-in's, is refused", async () => {
    const first = await signIn.start(Date.now(), SUB);
    const second = await signIn.start(Date.now(), SUB);
    const answer = await authorize(first.location);
    expect(await signIn.finish(second.pending, answer).catch((e: SignInError) => e.message)).toContain("state does not match");
    const third = await signIn.start(Date.now(), SUB);
    const back = await authorize(third.location);
    expect(await signIn.finish({ ...third.pending, nonce: "another" }, back).catch((e: SignInError) => e.message)).toContain("nonce is not this sign-in's");
  });

  test("a code exchanged with the wrong verifier is refused by the provider, and the person is told to start again", async () => {
    const { location, pending } = await signIn.start(Date.now(), SUB);
    const answer = await authorize(location);
    expect(await signIn.finish({ ...pending, verifier: "x".repeat(43) }, answer).catch((e: SignInError) => e.message)).toBe("the OIDC provider refused the code (invalid_grant): start again");
  });
});

describe("in-process, behind TLS", () => {
  let sim: Simulator;
  beforeAll(async () => {
    sim = await startSimulator();
  });
  afterAll(() => sim.close());

  const rateLimited: string[] = [];
  const makeUi = (ratePerMinute = 120) =>
    dashboardRouter({
      config: { clientId: "dash", url: "https://broker.example.com", sessionTtlMs: 15 * 60_000 },
      issuer: sim.oidc.issuer,
      org: "acme-org",
      verifier: new OidcVerifier({ issuer: sim.oidc.issuer, audience: "ghapp-runner-broker", identityClaim: "sub", timeoutMs: 5_000 }),
      owners: new OwnerBinding({ orgs: ["acme-org"], allowedOwners: [] }),
      admins: new Set(),
      logger: createLogger("error", {}, { stream: new Writable({ write: (_c, _e, cb) => cb() }), format: "json" }),
      timeoutMs: 5_000,
      ratePerMinute,
      // Only what these tests reach: an empty runner list, and the journal's rate-limit record.
      runners: { list: async () => [] } as never,
      journal: { rateLimited: async (identity: string) => void rateLimited.push(identity) } as never,
      overview: undefined as never,
      policies: undefined as never,
      trustPolicies: undefined as never,
    });
  /** Sign-in as a browser would: /login, the provider, /callback. Returns both Set-Cookie headers. */
  const signIn = async (ui: ReturnType<typeof makeUi>) => {
    const login = await ui.request("https://broker.example.com/login?login_hint=repo:acme-org/api:ref:refs/heads/main");
    const pendingCookie = login.headers.get("set-cookie")!;
    const provider = await fetch(login.headers.get("location")!, { redirect: "manual" });
    const back = new URL(provider.headers.get("location")!);
    expect(back.origin + back.pathname).toBe("https://broker.example.com/ui/callback");
    const callback = await ui.request(`https://broker.example.com/callback${back.search}`, { headers: { cookie: pendingCookie.split(";")[0]! } });
    expect(callback.status).toBe(303);
    return { pendingCookie, session: callback.headers.getSetCookie().find((c) => c.startsWith("ghapp_session="))! };
  };

  test("with an https DASHBOARD_URL both the sign-in and the session cookie are Secure, HttpOnly and SameSite=Lax", async () => {
    const { pendingCookie, session } = await signIn(makeUi());
    expect(pendingCookie).toMatch(/^ghapp_sign_in=[\w-]+; Max-Age=600; Path=\/ui\/callback; HttpOnly; Secure; SameSite=Lax$/);
    expect(session).toMatch(/^ghapp_session=[\w-]+; Max-Age=900; Path=\/ui; HttpOnly; Secure; SameSite=Lax$/);
  });

  test("beyond CALLER_RATE_LIMIT pages in a minute an identity gets 429 with Retry-After, recorded once", async () => {
    const ui = makeUi(3);
    const cookie = (await signIn(ui)).session.split(";")[0]!;
    const statuses: number[] = [];
    let last: Response | undefined;
    for (let i = 0; i < 5; i++) {
      last = await ui.request("https://broker.example.com/runners", { headers: { cookie } });
      statuses.push(last.status);
    }
    expect(statuses).toEqual([200, 200, 200, 429, 429]);
    expect(Number(last!.headers.get("retry-after"))).toBeGreaterThan(0);
    expect(rateLimited).toEqual(["repo:acme-org/api:ref:refs/heads/main"]);
  });
});
