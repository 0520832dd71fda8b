// Label policies: parse (shape), compile (anchored regexes, bounded), check (a request's labels
// against one identity's policy). Kept apart from the HTTP handlers and the storage, as octo-sts
// keeps trust_policy.go apart from its exchange handler: a policy is data until compiled, and the
// only decisions about labels are made here.
import type { LabelPolicy } from "./storage/storage.ts";

/** Labels GitHub itself puts on self-hosted runners (read-only labels): always allowed. */
export const GITHUB_BUILTIN_LABELS = ["self-hosted", "linux", "windows", "macos", "x64", "x86", "arm", "arm64"] as const;
const BUILTIN = new Set<string>(GITHUB_BUILTIN_LABELS);

/** A label as GitHub accepts it: no commas or blanks; we bound it to 1..100 of these characters. */
export const LABEL_RE = /^[A-Za-z0-9][A-Za-z0-9._:+/=@-]{0,99}$/;
export const RUNNER_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
export const IDENTITY_MAX = 256;
export const MAX_PATTERNS = 50;
export const MAX_PATTERN_LENGTH = 200;

export class PolicyError extends Error {
  override readonly name = "PolicyError";
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(message);
  }
}

export interface CompiledPolicy {
  source: LabelPolicy;
  allowed: Set<string>;
  patterns: RegExp[];
  required: string[];
}

/**
 * Compiles a policy's patterns, each anchored as a whole (`^(?:…)$`, so `gpu-.*` cannot match
 * `evil-gpu-x`), and refuses what could make matching slow: over-long patterns, back-references
 * and nested quantifiers such as `(a+)+` (catastrophic backtracking).
 */
export function compilePolicy(policy: LabelPolicy): CompiledPolicy {
  if (policy.labelPatterns.length > MAX_PATTERNS) throw new PolicyError("label_patterns", `at most ${MAX_PATTERNS} patterns`);
  const patterns = policy.labelPatterns.map((p, i) => {
    const field = `label_patterns[${i}]`;
    if (p.length === 0 || p.length > MAX_PATTERN_LENGTH) throw new PolicyError(field, `a pattern is 1..${MAX_PATTERN_LENGTH} characters`);
    if (/\\[1-9]|\\k</.test(p)) throw new PolicyError(field, "back-references are not allowed in label patterns");
    if (/\([^)]*[+*}][^)]*\)\s*[+*{]/.test(p)) throw new PolicyError(field, "nested quantifiers such as (a+)+ are not allowed: they make matching exponentially slow");
    try {
      return new RegExp(`^(?:${p})$`, "i");
    } catch {
      throw new PolicyError(field, "is not a valid regular expression");
    }
  });
  for (const [field, list] of [
    ["allowed_labels", policy.allowedLabels],
    ["required_labels", policy.requiredLabels],
  ] as const) {
    list.forEach((l, i) => {
      if (!LABEL_RE.test(l)) throw new PolicyError(`${field}[${i}]`, "is not a runner label (1..100 of letters, digits and ._:+/=@-, starting with a letter or digit)");
    });
  }
  if (!Number.isInteger(policy.maxRunners) || policy.maxRunners < 0) throw new PolicyError("max_runners", "must be a whole number >= 0");
  if (!Number.isInteger(policy.runnerGroupId) || policy.runnerGroupId < 1) throw new PolicyError("runner_group_id", "must be a runner group id (>= 1)");
  if (policy.userIdentity.length === 0 || policy.userIdentity.length > IDENTITY_MAX) throw new PolicyError("user_identity", `must be 1..${IDENTITY_MAX} characters`);
  const compiled: CompiledPolicy = {
    source: policy,
    allowed: new Set(policy.allowedLabels.map((l) => l.toLowerCase())),
    patterns,
    required: dedupe(policy.requiredLabels),
  };
  // A required label the policy itself would refuse makes every request fail: refuse the policy instead.
  for (const r of compiled.required) {
    if (!labelAllowed(compiled, r)) throw new PolicyError("required_labels", `required label "${r}" is not allowed by allowed_labels or label_patterns`);
  }
  return compiled;
}

/** A policy in the API's (snake_case) shape: the answer's body, a policy file's entry, an audit record's details. */
export function policyAsJson(p: LabelPolicy) {
  return {
    user_identity: p.userIdentity,
    allowed_labels: p.allowedLabels,
    label_patterns: p.labelPatterns,
    required_labels: p.requiredLabels,
    max_runners: p.maxRunners,
    allow_registration_token: p.allowRegistrationToken,
    runner_group_id: p.runnerGroupId,
  };
}

/** Case-insensitive de-duplication, keeping the first spelling. */
export function dedupe(labels: string[]): string[] {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const l of labels) {
    const k = l.toLowerCase();
    if (seen.has(k)) continue;
    seen.add(k);
    out.push(l);
  }
  return out;
}

export function isBuiltinLabel(label: string): boolean {
  return BUILTIN.has(label.toLowerCase());
}

export function labelAllowed(p: CompiledPolicy, label: string): boolean {
  const k = label.toLowerCase();
  return BUILTIN.has(k) || p.allowed.has(k) || p.patterns.some((re) => re.test(label));
}

export type LabelDecision = { ok: true; labels: string[] } | { ok: false; refused: string[] };

/**
 * Checks requested labels: every one must be a GitHub label, in allowed_labels, or match a
 * pattern; required labels are added. The answer's labels are what will be registered.
 */
export function checkLabels(p: CompiledPolicy, requested: string[]): LabelDecision {
  const labels = dedupe([...requested, ...p.required]);
  const refused = labels.filter((l) => !labelAllowed(p, l));
  return refused.length ? { ok: false, refused } : { ok: true, labels };
}

/** Labels of a runner seen at GitHub that its policy does not allow (verification after registration). */
export function unexpectedLabels(p: CompiledPolicy, labels: string[]): string[] {
  return labels.filter((l) => !labelAllowed(p, l));
}

