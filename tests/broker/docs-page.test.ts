// /docs in a real browser (Playwright driving Debian's Chromium): the page a person reads the API
// on renders every operation from the OpenAPI document, its links work, and it asks nothing of any
// other origin (it works without internet) and raises no errors.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { chromium, type Browser } from "playwright-core";
import { startBroker, startWorld, type Broker, type World } from "./harness.ts";

const CHROMIUM = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].find(existsSync);
let w: World;
let b: Broker;
let browser: Browser;

beforeAll(async () => {
  if (!CHROMIUM) throw new Error("Chromium is not installed: run `bash ci/install-system-deps.sh` (Debian's chromium package)");
  w = await startWorld();
  b = await startBroker(w.env());
  // --no-sandbox: the tests run as root (CI too), where Chromium's sandbox refuses to start.
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox", "--headless=new"] });
}, 30_000);
afterAll(async () => {
  await browser?.close();
  await b?.stop();
  await w?.close();
});

test("the API page lists every operation, its links work, and it loads nothing from elsewhere", async () => {
  const page = await browser.newPage();
  const requested: string[] = [];
  const errors: string[] = [];
  page.on("request", (r) => requested.push(r.url()));
  page.on("pageerror", (e) => errors.push(e.message));
  page.on("console", (m) => m.type() === "error" && errors.push(m.text()));
  await page.goto(`${b.url}/docs`);
  expect(await page.title()).toMatch(/^ghapp-runner-broker \d+\.\d+\.\d+/);

  const doc = (await b.call("GET", "/openapi.json")).json as { paths: Record<string, Record<string, unknown>> };
  const operations = Object.entries(doc.paths).flatMap(([path, methods]) => Object.keys(methods).map((m) => `${m.toUpperCase()} ${path}`));
  const listed = await page.locator("nav li a").allTextContents();
  expect(listed.sort()).toEqual(operations.sort());

  await page.locator("nav a", { hasText: "POST /api/v1/runners/provision" }).click();
  expect(new URL(page.url()).hash).toBe("#post-api-v1-runners-provision");
  const section = page.locator("section#post-api-v1-runners-provision");
  await expect(section.isVisible()).resolves.toBe(true);
  expect(await section.textContent()).toContain("runner_name");
  expect(await section.textContent()).toContain("needs a Bearer OIDC token");
  await section.locator("a", { hasText: "ProvisionRequest" }).click();
  expect(new URL(page.url()).hash).toBe("#schema-ProvisionRequest");
  expect(await page.locator("section#schema-ProvisionRequest").textContent()).toContain('"runner_name"');

  const origin = new URL(b.url).origin;
  expect(requested.filter((u) => !u.startsWith(origin))).toEqual([]);
  expect(errors).toEqual([]);
}, 30_000);
