// Label policies: parse (shape), compile (anchored linear-time patterns, bounded), check (a
// request's labels against one identity's policy). Kept apart from the HTTP handlers and the
// storage, as octo-sts keeps trust_policy.go apart from its exchange handler: a policy is data until
// compiled, and the only decisions about labels are made here.
import { compilePattern, MAX_PATTERN_LENGTH, PatternError, type CompiledPattern } from "./pattern.ts";
import type { LabelPolicy } from "./storage/storage.ts";

/**
 * The one label every policy allows without naming it: every self-hosted runner carries it, so it
 * selects nothing a policy could mean to withhold. OS and architecture labels (linux, macOS, x64,
 * arm64, ...) are labels like any other: a job with `runs-on: [self-hosted, linux]` picks a runner
 * by them, so a policy allows them by allowed_labels or a pattern, as it allows team-a.
 */
export const IMPLICIT_LABEL = "self-hosted";

/** A label as GitHub accepts it: no commas or blanks; we bound it to 1..100 of these characters. */
export const LABEL_RE = /^[A-Za-z0-9][A-Za-z0-9._:+/=@-]{0,99}$/;
export const RUNNER_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
export const IDENTITY_MAX = 256;
/** "owner/name", as GitHub spells them (owner up to 39, name up to 100 characters). */
export const REPOSITORY_RE = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})\/[A-Za-z0-9._-]{1,100}$/;
/**
 * A runner group's selected workflow, as GitHub's API takes it: "owner/repo/.github/workflows/x.yml@ref"
 * https://docs.github.com/actions/hosting-your-own-runners/managing-self-hosted-runners/managing-access-to-self-hosted-runners-using-groups#changing-which-workflows-can-access-a-runner-group
 */
export const WORKFLOW_RE = /^[A-Za-z0-9][A-Za-z0-9-]{0,38}\/[A-Za-z0-9._-]{1,100}\/\.github\/workflows\/[A-Za-z0-9._\/-]{1,200}\.ya?ml@[A-Za-z0-9._\/*-]{1,200}$/;
export const MAX_PATTERNS = 50;
/** RE2 instructions a policy's patterns may compile to together: every label is checked against each. */
export const MAX_PATTERNS_PROGRAM_SIZE = 1000;
export { MAX_PATTERN_LENGTH };

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
  patterns: CompiledPattern[];
  required: string[];
}

/**
 * Compiles a policy's patterns with the shared pattern compiler (pattern.ts: RE2, linear time, each
 * matched against the whole label, so `gpu-.*` cannot match `evil-gpu-x`), refusing what does not
 * compile, and checks the rest of the policy's shape.
 */
export function compilePolicy(policy: LabelPolicy): CompiledPolicy {
  if (policy.labelPatterns.length > MAX_PATTERNS) throw new PolicyError("label_patterns", `at most ${MAX_PATTERNS} patterns`);
  const patterns = policy.labelPatterns.map((p, i) => {
    try {
      return compilePattern(p);
    } catch (e) {
      if (e instanceof PatternError) throw new PolicyError(`label_patterns[${i}]`, e.message);
      throw e;
    }
  });
  const total = patterns.reduce((n, p) => n + p.size, 0);
  if (total > MAX_PATTERNS_PROGRAM_SIZE) throw new PolicyError("label_patterns", `the patterns compile to ${total} RE2 instructions together, more than ${MAX_PATTERNS_PROGRAM_SIZE}: merge or simplify them`);
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
  (policy.repositories ?? []).forEach((r, i) => {
    if (!REPOSITORY_RE.test(r)) throw new PolicyError(`repositories[${i}]`, 'is not a repository: write it as "owner/name" (e.g. "acme-org/api")');
  });
  (policy.workflows ?? []).forEach((w, i) => {
    if (!WORKFLOW_RE.test(w)) throw new PolicyError(`workflows[${i}]`, 'is not a workflow reference: write it as GitHub does, "owner/repo/.github/workflows/ci.yml@refs/heads/main" (the ref may be a branch, tag or SHA, or "*")');
  });
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
    ...(p.org ? { org: p.org } : {}),
    repositories: p.repositories ?? [],
    workflows: p.workflows ?? [],
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

export function labelAllowed(p: CompiledPolicy, label: string): boolean {
  const k = label.toLowerCase();
  return k === IMPLICIT_LABEL || p.allowed.has(k) || p.patterns.some((pattern) => pattern.matches(label));
}

export type LabelDecision = { ok: true; labels: string[] } | { ok: false; refused: string[] };

/**
 * Checks requested labels: every one must be `self-hosted`, in allowed_labels, or match a pattern;
 * required labels are added. The answer's labels, in the caller's spelling, are what will be
 * registered.
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

