// Label policies as a service: create or replace, read, list, delete (each audited in the same
// transaction), and the compiled policy that governs one identity (its own, else "*", else none).
// Knows nothing of HTTP.
import { compilePolicy, policyAsJson, PolicyError, type CompiledPolicy } from "../policy.ts";
import type { LabelPolicy, LabelPolicyRecord, Storage } from "../storage/storage.ts";
import { BrokerError } from "../errors.ts";

export const DEFAULT_POLICY_IDENTITY = "*";

/** A policy as written (API body, policy file): its runner group may be left to DEFAULT_RUNNER_GROUP_ID. */
export type PolicyInput = Omit<LabelPolicy, "runnerGroupId"> & { runnerGroupId?: number };

/** GitHub's runner groups, as far as policies need them. */
export interface RunnerGroupLookup {
  /** false when GitHub answers 404 for the group; BrokerError when GitHub cannot say. */
  runnerGroupExists(runnerGroupId: number): Promise<boolean>;
}

export interface PolicyServiceOptions {
  /** DEFAULT_RUNNER_GROUP_ID: the group of a policy that names none; unset: such a policy is refused. */
  defaultRunnerGroupId?: number;
  /** When given, a policy naming a group GitHub does not have is refused (the API; `policies apply` has no GitHub); by organisation. */
  groups?: (org: string) => RunnerGroupLookup;
  /**
   * The broker's organisations (GITHUB_ORGS; the first is the default). A policy naming another
   * one is refused; with several, a policy must name one. Unset: no check, no default.
   */
  orgs?: readonly string[];
  /** MANAGE_RUNNER_GROUPS: the id of the policy's own group, created or set back as needed; runner_group_id is then not asked for */
  managedGroup?: (policy: LabelPolicy) => Promise<number>;
}

/** Why a policy names no runner group, and the two fixes; null when it has one (or a default applies). */
export function missingRunnerGroup(p: PolicyInput, defaultRunnerGroupId: number | undefined): string | null {
  if (p.runnerGroupId !== undefined || defaultRunnerGroupId !== undefined) return null;
  // Never GitHub's Default group by accident: every repository of the org may use it.
  return "is required: name the runner group this identity's runners join (a group dedicated to the broker), or have the operator set DEFAULT_RUNNER_GROUP_ID";
}

export class PolicyService {
  /** compiled policies by source text, so a hot path does not re-compile regexes on every request */
  private readonly compiled = new Map<string, CompiledPolicy>();

  constructor(
    private readonly storage: Storage,
    private readonly options: PolicyServiceOptions = {},
  ) {}

  /**
   * Validates and compiles (PolicyError → 422 naming the field), checks the runner group exists at
   * GitHub (422 naming runner_group_id when GitHub answers 404), then stores and audits.
   */
  async put(actor: string, input: PolicyInput): Promise<{ created: boolean; policy: LabelPolicyRecord }> {
    if (this.options.managedGroup) return this.putManaged(actor, input, this.options.managedGroup);
    const missing = missingRunnerGroup(input, this.options.defaultRunnerGroupId);
    if (missing) throw new BrokerError("invalid_request", `runner_group_id ${missing}`, { extensions: { field: "runner_group_id" } });
    const org = this.orgOf(input);
    const policy: LabelPolicy = { ...input, runnerGroupId: input.runnerGroupId ?? this.options.defaultRunnerGroupId!, ...(org ? { org } : {}) };
    try {
      compilePolicy(policy);
    } catch (e) {
      if (e instanceof PolicyError) throw new BrokerError("invalid_request", `${e.field}: ${e.message}`, { extensions: { field: e.field } });
      throw e;
    }
    if (this.options.groups && org && !(await this.options.groups(org).runnerGroupExists(policy.runnerGroupId))) {
      throw new BrokerError("invalid_request", `runner_group_id: GitHub has no runner group ${policy.runnerGroupId} in the organisation ${org}: create it (organisation settings → Actions → Runner groups) or name an existing group`, { extensions: { field: "runner_group_id" } });
    }
    return this.storage.transaction(async (tx) => {
      const r = await tx.putLabelPolicy(policy);
      await tx.appendAudit({ actor, action: "policy.put", result: "success", details: { user_identity: policy.userIdentity, created: r.created, policy: policyAsJson(policy) } });
      return r;
    });
  }

  /** The policy's organisation as the operator spells it: its own (one of GITHUB_ORGS), else the only one; 422 otherwise. */
  private orgOf(input: PolicyInput): string | undefined {
    const orgs = this.options.orgs;
    if (!orgs || orgs.length === 0) return input.org;
    if (input.org === undefined) {
      if (orgs.length === 1) return orgs[0];
      throw new BrokerError("invalid_request", `org is required: the broker serves several organisations (${orgs.join(", ")}); name the one whose runner group this policy gives`, { extensions: { field: "org" } });
    }
    const known = orgs.find((o) => o.toLowerCase() === input.org!.toLowerCase());
    if (!known) throw new BrokerError("invalid_request", `org: the broker does not serve organisation ${input.org.slice(0, 60)}: name one of ${orgs.join(", ")} (GITHUB_ORGS)`, { extensions: { field: "org" } });
    return known;
  }

  /** MANAGE_RUNNER_GROUPS: the policy is checked, its own group made (or set back), then it is stored with that group. */
  private async putManaged(actor: string, input: PolicyInput, managedGroup: (policy: LabelPolicy) => Promise<number>): Promise<{ created: boolean; policy: LabelPolicyRecord }> {
    // A placeholder group for the checks; the policy is stored with its own group only.
    const org = this.orgOf(input);
    const draft: LabelPolicy = { ...input, runnerGroupId: input.runnerGroupId ?? 1, ...(org ? { org } : {}) };
    try {
      compilePolicy(draft);
    } catch (e) {
      if (e instanceof PolicyError) throw new BrokerError("invalid_request", `${e.field}: ${e.message}`, { extensions: { field: e.field } });
      throw e;
    }
    const policy: LabelPolicy = { ...draft, runnerGroupId: await managedGroup(draft) };
    return this.storage.transaction(async (tx) => {
      const r = await tx.putLabelPolicy(policy);
      await tx.appendAudit({ actor, action: "policy.put", result: "success", details: { user_identity: policy.userIdentity, created: r.created, policy: policyAsJson(policy), managed_runner_group: true } });
      return r;
    });
  }

  list(): Promise<LabelPolicyRecord[]> {
    return this.storage.listLabelPolicies();
  }

  async get(userIdentity: string): Promise<LabelPolicyRecord> {
    const p = await this.storage.getLabelPolicy(userIdentity);
    if (!p) throw new BrokerError("not_found", `no label policy for "${userIdentity.slice(0, 256)}"`);
    return p;
  }

  async delete(actor: string, userIdentity: string): Promise<void> {
    const deleted = await this.storage.transaction(async (tx) => {
      const ok = await tx.deleteLabelPolicy(userIdentity);
      if (ok) await tx.appendAudit({ actor, action: "policy.delete", result: "success", details: { user_identity: userIdentity } });
      return ok;
    });
    if (!deleted) throw new BrokerError("not_found", `no label policy for "${userIdentity.slice(0, 256)}"`);
  }

  /** The policy that governs `identity`: its own, else the default "*", else null (refuse). */
  async effective(identity: string): Promise<CompiledPolicy | null> {
    const record = (await this.storage.getLabelPolicy(identity)) ?? (await this.storage.getLabelPolicy(DEFAULT_POLICY_IDENTITY));
    if (!record) return null;
    return this.compile(record);
  }

  compile(record: LabelPolicy): CompiledPolicy {
    const key = JSON.stringify([record.userIdentity, record.allowedLabels, record.labelPatterns, record.requiredLabels, record.maxRunners, record.allowRegistrationToken, record.runnerGroupId, record.repositories ?? [], record.workflows ?? [], record.org]);
    let c = this.compiled.get(key);
    if (!c) {
      c = compilePolicy(record);
      if (this.compiled.size > 1000) this.compiled.clear();
      this.compiled.set(key, c);
    }
    return c;
  }

  /**
   * Runner groups any policy names: the only groups the broker ever touches. With `org`, those of
   * that organisation (a policy naming none counts as `defaultOrg`'s, the only one's).
   */
  async managedGroups(org?: string, defaultOrg?: string): Promise<number[]> {
    const mine = (p: LabelPolicyRecord) => org === undefined || (p.org ?? defaultOrg ?? "").toLowerCase() === org.toLowerCase();
    return [...new Set((await this.storage.listLabelPolicies()).filter(mine).map((p) => p.runnerGroupId))].sort((a, b) => a - b);
  }
}
