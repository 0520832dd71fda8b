// The dashboard (/ui) in a real browser: Playwright driving Debian's Chromium against the compiled
// broker, signing in through the simulator's OIDC issuer (authorization code with PKCE). What a
// person notices: who they are signed in as, their runners and no one else's, a removal that
// reaches GitHub, a forged form refused, sign-out that sticks, and no secret on any page.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import { ADMIN, ALICE, BOB, policy, startBroker, startWorld, type Broker, type World } from "./harness.ts";

const CHROMIUM = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].find(existsSync);
const CLIENT = "broker-dashboard";
let w: World;
let b: Broker;
let browser: Browser;
/** every secret handed out by the API in this file: none may appear on any page */
const secrets: string[] = [];
/** every page's HTML the tests saw */
const seen: string[] = [];

async function freePort(): Promise<number> {
  const s = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response("") });
  const port = s.port!;
  await s.stop(true);
  return port;
}

async function provision(sub: string, name: string) {
  const r = await b.call("POST", "/api/v1/runners/provision", { token: await w.token(sub), body: { runner_name: name, labels: ["team-a"] } });
  if (r.status !== 201) throw new Error(`provision ${name}: ${r.status} ${r.text}`);
  secrets.push(r.json.encoded_jit_config);
}

async function signedIn(sub: string): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext();
  const page = await context.newPage();
  page.on("load", async () => seen.push(await page.content().catch(() => "")));
  await page.goto(`${b.url}/ui/login?login_hint=${encodeURIComponent(sub)}`);
  expect(new URL(page.url()).pathname).toBe("/ui/runners");
  return { context, page };
}

beforeAll(async () => {
  if (!CHROMIUM) throw new Error("Chromium is not installed: run `bash ci/install-system-deps.sh` (Debian's chromium package)");
  w = await startWorld();
  const port = await freePort();
  b = await startBroker(w.env({ LISTEN_ADDR: `127.0.0.1:${port}`, DASHBOARD_CLIENT_ID: CLIENT, DASHBOARD_URL: `http://127.0.0.1:${port}` }));
  const admin = await w.token(ADMIN);
  for (const who of [ALICE, BOB]) expect((await b.call("POST", "/api/v1/admin/label-policies", { token: admin, body: policy(who) })).status).toBe(201);
  for (const name of ["alice-build-1", "alice-build-2", "alice-test-1"]) await provision(ALICE, name);
  await provision(BOB, "bob-secret-runner");
  // --no-sandbox: the tests run as root (CI too), where Chromium's sandbox refuses to start.
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox", "--headless=new"] });
}, 60_000);
afterAll(async () => {
  await browser?.close();
  await b?.stop();
  await w?.close();
});

describe("sign-in", () => {
  test("signing in through the OIDC provider shows whom the dashboard knows, in a session cookie scripts cannot read", async () => {
    const { context, page } = await signedIn(ALICE);
    expect(await page.locator("header .who").textContent()).toContain(ALICE);
    const cookie = (await context.cookies()).find((c) => c.name === "ghapp_session")!;
    expect({ httpOnly: cookie.httpOnly, sameSite: cookie.sameSite, path: cookie.path }).toEqual({ httpOnly: true, sameSite: "Lax", path: "/ui" });
    expect(cookie.expires * 1000 - Date.now()).toBeLessThan(31 * 60_000);
    const res = await page.request.get(`${b.url}/ui/runners`);
    expect(res.headers()["content-security-policy"]).toStartWith("default-src 'none'; style-src 'self'");
    await context.close();
  }, 30_000);

  test("without a session the pages send the person to sign in, and a forged callback is refused", async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${b.url}/ui/runners`);
    expect(new URL(page.url()).pathname).toBe("/ui");
    expect(await page.getByRole("link", { name: "Sign in with your OIDC provider" }).isVisible()).toBe(true);
    const forged = await page.goto(`${b.url}/ui/callback?code=stolen&state=guess`);
    expect(forged!.status()).toBe(400);
    expect(await page.getByRole("alert").textContent()).toContain("state does not match");
    expect((await context.cookies()).some((c) => c.name === "ghapp_session")).toBe(false);
    await context.close();
  }, 30_000);

  test("signing out ends the session: the pages ask for sign-in again, and the old cookie is refused", async () => {
    const { context, page } = await signedIn(ALICE);
    const old = (await context.cookies()).find((c) => c.name === "ghapp_session")!;
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.waitForURL(/\/ui\/signed-out$/);
    expect(await page.getByRole("status").textContent()).toContain("signed out");
    await context.addCookies([old]);
    await page.goto(`${b.url}/ui/runners`);
    expect(new URL(page.url()).pathname).toBe("/ui");
    await context.close();
  }, 30_000);
});

describe("a caller's runners", () => {
  test("the list shows the caller's runners with their details and filters them, and never another caller's", async () => {
    const { context, page } = await signedIn(ALICE);
    const names = async () => page.locator("tbody tr td:first-child").allTextContents();
    expect((await names()).sort()).toEqual(["alice-build-1", "alice-build-2", "alice-test-1"]);
    const row = page.locator("tbody tr", { hasText: "alice-build-1" });
    expect(await row.locator("td").allTextContents()).toEqual(["alice-build-1", "pending", "no", "team-a", "2", "acme-org", expect.stringMatching(/^\d+ s$/), "never", "Remove"]);
    expect(await page.content()).not.toContain("bob-secret-runner");
    await page.getByLabel("Name contains").fill("build");
    await page.getByRole("button", { name: "Filter" }).click();
    expect((await names()).sort()).toEqual(["alice-build-1", "alice-build-2"]);
    await context.close();
  }, 30_000);

  test("removing a runner removes it at GitHub and says so", async () => {
    const { context, page } = await signedIn(ALICE);
    await page.getByRole("button", { name: "Remove alice-build-2" }).click();
    expect(await page.getByRole("status").textContent()).toContain("Runner alice-build-2 removed.");
    expect(await page.locator("tbody tr td:first-child").allTextContents()).not.toContain("alice-build-2");
    expect(w.sim.runners.list().some((r) => r.name === "alice-build-2")).toBe(false);
    await context.close();
  }, 30_000);

  test("another caller's runner answers like a missing one, by URL and by a crafted removal", async () => {
    const { context, page } = await signedIn(ALICE);
    const csrf = await page.locator("input[name=_csrf]").first().inputValue();
    const byUrl = await page.goto(`${b.url}/ui/runners/bob-secret-runner`);
    expect(byUrl!.status()).toBe(404);
    const missing = await page.goto(`${b.url}/ui/runners/no-such-runner`);
    expect(missing!.status()).toBe(404);
    const text = (s: string) => s.replace(/bob-secret-runner|no-such-runner/g, "NAME");
    expect(text(await page.getByRole("alert").textContent() ?? "")).toBe('no runner named "NAME"');
    const removal = await page.request.post(`${b.url}/ui/runners/bob-secret-runner/remove`, { form: { _csrf: csrf }, maxRedirects: 0 });
    expect(removal.status()).toBe(404);
    expect(w.sim.runners.list().some((r) => r.name === "bob-secret-runner")).toBe(true);
    await context.close();
  }, 30_000);

  test("a form without the session's CSRF token, or from another origin, is refused with 403 and changes nothing", async () => {
    const { context, page } = await signedIn(ALICE);
    const csrf = await page.locator("input[name=_csrf]").first().inputValue();
    const none = await page.request.post(`${b.url}/ui/runners/alice-test-1/remove`, { form: { other: "x" }, maxRedirects: 0 });
    expect(none.status()).toBe(403);
    expect(await none.text()).toContain("CSRF token is missing or wrong");
    const wrong = await page.request.post(`${b.url}/ui/runners/alice-test-1/remove`, { form: { _csrf: csrf.slice(0, -2) + "xx" }, maxRedirects: 0 });
    expect(wrong.status()).toBe(403);
    const elsewhere = await page.request.post(`${b.url}/ui/runners/alice-test-1/remove`, { form: { _csrf: csrf }, headers: { origin: "https://evil.example" }, maxRedirects: 0 });
    expect(elsewhere.status()).toBe(403);
    expect(w.sim.runners.list().some((r) => r.name === "alice-test-1")).toBe(true);
    await context.close();
  }, 30_000);

  test("every text on the caller's and the administrator's pages meets WCAG AA contrast (4.5:1) against what is behind it", async () => {
    // WCAG 2.2 relative luminance and contrast ratio, computed in the page from the colours Chromium renders.
    // Passed as source: the test's TypeScript has no DOM types, the page runs it as it is.
    const lowContrast = async (page: Page): Promise<string[]> =>
      page.evaluate(`(() => {
        const rgb = (c) => (c.match(/[\\d.]+/g) || []).map(Number);
        const lum = ([r, g, b]) => {
          const f = (v) => ((v /= 255) <= 0.04045 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4);
          return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
        };
        const background = (e) => {
          for (; e; e = e.parentElement) {
            const c = rgb(getComputedStyle(e).backgroundColor);
            if (c.length < 4 || c[3] > 0) return c.slice(0, 3);
          }
          return [255, 255, 255];
        };
        const bad = [];
        for (const e of Array.from(document.body.querySelectorAll("*"))) {
          const own = Array.from(e.childNodes).some((n) => n.nodeType === Node.TEXT_NODE && n.textContent.trim());
          const box = e.getBoundingClientRect();
          if (!own || box.width === 0 || box.left < 0) continue; // no text of its own, or off-screen (the skip link)
          const fg = lum(rgb(getComputedStyle(e).color));
          const bg = lum(background(e));
          const ratio = (Math.max(fg, bg) + 0.05) / (Math.min(fg, bg) + 0.05);
          if (ratio < 4.5) bad.push(e.tagName.toLowerCase() + ' "' + e.textContent.trim().slice(0, 30) + '" ' + ratio.toFixed(2) + ":1");
        }
        return bad;
      })()`);
    for (const [who, paths] of [[ALICE, ["/ui/runners", "/ui/policy", "/ui/tokens"]], [ADMIN, ["/ui/admin/runners", "/ui/admin/audit", "/ui/admin/security-events", "/ui/admin/policies", "/ui/admin/trust-policies"]]] as const) {
      const { context, page } = await signedIn(who);
      for (const path of paths) {
        await page.goto(`${b.url}${path}`);
        expect({ path, low: await lowContrast(page) }).toEqual({ path, low: [] });
      }
      await context.close();
    }
  }, 60_000);

  test("the keyboard alone reaches the skip link first, then the filter and a Remove button, each with a visible name", async () => {
    const { context, page } = await signedIn(ALICE);
    const focused = async () => {
      const e = page.locator(":focus");
      return { id: (await e.getAttribute("id")) ?? "", text: ((await e.getAttribute("aria-label")) ?? (await e.textContent()) ?? "").trim() };
    };
    await page.keyboard.press("Tab");
    expect((await focused()).text).toBe("Skip to content");
    const tabTo = async (want: (f: { id: string; text: string }) => boolean) => {
      for (let i = 0; i < 40; i++) {
        await page.keyboard.press("Tab");
        if (want(await focused())) return true;
      }
      return false;
    };
    expect(await tabTo((f) => f.id === "name")).toBe(true);
    await page.keyboard.type("test");
    await page.keyboard.press("Enter");
    await page.waitForURL(/name=test/);
    expect(await page.locator("tbody tr td:first-child").allTextContents()).toEqual(["alice-test-1"]);
    expect(await tabTo((f) => f.text === "Remove alice-test-1")).toBe(true);
    await page.keyboard.press("Enter");
    await page.waitForURL(/removed=alice-test-1/);
    expect(w.sim.runners.list().some((r) => r.name === "alice-test-1")).toBe(false);
    await context.close();
  }, 30_000);

  test("the policy page says which policy applies and why a request would be refused", async () => {
    const { context, page } = await signedIn(ALICE);
    await page.getByRole("link", { name: "My policy" }).click();
    expect(await page.locator("main").textContent()).toContain("Your own policy applies");
    await page.getByLabel("Labels (comma separated)").fill("team-a, gpu-huge");
    await page.getByRole("button", { name: "Check" }).click();
    expect(await page.getByRole("status").textContent()).toContain("Refused: gpu-huge is neither allowed nor matched by a pattern.");
    await context.close();
  }, 30_000);
});

test("the tokens page lists the installation tokens issued to the caller by scope, expiry and SHA-256 prefix, never the token", async () => {
  const admin = await w.token(ADMIN);
  const trust = { name: "alice-issues", issuer: w.sim.oidc.issuer, audience: "ghapp-runner-broker", subject: ALICE, owner: "acme-org", repositories: ["api"], permissions: { issues: "write" } };
  expect((await b.call("POST", "/api/v1/admin/trust-policies", { token: admin, body: trust })).status).toBe(201);
  const issued = await b.call("POST", "/api/v1/tokens", { token: await w.token(ALICE), body: {} });
  expect(issued.status).toBe(201);
  secrets.push(issued.json.token);
  const sha = new Bun.CryptoHasher("sha256").update(issued.json.token).digest("hex");
  const { context, page } = await signedIn(ALICE);
  await page.getByRole("link", { name: "My tokens" }).click();
  const cells = await page.locator("tbody tr").first().locator("td").allTextContents();
  expect(cells.slice(1, 4)).toEqual(["alice-issues", "acme-org/api", "issues: write"]);
  expect(cells[5]).toBe(sha.slice(0, 12));
  expect(await page.content()).not.toContain(issued.json.token);
  await context.close();
  const bob = await signedIn(BOB);
  await bob.page.goto(`${b.url}/ui/tokens`);
  expect(await bob.page.locator("tbody tr").count()).toBe(0);
  await bob.context.close();
}, 30_000);

describe("administrators", () => {
  test("an administrator sees every runner with its owner and filters by owner; a caller is refused the page", async () => {
    const { context, page } = await signedIn(ADMIN);
    await page.getByRole("link", { name: "All runners" }).click();
    const owners = await page.locator("tbody tr td:nth-child(2)").allTextContents();
    expect(new Set(owners)).toEqual(new Set([ALICE, BOB]));
    await page.getByLabel("Owner (identity)").fill(BOB);
    await page.getByRole("button", { name: "Filter" }).click();
    expect(await page.locator("tbody tr td:first-child").allTextContents()).toEqual(["bob-secret-runner"]);
    await context.close();

    const alice = await signedIn(ALICE);
    expect(await alice.page.getByRole("link", { name: "All runners" }).count()).toBe(0);
    const refused = await alice.page.goto(`${b.url}/ui/admin/runners`);
    expect(refused!.status()).toBe(403);
    expect(await alice.page.content()).not.toContain("bob-secret-runner");
    await alice.context.close();
  }, 30_000);

  test("a label-policy edit with an invalid pattern shows the error beside its field and saves nothing; corrected, it is saved; a policy is deleted", async () => {
    const { context, page } = await signedIn(ADMIN);
    await page.goto(`${b.url}/ui/admin/policies/edit?identity=${encodeURIComponent(ALICE)}`);
    await page.getByLabel("Label patterns").fill("build-[a-z0-9]+\n(unclosed");
    await page.getByLabel("Max runners").fill("lots");
    await page.getByRole("button", { name: "Save policy" }).click();
    expect(await page.getByRole("alert").textContent()).toContain("not saved");
    expect(await page.locator("#max_runners-error").textContent()).toBeTruthy();
    expect(await page.getByLabel("Max runners").getAttribute("aria-invalid")).toBe("true");
    await page.getByLabel("Max runners").fill("7");
    await page.getByRole("button", { name: "Save policy" }).click();
    expect(await page.locator("#label_patterns-error").textContent()).toContain("(unclosed");
    expect(await page.getByLabel("Label patterns").inputValue()).toContain("(unclosed");
    const admin = await w.token(ADMIN);
    expect((await b.call("GET", `/api/v1/admin/label-policies/${encodeURIComponent(ALICE)}`, { token: admin })).json.max_runners).toBe(5);
    await page.getByLabel("Label patterns").fill("build-[a-z0-9]+");
    await page.getByRole("button", { name: "Save policy" }).click();
    expect(await page.getByRole("status").textContent()).toContain("saved");
    expect((await b.call("GET", `/api/v1/admin/label-policies/${encodeURIComponent(ALICE)}`, { token: admin })).json.max_runners).toBe(7);
    const temporary = "repo:acme-org/old:ref:refs/heads/main";
    expect((await b.call("POST", "/api/v1/admin/label-policies", { token: admin, body: policy(temporary) })).status).toBe(201);
    await page.goto(`${b.url}/ui/admin/policies`);
    await page.getByRole("button", { name: `Delete the policy of ${temporary}` }).click();
    expect(await page.getByRole("status").textContent()).toBe(`Policy for ${temporary} deleted.`);
    expect((await b.call("GET", `/api/v1/admin/label-policies/${encodeURIComponent(temporary)}`, { token: admin })).status).toBe(404);
    await context.close();
  }, 30_000);

  test("a new trust policy with an invalid subject pattern shows the error beside its field; corrected, it is saved as the API would, and deleted", async () => {
    const { context, page } = await signedIn(ADMIN);
    await page.getByRole("link", { name: "Trust policies" }).click();
    await page.getByRole("link", { name: "New trust policy" }).click();
    await page.getByLabel("Name", { exact: true }).fill("deployers");
    await page.getByLabel("Issuer").fill("https://kubernetes.default.svc.cluster.local");
    await page.getByLabel("Audience").fill("ghapp-runner-broker");
    await page.getByLabel("Subject pattern").fill("system:serviceaccount:ci:(unclosed");
    await page.getByLabel("Owner").fill("acme-org");
    await page.getByLabel("Repositories").fill("api, web");
    await page.getByLabel("Permissions").fill("contents=read\nissues=write");
    await page.getByRole("button", { name: "Save trust policy" }).click();
    expect(await page.getByRole("alert").textContent()).toContain("not saved");
    expect(await page.locator("#subject_pattern-error").textContent()).toContain("(unclosed");
    expect(await page.getByLabel("Subject pattern").getAttribute("aria-invalid")).toBe("true");
    expect(await page.getByLabel("Permissions").inputValue()).toBe("contents=read\nissues=write");
    const admin = await w.token(ADMIN);
    expect((await b.call("GET", "/api/v1/admin/trust-policies/deployers", { token: admin })).status).toBe(404);
    await page.getByLabel("Subject pattern").fill("system:serviceaccount:ci:[a-z-]+");
    await page.getByRole("button", { name: "Save trust policy" }).click();
    expect(await page.getByRole("status").textContent()).toContain("Trust policy deployers saved.");
    const saved = await b.call("GET", "/api/v1/admin/trust-policies/deployers", { token: admin });
    expect(saved.json).toMatchObject({ subject_pattern: "system:serviceaccount:ci:[a-z-]+", repositories: ["api", "web"], permissions: { contents: "read", issues: "write" }, mode: "enforce" });
    await page.getByRole("button", { name: "Delete trust policy deployers" }).click();
    expect(await page.getByRole("status").textContent()).toBe("Trust policy deployers deleted.");
    expect((await b.call("GET", "/api/v1/admin/trust-policies/deployers", { token: admin })).status).toBe(404);
    await context.close();
  }, 30_000);

  test("the audit log filters by identity, result and time and pages on the server; security events filter by identity and type", async () => {
    const alice = await w.token(ALICE);
    for (let i = 0; i < 55; i++) expect((await b.call("GET", "/api/v1/runners/bob-secret-runner", { token: alice })).status).toBe(404);
    const { context, page } = await signedIn(ADMIN);
    await page.getByRole("link", { name: "Audit log" }).click();
    await page.getByLabel("Identity").fill(ALICE);
    await page.getByLabel("Result").selectOption("denied");
    await page.getByRole("button", { name: "Filter" }).click();
    const cells = async (n: number) => page.locator(`tbody tr td:nth-child(${n})`).allTextContents();
    const first = await cells(1);
    expect(first).toHaveLength(50);
    expect(new Set(await cells(2))).toEqual(new Set([ALICE]));
    expect(new Set(await cells(4))).toEqual(new Set(["denied"]));
    await page.getByRole("link", { name: "Older entries" }).click();
    expect(new URL(page.url()).searchParams.get("identity")).toBe(ALICE);
    const second = await cells(2);
    expect(second.length).toBeGreaterThan(4);
    expect(new Set(second)).toEqual(new Set([ALICE]));
    expect(new Set(await cells(4))).toEqual(new Set(["denied"]));
    const future = await page.goto(`${b.url}/ui/admin/audit?since=2999-01-01T00:00`);
    expect([future!.status(), await page.locator("tbody tr").count()]).toEqual([200, 0]);
    const bad = await page.goto(`${b.url}/ui/admin/audit?since=yesterday`);
    expect([bad!.status(), await page.getByRole("alert").textContent()]).toEqual([422, "From and To are times like 2026-12-07T10:30 (UTC)"]);
    await page.getByRole("link", { name: "Security events" }).click();
    await page.getByLabel("Identity").fill(ALICE);
    await page.getByRole("button", { name: "Filter" }).click();
    expect(new Set(await cells(2))).toEqual(new Set(["foreign_runner_access", "admin_forbidden"]));
    await page.getByLabel("Event type").fill("admin_forbidden");
    await page.getByRole("button", { name: "Filter" }).click();
    expect([await cells(2), await cells(4)]).toEqual([["admin_forbidden"], [ALICE]]);
    await context.close();
  }, 60_000);
});

test("no page ever shows a JIT config or an installation token handed out by the API", () => {
  expect(seen.length).toBeGreaterThan(5);
  for (const html of seen) for (const s of secrets) expect(html.includes(s)).toBe(false);
});

test("without DASHBOARD_CLIENT_ID there is no dashboard: /ui answers 404", async () => {
  const plain = await startBroker(w.env());
  try {
    expect((await plain.call("GET", "/ui")).status).toBe(404);
    expect((await plain.call("GET", "/ui/")).status).toBe(404);
    expect((await plain.call("GET", "/ui/login")).status).toBe(404);
  } finally {
    await plain.stop();
  }
}, 30_000);
