// /ui: the broker's web dashboard (docs/dashboard.md), another client of the services the API calls
// (RunnerService, PolicyService), with the same authorization: a caller's pages show only its own
// runners, and anyone else's runner answers like a missing one, by link or by URL.
//
// Sessions: a sealed cookie (sealed-cookie.ts) holding the session id, the identity (the claim the
// API uses) and a CSRF token, HttpOnly, SameSite=Lax, Secure when DASHBOARD_URL is https, Path=/ui,
// for DASHBOARD_SESSION_TTL. Stateless, so every replica with the same DASHBOARD_SESSION_KEY_FILE
// accepts it and no session table is needed; sign-out clears the cookie and refuses its id on this
// replica until it expires. Whether an identity is an administrator is decided at each request
// (ADMIN_IDENTITIES), never remembered in the cookie.
//
// Every POST needs the session's CSRF token in `_csrf` (a synchronizer token) and, when the
// browser sends Origin, DASHBOARD_URL's origin: 403 otherwise. Pages are server-rendered HTML
// with no script, under a Content-Security-Policy that allows only the broker's own stylesheet.
import { randomBytes, timingSafeEqual } from "node:crypto";
import { Hono, type Context, type MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import { deleteCookie, getCookie, setCookie } from "hono/cookie";
import { BrokerError } from "../errors.ts";
import type { Logger } from "../../core/logger.ts";
import type { OidcVerifier } from "../oidc.ts";
import { isGitHubActionsIssuer, type OwnerBinding } from "../owner-binding.ts";
import { checkLabels } from "../policy.ts";
import type { Journal } from "../service/journal.ts";
import { DEFAULT_POLICY_IDENTITY, type PolicyService } from "../service/policies.ts";
import type { RunnerService } from "../service/runners.ts";
import type { DashboardConfig } from "./settings.ts";
import { CookieSealer } from "./sealed-cookie.ts";
import { SignIn, SignInError, type PendingSignIn } from "./sign-in.ts";
import { h } from "./html.ts";
import { layout, messagePage, policyPage, runnerPage, runnersPage, signInPage, tokensPage, type Viewer } from "./pages.ts";
import { STYLE } from "./style.ts";
import { tokenRow, auditRow, eventRow, filterRunners, formFieldOf, pageCursor, policyBodyOf, policyFormOf, runnerFilters, runnerRow, utcTime, type PolicyForm } from "./views.ts";
import { adminRunnersPage, auditPage, eventsPage, policiesPage, policyFormPage, trustPoliciesPage, trustPolicyFormPage } from "./admin-pages.ts";
import { TRUST_FIELDS, trustBodyOf, trustFieldOf, trustFormOf, type TrustField, type TrustPolicyForm } from "./trust-policy-form.ts";
import { TrustPolicyBody, trustPolicyFromJson } from "../http/trust-policies.ts";
import type { TrustPolicyService } from "../service/trust-policies.ts";
import { AUDIT_RESULTS, RUNNER_STATUSES } from "../storage/storage.ts";
import type { RunnerOverview } from "../service/runner-overview.ts";
import { PolicyBody, policyFromJson } from "../http/label-policies.ts";

export interface DashboardDeps {
  config: DashboardConfig;
  /** DASHBOARD_CLIENT_SECRET_FILE's content */
  clientSecret?: string;
  /** DASHBOARD_SESSION_KEY_FILE's content */
  sessionKey?: string;
  issuer: string;
  org: string;
  verifier: OidcVerifier;
  owners: OwnerBinding;
  admins: Set<string>;
  runners: RunnerService;
  /** every caller's runners, for the administrators' pages */
  overview: RunnerOverview;
  policies: PolicyService;
  trustPolicies: TrustPolicyService;
  journal: Journal;
  logger: Logger;
  timeoutMs: number;
  /** pages per minute one identity may request (CALLER_RATE_LIMIT, counted apart from the API's) */
  ratePerMinute: number;
  now?: () => number;
  fetchImpl?: typeof fetch;
}

interface Session {
  sid: string;
  identity: string;
  csrf: string;
  exp: number;
}

type Env = { Variables: { session: Session; viewer: Viewer } };

const SESSION_COOKIE = "ghapp_session";
const SIGN_IN_COOKIE = "ghapp_sign_in";
export const CSP = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

export function dashboardRouter(d: DashboardDeps) {
  const now = d.now ?? Date.now;
  const sealer = new CookieSealer(d.sessionKey);
  const secure = d.config.url.startsWith("https:");
  const origin = new URL(d.config.url).origin;
  const signIn = new SignIn({ issuer: d.issuer, clientId: d.config.clientId, ...(d.clientSecret ? { clientSecret: d.clientSecret } : {}), redirectUri: `${d.config.url}/ui/callback`, timeoutMs: d.timeoutMs }, d.verifier, d.fetchImpl);
  let rateWindow = 0;
  let rateCounts = new Map<string, number>();
  /** signed-out session ids, until their cookie would have expired anyway (this replica) */
  const revoked = new Map<string, number>();
  const ui = new Hono<Env>();

  const page = (c: Context, html: string, status: 200 | 400 | 401 | 403 | 404 | 409 | 422 | 429 | 503 = 200) => c.html(html, status);
  const sessionOf = (c: Context): Session | undefined => {
    const s = sealer.open<Session>("session", getCookie(c, SESSION_COOKIE), now());
    return s && !revoked.has(s.sid) ? s : undefined;
  };

  ui.use("*", async (c, next) => {
    await next();
    c.header("content-security-policy", CSP);
    c.header("cache-control", "no-store");
    c.header("referrer-policy", "same-origin");
    c.header("x-frame-options", "DENY");
  });
  ui.onError((e, c) => {
    const viewer = c.get("viewer");
    if (e instanceof BrokerError) {
      const status = e.status === 404 || e.status === 409 || e.status === 403 || e.status === 422 || e.status === 503 ? e.status : 400;
      return page(c, messagePage(e.status === 404 ? "Not found" : "Refused", viewer, e.message), status);
    }
    d.logger.error("unexpected error rendering a dashboard page; please report it", { error: e instanceof Error ? { name: e.name, message: e.message } : String(e) });
    return page(c, messagePage("Something went wrong", viewer, "the broker could not render this page: try again, and tell the operator if it persists"), 503);
  });
  ui.use("*", bodyLimit({ maxSize: 16 * 1024, onError: (c) => page(c, messagePage("Refused", undefined, "the form is too large"), 400) }));

  ui.get("/style.css", (c) => {
    c.header("content-type", "text/css; charset=utf-8");
    return c.body(STYLE);
  });

  ui.get("/", (c) => (sessionOf(c) ? c.redirect("/ui/runners", 303) : page(c, signInPage())));

  ui.get("/login", async (c) => {
    let started;
    try {
      started = await signIn.start(now(), c.req.query("login_hint"));
    } catch (e) {
      if (e instanceof SignInError) return page(c, signInPage(e.message), 503);
      throw e;
    }
    setCookie(c, SIGN_IN_COOKIE, sealer.seal("sign-in", started.pending), { path: "/ui/callback", httpOnly: true, secure, sameSite: "Lax", maxAge: 600 });
    return c.redirect(started.location, 302);
  });

  ui.get("/callback", async (c) => {
    const pending = sealer.open<PendingSignIn>("sign-in", getCookie(c, SIGN_IN_COOKIE), now());
    deleteCookie(c, SIGN_IN_COOKIE, { path: "/ui/callback", secure });
    let caller;
    try {
      caller = await signIn.finish(pending, { ...(c.req.query("state") ? { state: c.req.query("state")! } : {}), ...(c.req.query("code") ? { code: c.req.query("code")! } : {}), ...(c.req.query("error") ? { error: c.req.query("error")! } : {}) });
    } catch (e) {
      if (e instanceof SignInError) {
        d.logger.warn("dashboard sign-in refused", { reason: e.message });
        return page(c, signInPage(e.message), 400);
      }
      throw e;
    }
    // The owner binding the API applies to every token applies to a person's too.
    const refusal = d.owners.check(caller.claims, isGitHubActionsIssuer(d.issuer, d.verifier.claimsSupported));
    if (refusal) {
      await d.journal.ownerRefused(caller.identity, refusal);
      return page(c, signInPage("this identity's repository owner is not the broker's organisation: only people of the broker's own organisations may sign in"), 403);
    }
    const session: Session = { sid: randomBytes(16).toString("base64url"), identity: caller.identity, csrf: randomBytes(24).toString("base64url"), exp: now() + d.config.sessionTtlMs };
    setCookie(c, SESSION_COOKIE, sealer.seal("session", session), { path: "/ui", httpOnly: true, secure, sameSite: "Lax", maxAge: Math.floor(d.config.sessionTtlMs / 1000) });
    d.logger.info("dashboard sign-in", { identity: caller.identity });
    return c.redirect("/ui/runners", 303);
  });

  ui.get("/signed-out", (c) => page(c, layout("Signed out", undefined, h`<p role="status">You are signed out.</p><p><a href="/ui/login">Sign in again</a></p>`)));

  // Everything below needs a session; a POST also its CSRF token.
  const requireSession: MiddlewareHandler<Env> = async (c, next) => {
    // "/runners" and "/runners/*" both match /runners: the checks run once per request.
    if (c.get("session")) return next();
    const s = sessionOf(c);
    if (!s) {
      if (c.req.method === "GET") return c.redirect("/ui", 303);
      return page(c, signInPage("your session has ended: sign in again"), 401);
    }
    c.set("session", s);
    c.set("viewer", { identity: s.identity, isAdmin: d.admins.has(s.identity), csrf: s.csrf });
    // CALLER_RATE_LIMIT per identity, as for the API (its own count, per replica, a fixed minute).
    const t = now();
    if (t - rateWindow >= 60_000) {
      rateWindow = t - (t % 60_000);
      rateCounts = new Map();
    }
    const n = (rateCounts.get(s.identity) ?? 0) + 1;
    rateCounts.set(s.identity, n);
    if (n > d.ratePerMinute) {
      if (n === d.ratePerMinute + 1) await d.journal.rateLimited(s.identity, c.req.path.slice(0, 200));
      c.header("retry-after", String(Math.ceil((rateWindow + 60_000 - t) / 1000)));
      return page(c, messagePage("Too many requests", c.get("viewer"), `more than ${d.ratePerMinute} pages in a minute from this identity: wait a minute`), 429);
    }
    if (c.req.method === "POST") {
      const sentOrigin = c.req.header("origin");
      const form = await c.req.parseBody().catch(() => ({}) as Record<string, unknown>);
      const token = typeof form._csrf === "string" ? form._csrf : "";
      const same = token.length === s.csrf.length && timingSafeEqual(Buffer.from(token), Buffer.from(s.csrf));
      if (!same || (sentOrigin !== undefined && sentOrigin !== origin)) {
        d.logger.warn("dashboard request refused: no valid CSRF token", { identity: s.identity, path: c.req.path.slice(0, 200) });
        return page(c, messagePage("Refused", c.get("viewer"), "this form is not from this dashboard (its CSRF token is missing or wrong): reload the page and try again"), 403);
      }
    }
    await next();
  };
  for (const path of ["/logout", "/runners", "/runners/*", "/policy", "/tokens", "/admin/*"]) ui.use(path, requireSession);

  ui.post("/logout", (c) => {
    const s = c.get("session");
    revoked.set(s.sid, s.exp);
    for (const [sid, exp] of revoked) if (exp <= now()) revoked.delete(sid);
    deleteCookie(c, SESSION_COOKIE, { path: "/ui", secure });
    return c.redirect("/ui/signed-out", 303);
  });

  ui.get("/runners", async (c) => {
    const v = c.get("viewer");
    const f = runnerFilters(c.req.query());
    const records = filterRunners(await d.runners.list(v.identity, f.status), f);
    const removed = c.req.query("removed");
    return page(c, runnersPage(v, records.map((r) => runnerRow(r, d.org, now())), f, removed ? { ok: true, text: `Runner ${removed.slice(0, 64)} removed.` } : undefined));
  });

  ui.get("/runners/:name", async (c) => {
    const v = c.get("viewer");
    const r = await d.runners.get(v.identity, c.req.param("name").slice(0, 200));
    return page(c, runnerPage(v, runnerRow(r, d.org, now())));
  });

  ui.post("/runners/:name/remove", async (c) => {
    const v = c.get("viewer");
    const name = c.req.param("name").slice(0, 200);
    await d.runners.remove(v.identity, name);
    return c.redirect(`/ui/runners?removed=${encodeURIComponent(name)}`, 303);
  });

  ui.get("/policy", async (c) => {
    const v = c.get("viewer");
    const p = await d.policies.effective(v.identity);
    if (!p) return page(c, policyPage(v, undefined));
    const asked = (c.req.query("labels") ?? "").slice(0, 2000);
    const wanted = asked.split(/[\s,]+/).filter(Boolean).slice(0, 100);
    const decision = wanted.length ? checkLabels(p, wanted) : undefined;
    const held = (await d.runners.list(v.identity)).length;
    const s = p.source;
    return page(
      c,
      policyPage(
        v,
        { applies: s.userIdentity === DEFAULT_POLICY_IDENTITY ? "default" : "own", allowedLabels: s.allowedLabels, labelPatterns: s.labelPatterns, requiredLabels: s.requiredLabels, maxRunners: s.maxRunners, allowRegistrationToken: s.allowRegistrationToken, runnerGroupId: s.runnerGroupId, held },
        decision ? { asked, refused: decision.ok ? [] : decision.refused, registered: decision.ok ? decision.labels : [] } : undefined,
      ),
    );
  });

  // The exchange audits every token it hands out (token.issue, with the token's SHA-256 only): a
  // caller's tokens are those records whose actor is its identity (the exchange's identity is the
  // token's subject; for GitHub Actions callers that is the same sub the dashboard signs in with).
  ui.get("/tokens", async (c) => {
    const v = c.get("viewer");
    const before = pageCursor(c.req.query("before"));
    const rows = await d.journal.listAudit({ user: v.identity, action: "token.issue", result: "success", ...(before !== undefined ? { beforeId: before } : {}), limit: 51 });
    const next = rows.length > 50 ? `/ui/tokens?before=${rows[49]!.id}` : undefined;
    return page(c, tokensPage(v, rows.slice(0, 50).map(tokenRow), next));
  });

  registerAdminPages(ui, d, now);
  return ui;
}

/** /ui/admin/*: administrators only (ADMIN_IDENTITIES, decided at each request, refusals audited as the API's). */
function registerAdminPages(ui: Hono<Env>, d: DashboardDeps, now: () => number) {
  const PAGE = 50;
  ui.use("/admin/*", async (c, next) => {
    const v = c.get("viewer");
    if (!v.isAdmin) {
      await d.journal.adminForbidden(v.identity, c.req.path.slice(0, 200));
      return c.html(messagePage("Not an administrator", v, "this identity is not an administrator (ADMIN_IDENTITIES)"), 403);
    }
    await next();
  });
  const query = (c: Context<Env>, names: string[]) => Object.fromEntries(names.map((n) => [n, c.req.query(n)?.trim().slice(0, 256) || undefined]));
  const withBefore = (path: string, q: Record<string, string | undefined>, before: number | undefined) => {
    if (before === undefined) return undefined;
    const u = new URLSearchParams(Object.entries(q).filter((e): e is [string, string] => !!e[1]));
    u.set("before", String(before));
    return `${path}?${u}`;
  };

  ui.get("/admin/runners", async (c) => {
    const q = query(c, ["owner", "status"]);
    const status = RUNNER_STATUSES.find((s) => s === q.status);
    const p = await d.overview.page({ ...(q.owner ? { owner: q.owner } : {}), ...(status ? { status } : {}), ...(pageCursor(c.req.query("before")) !== undefined ? { beforeId: pageCursor(c.req.query("before"))! } : {}), limit: PAGE });
    return c.html(adminRunnersPage(c.get("viewer"), p.runners.map((r) => runnerRow(r, d.org, now())), q, withBefore("/ui/admin/runners", q, p.nextBeforeId)));
  });

  ui.get("/admin/audit", async (c) => {
    const q = query(c, ["identity", "action", "result", "since", "until"]);
    const result = AUDIT_RESULTS.find((r) => r === q.result);
    const since = utcTime(q.since);
    const until = utcTime(q.until);
    if (since === null || until === null) return c.html(auditPage(c.get("viewer"), [], q, "From and To are times like 2026-12-07T10:30 (UTC)"), 422);
    const before = pageCursor(c.req.query("before"));
    const rows = await d.journal.listAudit({ ...(q.identity ? { user: q.identity } : {}), ...(q.action ? { action: q.action } : {}), ...(result ? { result } : {}), ...(since ? { since } : {}), ...(until ? { until } : {}), ...(before !== undefined ? { beforeId: before } : {}), limit: PAGE + 1 });
    const next = rows.length > PAGE ? rows[PAGE - 1]!.id : undefined;
    return c.html(auditPage(c.get("viewer"), rows.slice(0, PAGE).map(auditRow), q, undefined, withBefore("/ui/admin/audit", q, next)));
  });

  ui.get("/admin/security-events", async (c) => {
    const q = query(c, ["identity", "type", "since", "until"]);
    const since = utcTime(q.since);
    const until = utcTime(q.until);
    if (since === null || until === null) return c.html(eventsPage(c.get("viewer"), [], q, "From and To are times like 2026-12-07T10:30 (UTC)"), 422);
    const before = pageCursor(c.req.query("before"));
    const rows = await d.journal.listSecurityEvents({ ...(q.identity ? { user: q.identity } : {}), ...(q.type ? { eventType: q.type } : {}), ...(since ? { since } : {}), ...(until ? { until } : {}), ...(before !== undefined ? { beforeId: before } : {}), limit: PAGE + 1 });
    const next = rows.length > PAGE ? rows[PAGE - 1]!.id : undefined;
    return c.html(eventsPage(c.get("viewer"), rows.slice(0, PAGE).map(eventRow), q, undefined, withBefore("/ui/admin/security-events", q, next)));
  });

  ui.get("/admin/policies", async (c) => {
    const saved = c.req.query("saved");
    const deleted = c.req.query("deleted");
    const list = (await d.policies.list()).map((p) => ({ identity: p.userIdentity, group: p.runnerGroupId, maxRunners: p.maxRunners }));
    return c.html(policiesPage(c.get("viewer"), list, saved ? `Policy for ${saved.slice(0, 256)} saved.` : deleted ? `Policy for ${deleted.slice(0, 256)} deleted.` : undefined));
  });

  ui.get("/admin/policies/edit", async (c) => {
    const identity = c.req.query("identity");
    const p = identity ? await d.policies.get(identity.slice(0, 256)) : undefined;
    return c.html(policyFormPage(c.get("viewer"), policyFormOf(p)));
  });

  // The API's schema (PolicyBody) and PolicyService.put decide, exactly as for PUT by the API; their
  // errors name a field, shown beside it.
  ui.post("/admin/policies/save", async (c) => {
    const form = await c.req.parseBody();
    const s = (k: string) => (typeof form[k] === "string" ? (form[k] as string).slice(0, 20_000) : "");
    const values = { user_identity: s("user_identity"), allowed_labels: s("allowed_labels"), label_patterns: s("label_patterns"), required_labels: s("required_labels"), max_runners: s("max_runners"), runner_group_id: s("runner_group_id"), allow_registration_token: s("allow_registration_token") === "true" };
    const shown = { isNew: false, values, errors: {} as PolicyForm["errors"] };
    const parsed = PolicyBody.safeParse(policyBodyOf(values));
    if (!parsed.success) {
      for (const issue of parsed.error.issues) {
        const f = formFieldOf(issue.path.map(String).join("."));
        if (f && !shown.errors[f]) shown.errors[f] = issue.message.replace(/\s+/g, " ").slice(0, 200);
      }
      return c.html(policyFormPage(c.get("viewer"), shown), 422);
    }
    try {
      await d.policies.put(c.get("viewer").identity, policyFromJson(parsed.data));
    } catch (e) {
      const field = e instanceof BrokerError && e.code === "invalid_request" ? formFieldOf(String(e.facts.extensions?.field ?? "")) : undefined;
      if (!field || !(e instanceof BrokerError)) throw e;
      const entry = /^[a-z_]+\[(\d+)\]: /.exec(e.message)?.[1];
      shown.errors[field] = `${entry !== undefined ? `entry ${Number(entry) + 1}: ` : ""}${e.message.replace(/^[a-z_]+(\[\d+\])?: /, "")}`;
      return c.html(policyFormPage(c.get("viewer"), shown), 422);
    }
    return c.redirect(`/ui/admin/policies?saved=${encodeURIComponent(parsed.data.user_identity)}`, 303);
  });

  ui.post("/admin/policies/delete", async (c) => {
    const form = await c.req.parseBody();
    const identity = typeof form.identity === "string" ? form.identity.slice(0, 256) : "";
    await d.policies.delete(c.get("viewer").identity, identity);
    return c.redirect(`/ui/admin/policies?deleted=${encodeURIComponent(identity)}`, 303);
  });

  ui.post("/admin/trust-policies/delete", async (c) => {
    const form = await c.req.parseBody();
    const name = typeof form.name === "string" ? form.name.slice(0, 100) : "";
    await d.trustPolicies.delete(c.get("viewer").identity, name);
    return c.redirect(`/ui/admin/trust-policies?deleted=${encodeURIComponent(name)}`, 303);
  });

  ui.get("/admin/trust-policies", async (c) => {
    const saved = c.req.query("saved");
    const deleted = c.req.query("deleted");
    const list = (await d.trustPolicies.list()).map((p) => ({ name: p.name, issuer: p.issuer, subject: p.subject ?? p.subjectPattern ?? "", mode: p.mode }));
    return c.html(trustPoliciesPage(c.get("viewer"), list, saved ? `Trust policy ${saved.slice(0, 100)} saved.` : deleted ? `Trust policy ${deleted.slice(0, 100)} deleted.` : undefined));
  });

  ui.get("/admin/trust-policies/edit", async (c) => {
    const name = c.req.query("name");
    const p = name ? await d.trustPolicies.get(name.slice(0, 100)) : undefined;
    return c.html(trustPolicyFormPage(c.get("viewer"), trustFormOf(p)));
  });

  // As for label policies: the API's schema (TrustPolicyBody), then TrustPolicyService.put.
  ui.post("/admin/trust-policies/save", async (c) => {
    const form = await c.req.parseBody();
    const values = Object.fromEntries(TRUST_FIELDS.map((k) => [k, typeof form[k] === "string" ? (form[k] as string).slice(0, 20_000) : ""])) as Record<TrustField, string>;
    const shown = { isNew: false, values, errors: {} as TrustPolicyForm["errors"] };
    const parsed = TrustPolicyBody.safeParse(trustBodyOf(values));
    if (!parsed.success) {
      for (const issue of parsed.error.issues) {
        const f = trustFieldOf(issue.path.map(String).join("."));
        if (f && !shown.errors[f]) shown.errors[f] = `${issue.path.length > 1 ? `${issue.path.slice(1).join(".")}: ` : ""}${issue.message.replace(/\s+/g, " ").slice(0, 200)}`;
      }
      return c.html(trustPolicyFormPage(c.get("viewer"), shown), 422);
    }
    try {
      await d.trustPolicies.put(c.get("viewer").identity, trustPolicyFromJson(parsed.data));
    } catch (e) {
      const field = e instanceof BrokerError && e.code === "invalid_request" ? String(e.facts.extensions?.field ?? "") : "";
      const top = trustFieldOf(field);
      if (!top || !(e instanceof BrokerError)) throw e;
      const rest = field.slice(top.length).replace(/^\./, "");
      shown.errors[top] = `${rest ? `${rest}: ` : ""}${e.message.replace(/^[^ ]+: /, "")}`;
      return c.html(trustPolicyFormPage(c.get("viewer"), shown), 422);
    }
    return c.redirect(`/ui/admin/trust-policies?saved=${encodeURIComponent(parsed.data.name)}`, 303);
  });
}

