// The dashboard's pages: templates that print what views.ts and the services computed. Every form
// that changes something carries the session's CSRF token; nothing here decides anything.
import { VERSION } from "../../core/version.ts";
import { RUNNER_STATUSES } from "../storage/storage.ts";
import { h, type Html } from "./html.ts";
import type { RunnerFilters, RunnerRow, TokenRow } from "./views.ts";

export interface Viewer {
  identity: string;
  isAdmin: boolean;
  csrf: string;
}

export const csrfField = (v: Viewer) => h`<input type="hidden" name="_csrf" value="${v.csrf}">`;

export function layout(title: string, viewer: Viewer | undefined, body: Html): string {
  const nav = viewer
    ? h`<nav aria-label="Dashboard"><ul>
  <li><a href="/ui/runners">My runners</a></li>
  <li><a href="/ui/policy">My policy</a></li>
  <li><a href="/ui/tokens">My tokens</a></li>
  ${viewer.isAdmin ? h`<li><a href="/ui/admin/runners">All runners</a></li><li><a href="/ui/admin/policies">Label policies</a></li><li><a href="/ui/admin/trust-policies">Trust policies</a></li><li><a href="/ui/admin/audit">Audit log</a></li><li><a href="/ui/admin/security-events">Security events</a></li>` : ""}
</ul></nav>
<span class="who">Signed in as <code>${viewer.identity}</code></span>
<form class="inline" method="post" action="/ui/logout">${csrfField(viewer)}<button type="submit">Sign out</button></form>`
    : "";
  return h`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title} · ghapp-runner-broker</title><link rel="stylesheet" href="/ui/style.css"></head>
<body><a class="skip" href="#main">Skip to content</a>
<header><strong>ghapp-runner-broker <span class="muted">${VERSION}</span></strong>${nav}</header>
<main id="main"><h1>${title}</h1>
${body}
</main></body></html>`.text;
}

export function signInPage(message?: string): string {
  return layout(
    "Sign in",
    undefined,
    h`${message ? h`<p class="notice bad" role="alert">${message}</p>` : ""}
<p>See your runners and your label policy, and remove runners you no longer need.</p>
<p><a href="/ui/login">Sign in with your OIDC provider</a></p>`,
  );
}

export function messagePage(title: string, viewer: Viewer | undefined, message: string): string {
  return layout(title, viewer, h`<p class="notice bad" role="alert">${message}</p><p><a href="/ui/runners">Back to my runners</a></p>`);
}

function labels(list: string[]): Html {
  return h`<span class="labels">${list.map((l) => h`<code>${l}</code>`)}</span>`;
}

function statusFilter(f: RunnerFilters): Html {
  return h`<div><label for="status">Status</label><select id="status" name="status"><option value="">any but deleted</option>${RUNNER_STATUSES.map((s) => h`<option${f.status === s ? " selected" : ""}>${s}</option>`)}</select></div>`;
}

export function runnersPage(viewer: Viewer, rows: RunnerRow[], f: RunnerFilters, notice?: { ok: boolean; text: string }): string {
  return layout(
    "My runners",
    viewer,
    h`${notice ? h`<p class="notice ${notice.ok ? "ok" : "bad"}" role="status">${notice.text}</p>` : ""}
<form class="filters" method="get" action="/ui/runners" role="search" aria-label="Filter runners">
  <div><label for="name">Name contains</label><input id="name" name="name" value="${f.name ?? ""}"></div>
  <div><label for="label">Label</label><input id="label" name="label" value="${f.label ?? ""}"></div>
  ${statusFilter(f)}
  <button type="submit">Filter</button>
</form>
<table><caption class="muted">${rows.length} runner${rows.length === 1 ? "" : "s"}</caption>
<thead><tr><th scope="col">Name</th><th scope="col">Status</th><th scope="col">Busy</th><th scope="col">Labels</th><th scope="col">Group</th><th scope="col">Organisation</th><th scope="col">Age</th><th scope="col">Last seen</th><th scope="col"><span class="muted">Action</span></th></tr></thead>
<tbody>${rows.map(
      (r) => h`<tr><td><a href="/ui/runners/${encodeURIComponent(r.name)}">${r.name}</a></td><td>${r.status}</td><td>${r.busy ? "yes" : "no"}</td><td>${labels(r.labels)}</td><td>${r.group}</td><td>${r.organisation}</td><td>${r.age}</td><td>${r.lastSeen}</td>
<td>${r.status === "deleted" ? "" : h`<form class="inline" method="post" action="/ui/runners/${encodeURIComponent(r.name)}/remove">${csrfField(viewer)}<button class="danger" type="submit" aria-label="Remove ${r.name}">Remove</button></form>`}</td></tr>`,
    )}</tbody></table>`,
  );
}

export function runnerPage(viewer: Viewer, r: RunnerRow): string {
  return layout(
    `Runner ${r.name}`,
    viewer,
    h`<dl>
<dt>Status</dt><dd>${r.status}${r.busy ? " (running a job)" : ""}</dd>
<dt>Labels</dt><dd>${labels(r.labels)}</dd>
<dt>Runner group</dt><dd>${r.group}</dd><dt>Organisation</dt><dd>${r.organisation}</dd>
<dt>Age</dt><dd>${r.age}</dd><dt>Last seen</dt><dd>${r.lastSeen}</dd></dl>
${r.status === "deleted" ? "" : h`<form method="post" action="/ui/runners/${encodeURIComponent(r.name)}/remove">${csrfField(viewer)}<button class="danger" type="submit">Remove ${r.name}</button></form>`}
<p><a href="/ui/runners">Back to my runners</a></p>`,
  );
}

export interface PolicyView {
  /** whose policy applies: the identity's own, the default "*", or none */
  applies: "own" | "default" | "none";
  allowedLabels: string[];
  labelPatterns: string[];
  requiredLabels: string[];
  maxRunners: number;
  allowRegistrationToken: boolean;
  runnerGroupId: number;
  held: number;
}

export interface LabelCheck {
  asked: string;
  refused: string[];
  registered: string[];
}

export function policyPage(viewer: Viewer, p: PolicyView | undefined, check?: LabelCheck): string {
  if (!p) return layout("My policy", viewer, h`<p class="notice bad">No label policy applies to <code>${viewer.identity}</code> and there is no default ("*") policy: every runner request is refused. Ask an administrator for one.</p>`);
  const list = (xs: string[]) => (xs.length ? labels(xs) : h`<span class="muted">none</span>`);
  return layout(
    "My policy",
    viewer,
    h`<p>${p.applies === "own" ? h`Your own policy applies (identity <code>${viewer.identity}</code>).` : h`No policy names your identity: the default policy (<code>*</code>) applies.`}</p>
<dl>
<dt>Allowed labels</dt><dd>${list(p.allowedLabels)} <span class="muted">and always <code>self-hosted</code></span></dd>
<dt>Label patterns (whole label)</dt><dd>${list(p.labelPatterns)}</dd>
<dt>Required labels (added to every runner)</dt><dd>${list(p.requiredLabels)}</dd>
<dt>Runners at once</dt><dd>${p.held} held of ${p.maxRunners} (max_runners)</dd>
<dt>Registration tokens</dt><dd>${p.allowRegistrationToken ? "allowed" : "not allowed: JIT runners only"}</dd>
<dt>Runner group</dt><dd>${p.runnerGroupId}</dd></dl>
<h2>Would a request be refused?</h2>
<form method="get" action="/ui/policy" class="filters">
  <div><label for="labels">Labels (comma separated)</label><input id="labels" name="labels" size="40" value="${check?.asked ?? ""}"></div>
  <button type="submit">Check</button>
</form>
${check ? (check.refused.length ? h`<p class="notice bad" role="status">Refused: ${labels(check.refused)} ${check.refused.length === 1 ? "is" : "are"} neither allowed nor matched by a pattern.</p>` : h`<p class="notice ok" role="status">Allowed: the runner would be registered with ${labels(check.registered)}</p>`) : ""}
${p.held >= p.maxRunners ? h`<p class="notice bad">Any request is refused now: you hold ${p.held} runners, your policy's max_runners is ${p.maxRunners}. Remove one first.</p>` : ""}`,
  );
}

export function tokensPage(viewer: Viewer, rows: TokenRow[], next?: string): string {
  return layout(
    "My tokens",
    viewer,
    h`<p>Installation tokens the token exchange (<code>POST /api/v1/tokens</code>) handed out to <code>${viewer.identity}</code>, newest first. The broker keeps only each token's SHA-256; its first 12 digits are shown to match a log line.</p>
<table><thead><tr><th scope="col">Issued (UTC)</th><th scope="col">Trust policy</th><th scope="col">Repositories</th><th scope="col">Permissions</th><th scope="col">Expires (UTC)</th><th scope="col">SHA-256 prefix</th></tr></thead>
<tbody>${rows.map((r) => h`<tr><td>${r.at}</td><td>${r.policy}</td><td>${r.repositories}</td><td>${r.permissions}</td><td>${r.expires}</td><td><code>${r.sha256Prefix}</code></td></tr>`)}</tbody></table>
${next ? h`<p><a href="${next}" rel="next">Older entries</a></p>` : ""}`,
  );
}
