// The trust-policy form: what an administrator types (lists and `key=value` lines) turned into the
// API's JSON body, validated after this by the API's own schema and TrustPolicyService.put, and the
// policy turned back into the form. No validation of its own: the API's decides.
import type { TrustPolicy } from "../trust-policy.ts";

export const TRUST_FIELDS = ["name", "issuer", "audience", "subject", "subject_pattern", "claims", "claim_patterns", "owner", "repositories", "permissions", "mode"] as const;
export type TrustField = (typeof TRUST_FIELDS)[number];

export interface TrustPolicyForm {
  isNew: boolean;
  values: Record<TrustField, string>;
  errors: Partial<Record<TrustField, string>>;
}

const lines = (m: Record<string, string>) =>
  Object.entries(m)
    .map(([k, v]) => `${k}=${v}`)
    .join("\n");

export function trustFormOf(p: TrustPolicy | undefined): TrustPolicyForm {
  if (!p) return { isNew: true, values: { name: "", issuer: "", audience: "", subject: "", subject_pattern: "", claims: "", claim_patterns: "", owner: "", repositories: "", permissions: "", mode: "enforce" }, errors: {} };
  return {
    isNew: false,
    values: { name: p.name, issuer: p.issuer, audience: p.audience, subject: p.subject ?? "", subject_pattern: p.subjectPattern ?? "", claims: lines(p.claims), claim_patterns: lines(p.claimPatterns), owner: p.owner, repositories: p.repositories === "*" ? "*" : p.repositories.join(", "), permissions: lines(p.permissions), mode: p.mode },
    errors: {},
  };
}

/** `key=value` lines (or `key: value`) as an object; a line without a separator keeps an empty value, for the API to refuse. */
function pairs(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split(/\r?\n/).map((l) => l.trim()).filter(Boolean)) {
    const at = line.search(/[=:]/);
    // A claim path has no ":" or "="; a pattern may, so the first separator splits.
    if (at < 0) out[line] = "";
    else out[line.slice(0, at).trim()] = line.slice(at + 1).trim();
  }
  return out;
}

export function trustBodyOf(v: Record<TrustField, string>): Record<string, unknown> {
  const repos = v.repositories.trim();
  return {
    name: v.name.trim(),
    issuer: v.issuer.trim(),
    audience: v.audience.trim(),
    ...(v.subject.trim() ? { subject: v.subject.trim() } : {}),
    ...(v.subject_pattern.trim() ? { subject_pattern: v.subject_pattern.trim() } : {}),
    claims: pairs(v.claims),
    claim_patterns: pairs(v.claim_patterns),
    owner: v.owner.trim(),
    repositories: repos === "*" ? "*" : repos.split(/[\s,]+/).filter(Boolean),
    permissions: pairs(v.permissions),
    mode: v.mode,
  };
}

export function trustFieldOf(field: string): TrustField | undefined {
  const top = field.split(/[.[]/)[0];
  return TRUST_FIELDS.find((f) => f === top);
}
