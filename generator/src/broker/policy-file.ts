// POLICY_FILE and `policies apply FILE`: a YAML list of label policies in the API's shape
// (snake_case, as POST /api/v1/admin/label-policies takes), validated by the same schema and
// compiled before anything is stored, so a bad file changes nothing. Trust policies (the token
// exchange's, docs/keyless.md) come in the same file: a mapping with `label_policies` and
// `trust_policies` lists, each entry as POST /api/v1/admin/trust-policies takes it.
import { readFileSync, statSync } from "node:fs";
import { z } from "@hono/zod-openapi";
import { configError } from "../core/errors.ts";
import { PolicyBody, policyFromJson } from "./http/label-policies.ts";
import { compilePolicy, PolicyError } from "./policy.ts";
import { missingRunnerGroup } from "./service/policies.ts";
import type { LabelPolicy } from "./storage/storage.ts";
import { TrustPolicyBody, trustPolicyFromJson } from "./http/trust-policies.ts";
import { compileTrustPolicy, TrustPolicyError, type TrustPolicy } from "./trust-policy.ts";

export interface PolicyDocument {
  labelPolicies: LabelPolicy[];
  trustPolicies: TrustPolicy[];
}

const MAX_FILE_BYTES = 1024 * 1024;

/** The file's label policies, each with its runner group (its own, else DEFAULT_RUNNER_GROUP_ID's `defaultRunnerGroupId`). */
export function readPolicyFile(path: string, name = "POLICY_FILE", defaultRunnerGroupId?: number): LabelPolicy[] {
  return readPolicyDocument(path, name, defaultRunnerGroupId).labelPolicies;
}

/** The file's label and trust policies. */
export function readPolicyDocument(path: string, name = "POLICY_FILE", defaultRunnerGroupId?: number): PolicyDocument {
  let text: string;
  try {
    if (statSync(path).size > MAX_FILE_BYTES) throw configError(`${name} ${path} is larger than 1 MiB: split it or remove unused policies`);
    text = readFileSync(path, "utf8");
  } catch (e) {
    if (e instanceof Error && e.name === "GhappError") throw e;
    throw configError(`${name} ${path} cannot be read: check the path and that the broker's user may read it`);
  }
  return parsePolicyDocument(text, `${name} ${path}`, defaultRunnerGroupId);
}

/** Either a list of label policies, or {label_policies: [...], trust_policies: [...]}. */
export function parsePolicyDocument(text: string, where: string, defaultRunnerGroupId?: number): PolicyDocument {
  let doc: unknown;
  try {
    doc = Bun.YAML.parse(text);
  } catch {
    throw configError(`${where} is not valid YAML: it must be a list of label policies, or a mapping with label_policies and trust_policies lists`);
  }
  if (doc === null || doc === undefined || Array.isArray(doc)) return { labelPolicies: parsePolicies(text, where, defaultRunnerGroupId), trustPolicies: [] };
  const parsed = z.object({ label_policies: z.array(z.unknown()).default([]), trust_policies: z.array(TrustPolicyBody).max(10_000).default([]) }).strict().safeParse(doc);
  if (!parsed.success) {
    const i = parsed.error.issues[0];
    throw configError(`${where}: ${i ? i.path.join(".") || "the document" : "the document"}: ${i?.message ?? "invalid"} (label_policies and trust_policies lists in the API's shape)`);
  }
  const labelPolicies = parsePolicies(JSON.stringify(parsed.data.label_policies), `${where}: label_policies`, defaultRunnerGroupId);
  const trustPolicies = parsed.data.trust_policies.map(trustPolicyFromJson);
  const seen = new Set<string>();
  trustPolicies.forEach((p, i) => {
    if (seen.has(p.name)) throw configError(`${where}: trust_policies.${i}.name "${p.name.slice(0, 100)}" appears twice: names are unique`);
    seen.add(p.name);
    try {
      compileTrustPolicy(p);
    } catch (e) {
      if (e instanceof TrustPolicyError) throw configError(`${where}: trust_policies.${i}.${e.field}: ${e.message}`);
      throw e;
    }
  });
  return { labelPolicies, trustPolicies };
}

export function parsePolicies(text: string, where: string, defaultRunnerGroupId?: number): LabelPolicy[] {
  let doc: unknown;
  try {
    doc = Bun.YAML.parse(text);
  } catch {
    throw configError(`${where} is not valid YAML: it must be a list of policies, e.g. "- user_identity: '*'\\n  allowed_labels: [linux]"`);
  }
  const parsed = z.array(PolicyBody).max(10_000).safeParse(doc ?? []);
  if (!parsed.success) {
    const i = parsed.error.issues[0];
    throw configError(`${where}: ${i ? i.path.join(".") || "the document" : "the document"}: ${i?.message ?? "invalid"} (a YAML list of policies in the API's shape)`);
  }
  const policies = parsed.data.map(policyFromJson).map((p, i): LabelPolicy => {
    const missing = missingRunnerGroup(p, defaultRunnerGroupId);
    if (missing) throw configError(`${where}: ${i}.runner_group_id (the policy for "${p.userIdentity.slice(0, 256)}") ${missing}`);
    return { ...p, runnerGroupId: p.runnerGroupId ?? defaultRunnerGroupId! };
  });
  const seen = new Set<string>();
  policies.forEach((p, i) => {
    if (seen.has(p.userIdentity)) throw configError(`${where}: ${i}.user_identity "${p.userIdentity}" appears twice: keep one policy per identity`);
    seen.add(p.userIdentity);
    try {
      compilePolicy(p);
    } catch (e) {
      if (e instanceof PolicyError) throw configError(`${where}: ${i}.${e.field}: ${e.message}`);
      throw e;
    }
  });
  return policies;
}
