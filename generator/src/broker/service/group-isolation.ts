// Runner groups that isolate tenants (issue 20): a third party's runners must only receive jobs from
// the repositories and workflows the operator meant. Each sync round reads the access settings of
// every runner group the broker uses and reports a group that is visible to every repository (or
// every private one), admits public repositories, admits repositories or workflows its policies do
// not name, or is not restricted to the workflows its policies name: a gauge, the /ready detail (the
// broker stays ready: it still works, it is exposed) and one security event per group and change of
// state, never one per round. With MANAGE_RUNNER_GROUPS, the broker keeps one group per policy
// itself (visibility selected, the policy's repositories and workflows) and sets it back when
// someone widens it. Every call takes the organisation login, so it can run per organisation.
// https://docs.github.com/actions/hosting-your-own-runners/managing-self-hosted-runners/managing-access-to-self-hosted-runners-using-groups
import { createHash } from "node:crypto";
import type { Logger } from "../../core/logger.ts";
import { BrokerError } from "../errors.ts";
import type { RunnerGroupApi, RunnerGroupSettings } from "../github-runner-groups.ts";
import type { BrokerMetrics } from "../metrics.ts";
import type { LabelPolicy, LabelPolicyRecord, RunnerGroupExposure, Storage } from "../storage/storage.ts";

/** Why a group reaches more than its policies mean, one code each (metric label, /ready, event details). */
export type ExposureReason = "visibility_all" | "visibility_private" | "public_repositories" | "other_repositories" | "unrestricted_workflows" | "other_workflows";

const EXPLAIN: Record<ExposureReason, string> = {
  visibility_all: "every repository of the organisation may use it",
  visibility_private: "every private repository of the organisation may use it",
  public_repositories: "public repositories may use it",
  other_repositories: "repositories no policy of this group names may use it",
  unrestricted_workflows: "it is not restricted to the workflows its policies name",
  other_workflows: "workflows no policy of this group names may use it",
};

/** The /ready and log wording of a group's reasons, in the broker's own words. */
export function explainExposure(reasons: readonly string[]): string {
  return reasons.map((r) => EXPLAIN[r as ExposureReason] ?? r).join("; ");
}

/** What the policies of one group allow: their repositories and workflows together. */
function allowedBy(policies: readonly LabelPolicy[]) {
  return {
    repositories: [...new Set(policies.flatMap((p) => p.repositories ?? []).map((r) => r.toLowerCase()))].sort(),
    workflows: [...new Set(policies.flatMap((p) => p.workflows ?? []))].sort(),
  };
}

/**
 * Why `group` reaches more than `policies` (the policies naming it) allow; [] when it does not.
 * `repositoryIds`: the ids a `selected` group admits and the ids of the policies' repositories,
 * when the policies name repositories (else the repository list is not judged).
 * Workflow restriction is judged only when a policy names workflows: the feature needs GitHub
 * Enterprise Cloud, and a policy that names none has not asked for it.
 */
export function exposureReasons(group: RunnerGroupSettings, policies: readonly LabelPolicy[], repositoryIds?: { admitted: number[]; allowed: Set<number> }): ExposureReason[] {
  const out: ExposureReason[] = [];
  const allowed = allowedBy(policies);
  if (group.visibility === "all") out.push("visibility_all");
  else if (group.visibility === "private") out.push("visibility_private");
  else if (group.visibility !== "selected") out.push("visibility_all"); // a value GitHub does not document: assume the worst
  if (group.allowsPublicRepositories) out.push("public_repositories");
  if (group.visibility === "selected" && repositoryIds && repositoryIds.admitted.some((id) => !repositoryIds.allowed.has(id))) out.push("other_repositories");
  if (allowed.workflows.length) {
    if (!group.restrictedToWorkflows) out.push("unrestricted_workflows");
    else if (group.selectedWorkflows.some((w) => !allowed.workflows.includes(w))) out.push("other_workflows");
  }
  return out.sort();
}

/** The name of the group the broker manages for a policy: stable, short, and no identity text at GitHub. */
export function managedGroupName(userIdentity: string): string {
  return `broker-${createHash("sha256").update(userIdentity).digest("hex").slice(0, 16)}`;
}

export interface GroupIsolationDeps {
  storage: Storage;
  groups: RunnerGroupApi;
  metrics: BrokerMetrics;
  logger: Logger;
  /** MANAGE_RUNNER_GROUPS: one group per policy, created and kept by the broker */
  manage: boolean;
  now?: () => number;
}

const SYSTEM = "system";

export class GroupIsolation {
  private readonly now: () => number;
  /** metric series set by this replica, to zero the ones that clear */
  private readonly series = new Set<string>();
  constructor(private readonly d: GroupIsolationDeps) {
    this.now = d.now ?? Date.now;
  }

  /** The installation's repository ids for the policies' "owner/name"s (unknown names are left out). */
  private async repositoryIds(names: string[], cache: { repos?: Map<string, number> }): Promise<Set<number>> {
    cache.repos ??= await this.d.groups.installationRepositories();
    return new Set(names.map((n) => cache.repos!.get(n.toLowerCase())).filter((id): id is number => id !== undefined));
  }

  /**
   * Reads `groupId`'s settings and says why it is exposed ([] when not); null when GitHub cannot say
   * this round (the previous state is kept). `cache` is shared across one round.
   */
  async inspect(org: string, groupId: number, policies: readonly LabelPolicy[], cache: { repos?: Map<string, number> } = {}): Promise<ExposureReason[] | null> {
    try {
      const group = await this.d.groups.getGroup(org, groupId);
      if (!group) return null; // the sync reports a missing group already
      const allowed = allowedBy(policies);
      let repositoryIds: { admitted: number[]; allowed: Set<number> } | undefined;
      if (group.visibility === "selected" && allowed.repositories.length) {
        repositoryIds = { admitted: await this.d.groups.listGroupRepositories(org, groupId), allowed: await this.repositoryIds(allowed.repositories, cache) };
      }
      return exposureReasons(group, policies, repositoryIds);
    } catch (e) {
      this.d.logger.warn("sync: cannot read a runner group's access settings; its exposure is judged next round", { org, runner_group_id: groupId, reason: e instanceof BrokerError ? e.code : "error" });
      return null;
    }
  }

  /**
   * Records this round's findings: `found` by group (groups inspected this round), the others kept
   * as they were while a policy still names them. One security event when a group becomes exposed
   * (or exposed differently), one audit record and log line when it no longer is.
   */
  async record(org: string, found: Map<number, ExposureReason[]>, groups: readonly number[]): Promise<RunnerGroupExposure[]> {
    const { storage, metrics, logger } = this.d;
    const key = org.toLowerCase();
    const before = new Map((await storage.listRunnerGroupExposures()).filter((e) => e.org === key).map((e) => [e.runnerGroupId, e]));
    const next: RunnerGroupExposure[] = [];
    for (const group of groups) {
      const prev = before.get(group);
      const reasons = found.get(group);
      if (reasons === undefined) {
        if (prev) next.push(prev);
        continue;
      }
      if (!reasons.length) {
        if (prev) {
          await storage.appendAudit({ actor: SYSTEM, action: "sync.runner_group_isolated", result: "success", details: { org, runner_group_id: group, was: prev.reasons } });
          logger.info("sync: a runner group is isolated again", { org, runner_group_id: group, exposed_since: prev.since.toISOString() });
        }
        continue;
      }
      const same = prev && prev.reasons.join() === reasons.join();
      next.push({ org: key, runnerGroupId: group, reasons, since: same ? prev.since : new Date(this.now()) });
      if (same) continue;
      await storage.transaction(async (tx) => {
        await tx.recordSecurityEvent({ eventType: "runner_group_exposed", severity: "high", actionTaken: "reported", details: { org, runner_group_id: group, reasons } });
        await tx.appendAudit({ actor: SYSTEM, action: "sync.runner_group_exposed", result: "failure", details: { org, runner_group_id: group, reasons } });
      });
      logger.warn("sync: a runner group reaches more repositories or workflows than its policies name; fix its settings at GitHub (or set MANAGE_RUNNER_GROUPS=true)", { org, runner_group_id: group, reasons, why: explainExposure(reasons) });
    }
    await storage.setRunnerGroupExposures(key, next.map(({ org: _, ...e }) => e));
    // This organisation's series only: each organisation's sync records its own.
    const now = new Set<string>();
    for (const e of next) for (const reason of e.reasons) now.add(JSON.stringify([org, String(e.runnerGroupId), reason]));
    for (const s of new Set([...this.series, ...now])) {
      const [o, runner_group_id, reason] = JSON.parse(s) as [string, string, string];
      if (o !== org) continue;
      metrics.runnerGroupExposed.set({ org, runner_group_id, reason }, now.has(s) ? 1 : 0);
    }
    for (const s of now) this.series.add(s);
    return next;
  }

  /**
   * MANAGE_RUNNER_GROUPS: the group of `policy`, created when missing (found by its name first: a
   * replica that died after creating it), and set back to visibility selected, no public
   * repositories, the policy's repositories and workflows when it differs. Returns its id.
   */
  async ensureManaged(org: string, policy: LabelPolicy, cache: { repos?: Map<string, number>; groups?: RunnerGroupSettings[] } = {}, strict = false): Promise<number> {
    const name = managedGroupName(policy.userIdentity);
    if (strict) {
      // At a policy write: a repository the installation cannot see would silently not be admitted.
      cache.repos ??= await this.d.groups.installationRepositories();
      const i = (policy.repositories ?? []).findIndex((r) => !cache.repos!.has(r.toLowerCase()));
      if (i >= 0) {
        throw new BrokerError("invalid_request", `repositories[${i}]: the App's installation on ${org} cannot see "${policy.repositories![i]!.slice(0, 200)}": check the name, or add the repository to the installation`, { extensions: { field: `repositories[${i}]` } });
      }
    }
    const workflows = [...new Set(policy.workflows ?? [])].sort();
    const repositoryIds = [...(await this.repositoryIds(policy.repositories ?? [], cache))].sort((a, b) => a - b);
    const spec = { visibility: "selected" as const, allowsPublicRepositories: false as const, restrictedToWorkflows: workflows.length > 0, selectedWorkflows: workflows };
    cache.groups ??= await this.d.groups.listGroups(org);
    let group = cache.groups.find((g) => g.name === name);
    if (!group) {
      group = await this.d.groups.createGroup(org, { name, ...spec, selectedRepositoryIds: repositoryIds });
      cache.groups.push(group);
      await this.d.storage.appendAudit({ actor: SYSTEM, action: "runner_group.create", result: "success", details: { org, runner_group_id: group.id, name, user_identity: policy.userIdentity, repositories: policy.repositories ?? [], workflows } });
      this.d.logger.info("created a runner group for a policy (MANAGE_RUNNER_GROUPS)", { org, runner_group_id: group.id, name, user_identity: policy.userIdentity });
      return group.id;
    }
    const widened: string[] = [];
    if (group.visibility !== "selected") widened.push("visibility");
    if (group.allowsPublicRepositories) widened.push("allows_public_repositories");
    if (group.restrictedToWorkflows !== spec.restrictedToWorkflows || (spec.restrictedToWorkflows && [...group.selectedWorkflows].sort().join("\n") !== workflows.join("\n"))) widened.push("selected_workflows");
    if (widened.length) group = await this.d.groups.updateGroup(org, group.id, { name, ...spec });
    const admitted = await this.d.groups.listGroupRepositories(org, group.id);
    if (admitted.join() !== repositoryIds.join()) {
      await this.d.groups.setGroupRepositories(org, group.id, repositoryIds);
      widened.push("repositories");
    }
    if (widened.length) {
      await this.d.storage.transaction(async (tx) => {
        await tx.recordSecurityEvent({ eventType: "runner_group_exposed", severity: "high", userIdentity: policy.userIdentity, actionTaken: "settings_restored", details: { org, runner_group_id: group.id, changed: widened } });
        await tx.appendAudit({ actor: SYSTEM, action: "runner_group.restore", result: "success", details: { org, runner_group_id: group.id, changed: widened } });
      });
      this.d.logger.warn("sync: someone changed a runner group the broker manages; its settings are set back (MANAGE_RUNNER_GROUPS)", { org, runner_group_id: group.id, changed: widened });
    }
    return group.id;
  }

  /**
   * MANAGE_RUNNER_GROUPS, each sync round: every policy's group kept as it should be, and a policy
   * that names another group moved onto its own (audited). A policy whose group cannot be kept this
   * round is left as it is (logged); the next round tries again.
   */
  async manageAll(org: string, policies: readonly LabelPolicyRecord[]): Promise<void> {
    const cache: { repos?: Map<string, number>; groups?: RunnerGroupSettings[] } = {};
    for (const p of policies) {
      try {
        const id = await this.ensureManaged(org, p, cache);
        if (id === p.runnerGroupId) continue;
        const { createdAt: _c, updatedAt: _u, ...policy } = p;
        await this.d.storage.transaction(async (tx) => {
          await tx.putLabelPolicy({ ...policy, runnerGroupId: id });
          await tx.appendAudit({ actor: SYSTEM, action: "policy.runner_group_managed", result: "success", details: { user_identity: p.userIdentity, from: p.runnerGroupId, to: id } });
        });
      } catch (e) {
        this.d.logger.warn("sync: cannot keep a policy's runner group (MANAGE_RUNNER_GROUPS); next round tries again", { org, user_identity: p.userIdentity, reason: e instanceof BrokerError ? e.message : "error" });
      }
    }
  }
}
