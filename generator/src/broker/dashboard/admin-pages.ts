// The administrators' pages: every runner with its owner, the audit log and security events with
// filters and server-side paging, and the label-policy form with each error beside its field.
import { RUNNER_STATUSES, AUDIT_RESULTS } from "../storage/storage.ts";
import { h, trusted, type Html } from "./html.ts";
import { csrfField, layout, type Viewer } from "./pages.ts";
import type { AuditRow, EventRow, PolicyForm, RunnerRow } from "./views.ts";
import { TRUST_FIELDS, type TrustField, type TrustPolicyForm } from "./trust-policy-form.ts";

const labels = (list: string[]) => h`<span class="labels">${list.map((l) => h`<code>${l}</code>`)}</span>`;
const nextLink = (href: string | undefined) => (href ? h`<p><a href="${href}" rel="next">Older entries</a></p>` : h`<p class="muted">No older entries.</p>`);
const select = (id: string, label: string, values: readonly string[], current: string | undefined, any: string) =>
  h`<div><label for="${id}">${label}</label><select id="${id}" name="${id}"><option value="">${any}</option>${values.map((s) => h`<option${current === s ? " selected" : ""}>${s}</option>`)}</select></div>`;
/** `attributes`: constants written in this file, never input. */
const text = (id: string, label: string, value: string | undefined, attributes = "") => h`<div><label for="${id}">${label}</label><input id="${id}" name="${id}" value="${value ?? ""}"${trusted(attributes)}></div>`;

export function adminRunnersPage(viewer: Viewer, rows: RunnerRow[], f: { owner?: string; status?: string }, next?: string): string {
  return layout(
    "All runners",
    viewer,
    h`<form class="filters" method="get" action="/ui/admin/runners" role="search" aria-label="Filter runners">
${text("owner", "Owner (identity)", f.owner, ' size="40"')}${select("status", "Status", RUNNER_STATUSES, f.status, "any but deleted")}<button type="submit">Filter</button></form>
<table><thead><tr><th scope="col">Name</th><th scope="col">Owner</th><th scope="col">Status</th><th scope="col">Labels</th><th scope="col">Group</th><th scope="col">Age</th><th scope="col">Last seen</th></tr></thead>
<tbody>${rows.map((r) => h`<tr><td>${r.name}</td><td><a href="/ui/admin/runners?owner=${encodeURIComponent(r.owner)}"><code>${r.owner}</code></a></td><td>${r.status}</td><td>${labels(r.labels)}</td><td>${r.group}</td><td>${r.age}</td><td>${r.lastSeen}</td></tr>`)}</tbody></table>
${nextLink(next)}`,
  );
}

export function auditPage(viewer: Viewer, rows: AuditRow[], f: Record<string, string | undefined>, error: string | undefined, next?: string): string {
  return layout(
    "Audit log",
    viewer,
    h`<form class="filters" method="get" action="/ui/admin/audit" role="search" aria-label="Filter the audit log">
${text("identity", "Identity", f.identity, ' size="32"')}${text("action", "Action", f.action, ' placeholder="runner.provision"')}${select("result", "Result", AUDIT_RESULTS, f.result, "any")}
${text("since", "From (UTC)", f.since, ' type="datetime-local"')}${text("until", "To (UTC)", f.until, ' type="datetime-local"')}<button type="submit">Filter</button></form>
${error ? h`<p class="notice bad" role="alert">${error}</p>` : ""}
<table><thead><tr><th scope="col">When (UTC)</th><th scope="col">Identity</th><th scope="col">Action</th><th scope="col">Result</th><th scope="col">Runner</th><th scope="col">Details</th></tr></thead>
<tbody>${rows.map((r) => h`<tr><td>${r.at}</td><td><code>${r.actor}</code></td><td>${r.action}</td><td>${r.result}</td><td>${r.runner}</td><td class="details"><code>${r.details}</code></td></tr>`)}</tbody></table>
${nextLink(next)}`,
  );
}

export function eventsPage(viewer: Viewer, rows: EventRow[], f: Record<string, string | undefined>, error: string | undefined, next?: string): string {
  return layout(
    "Security events",
    viewer,
    h`<form class="filters" method="get" action="/ui/admin/security-events" role="search" aria-label="Filter security events">
${text("identity", "Identity", f.identity, ' size="32"')}${text("type", "Event type", f.type, ' placeholder="label_not_allowed"')}
${text("since", "From (UTC)", f.since, ' type="datetime-local"')}${text("until", "To (UTC)", f.until, ' type="datetime-local"')}<button type="submit">Filter</button></form>
${error ? h`<p class="notice bad" role="alert">${error}</p>` : ""}
<table><thead><tr><th scope="col">When (UTC)</th><th scope="col">Type</th><th scope="col">Severity</th><th scope="col">Identity</th><th scope="col">Runner</th><th scope="col">Action taken</th><th scope="col">Count</th></tr></thead>
<tbody>${rows.map((r) => h`<tr><td>${r.at}</td><td>${r.type}</td><td>${r.severity}</td><td><code>${r.identity}</code></td><td>${r.runner}</td><td>${r.actionTaken}</td><td>${r.count}</td></tr>`)}</tbody></table>
${nextLink(next)}`,
  );
}

export function policiesPage(viewer: Viewer, identities: { identity: string; group: number; maxRunners: number }[], notice?: string): string {
  return layout(
    "Label policies",
    viewer,
    h`${notice ? h`<p class="notice ok" role="status">${notice}</p>` : ""}
<p><a href="/ui/admin/policies/edit">New policy</a></p>
<table><thead><tr><th scope="col">Identity</th><th scope="col">Runner group</th><th scope="col">Max runners</th><th scope="col"><span class="muted">Action</span></th></tr></thead>
<tbody>${identities.map((p) => h`<tr><td><a href="/ui/admin/policies/edit?identity=${encodeURIComponent(p.identity)}"><code>${p.identity}</code></a></td><td>${p.group}</td><td>${p.maxRunners}</td>
<td><form class="inline" method="post" action="/ui/admin/policies/delete">${csrfField(viewer)}<input type="hidden" name="identity" value="${p.identity}"><button class="danger" type="submit" aria-label="Delete the policy of ${p.identity}">Delete</button></form></td></tr>`)}</tbody></table>`,
  );
}

function field(f: PolicyForm, name: keyof PolicyForm["values"], label: string, input: (describedBy: string) => Html, hint?: string): Html {
  const error = f.errors[name];
  const ids = [hint ? `${name}-hint` : "", error ? `${name}-error` : ""].filter(Boolean).join(" ");
  return h`<div class="field"><label for="${name}">${label}</label>${hint ? h`<div id="${name}-hint" class="muted">${hint}</div>` : ""}${input(ids)}${error ? h`<div id="${name}-error" class="error">${error}</div>` : ""}</div>`;
}

export function policyFormPage(viewer: Viewer, f: PolicyForm): string {
  const v = f.values;
  const described = (ids: string) => (ids ? h` aria-describedby="${ids}"` : "");
  const invalid = (name: keyof PolicyForm["values"]) => (f.errors[name] ? h` aria-invalid="true"` : "");
  return layout(
    f.isNew ? "New label policy" : "Edit label policy",
    viewer,
    h`${Object.keys(f.errors).length ? h`<p class="notice bad" role="alert">The policy was not saved: correct the fields marked below.</p>` : ""}
<form method="post" action="/ui/admin/policies/save">${csrfField(viewer)}
${field(f, "user_identity", "Identity", (d) => h`<input id="user_identity" name="user_identity" size="60" required value="${v.user_identity}"${described(d)}${invalid("user_identity")}>`, 'the caller\'s identity claim, or "*" for the default policy')}
${field(f, "allowed_labels", "Allowed labels", (d) => h`<input id="allowed_labels" name="allowed_labels" size="60" value="${v.allowed_labels}"${described(d)}${invalid("allowed_labels")}>`, "separated by commas or blanks")}
${field(f, "label_patterns", "Label patterns", (d) => h`<textarea id="label_patterns" name="label_patterns" rows="3" cols="60"${described(d)}${invalid("label_patterns")}>${v.label_patterns}</textarea>`, "one regular expression per line, matched against the whole label")}
${field(f, "required_labels", "Required labels", (d) => h`<input id="required_labels" name="required_labels" size="60" value="${v.required_labels}"${described(d)}${invalid("required_labels")}>`)}
${field(f, "max_runners", "Max runners", (d) => h`<input id="max_runners" name="max_runners" inputmode="numeric" value="${v.max_runners}"${described(d)}${invalid("max_runners")}>`)}
${field(f, "runner_group_id", "Runner group id", (d) => h`<input id="runner_group_id" name="runner_group_id" inputmode="numeric" value="${v.runner_group_id}"${described(d)}${invalid("runner_group_id")}>`, "empty: the operator's DEFAULT_RUNNER_GROUP_ID")}
<div class="field"><input type="checkbox" id="allow_registration_token" name="allow_registration_token" value="true"${v.allow_registration_token ? " checked" : ""}> <label for="allow_registration_token" class="inline">Allow registration tokens</label></div>
<button type="submit">Save policy</button></form>`,
  );
}

export function trustPoliciesPage(viewer: Viewer, policies: { name: string; issuer: string; subject: string; mode: string }[], notice?: string): string {
  return layout(
    "Trust policies",
    viewer,
    h`${notice ? h`<p class="notice ok" role="status">${notice}</p>` : ""}
<p><a href="/ui/admin/trust-policies/edit">New trust policy</a></p>
<table><thead><tr><th scope="col">Name</th><th scope="col">Issuer</th><th scope="col">Subject</th><th scope="col">Mode</th><th scope="col"><span class="muted">Action</span></th></tr></thead>
<tbody>${policies.map((p) => h`<tr><td><a href="/ui/admin/trust-policies/edit?name=${encodeURIComponent(p.name)}">${p.name}</a></td><td><code>${p.issuer}</code></td><td><code>${p.subject}</code></td><td>${p.mode}</td>
<td><form class="inline" method="post" action="/ui/admin/trust-policies/delete">${csrfField(viewer)}<input type="hidden" name="name" value="${p.name}"><button class="danger" type="submit" aria-label="Delete trust policy ${p.name}">Delete</button></form></td></tr>`)}</tbody></table>`,
  );
}

const TRUST_LABELS: Record<TrustField, [string, string | undefined, "input" | "textarea" | "mode"]> = {
  name: ["Name", "lowercase letters, digits and ._-", "input"],
  issuer: ["Issuer", "the token's iss, exactly", "input"],
  audience: ["Audience", "a value the token's aud must hold", "input"],
  subject: ["Subject", "the token's sub exactly, or leave empty and give a subject pattern", "input"],
  subject_pattern: ["Subject pattern", "an RE2 pattern the whole sub must match", "input"],
  claims: ["Claims", "one claim=value per line; dots reach nested claims", "textarea"],
  claim_patterns: ["Claim patterns", "one claim=pattern per line", "textarea"],
  owner: ["Owner", "the account whose installation the token is for", "input"],
  repositories: ["Repositories", 'names separated by commas or blanks, or "*" for all', "input"],
  permissions: ["Permissions", "one permission=read|write|admin per line", "textarea"],
  mode: ["Mode", undefined, "mode"],
};

export function trustPolicyFormPage(viewer: Viewer, f: TrustPolicyForm): string {
  const fields = TRUST_FIELDS.map((name) => {
    const [label, hint, kind] = TRUST_LABELS[name];
    const error = f.errors[name];
    const ids = [hint ? `${name}-hint` : "", error ? `${name}-error` : ""].filter(Boolean).join(" ");
    const attrs = h`${ids ? h` aria-describedby="${ids}"` : ""}${error ? h` aria-invalid="true"` : ""}`;
    const value = f.values[name];
    const control =
      kind === "textarea"
        ? h`<textarea id="${name}" name="${name}" rows="3" cols="60"${attrs}>${value}</textarea>`
        : kind === "mode"
          ? h`<select id="${name}" name="${name}"${attrs}>${["enforce", "audit"].map((m) => h`<option${value === m ? " selected" : ""}>${m}</option>`)}</select>`
          : h`<input id="${name}" name="${name}" size="60" value="${value}"${attrs}>`;
    return h`<div class="field"><label for="${name}">${label}</label>${hint ? h`<div id="${name}-hint" class="muted">${hint}</div>` : ""}${control}${error ? h`<div id="${name}-error" class="error">${error}</div>` : ""}</div>`;
  });
  return layout(
    f.isNew ? "New trust policy" : "Edit trust policy",
    viewer,
    h`${Object.keys(f.errors).length ? h`<p class="notice bad" role="alert">The trust policy was not saved: correct the fields marked below.</p>` : ""}
<form method="post" action="/ui/admin/trust-policies/save">${csrfField(viewer)}${fields}<button type="submit">Save trust policy</button></form>`,
  );
}
