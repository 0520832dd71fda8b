// Runners as a service: provision (JIT config or registration token), list, get, refresh and
// remove, for one caller at a time. Authorization is explicit here: a caller sees and touches only
// the runners it provisioned, and anyone else's runner is "not found", exactly as a missing one.
// Every outcome is audited, and every refusal by policy or quota is also a security event, in the
// same transaction as the change it describes. The secret handed out (JIT config, registration
// token) is returned once and only its SHA-256 is kept. Knows nothing of HTTP.
import { createHash } from "node:crypto";
import { BrokerError } from "../errors.ts";
import type { GitHubRunner, GitHubRunnerApi } from "../github-runners.ts";
import type { BrokerDeps } from "./deps.ts";
import { checkLabels } from "../policy.ts";
import type { RunnerMode, RunnerRecord, RunnerStatus, Storage } from "../storage/storage.ts";

export interface ProvisionRequest {
  runnerName: string;
  labels: string[];
  ephemeral: boolean;
  mode: RunnerMode;
}

export type ProvisionResult = {
  runner: RunnerRecord;
  runnerUrl: string;
} & ({ mode: "jit"; encodedJitConfig: string } | { mode: "registration_token"; registrationToken: string; expiresAt: string });

export const sha256 = (secret: string) => createHash("sha256").update(secret).digest("hex");

const RECORDED_LABELS = 20;

/** A label list for an audit record or security event: its first RECORDED_LABELS, and how many there were when more. */
function bounded(key: string, labels: string[]): Record<string, unknown> {
  return labels.length <= RECORDED_LABELS ? { [key]: labels } : { [key]: labels.slice(0, RECORDED_LABELS), [`${key}_count`]: labels.length };
}

/** The broker status a GitHub runner is in; a runner that never came online stays pending. */
export function statusFromGitHub(r: GitHubRunner, current: RunnerStatus): RunnerStatus {
  if (r.online) return r.busy ? "busy" : "active";
  return current === "pending" ? "pending" : "offline";
}

export interface RunnerServiceDeps extends BrokerDeps {
  githubUrl: string;
  org: string;
}

export class RunnerService {
  constructor(private readonly d: RunnerServiceDeps) {}

  /**
   * Records a refusal (audit + security event, one transaction) and returns the error to throw.
   * Label lists are recorded up to RECORDED_LABELS each, with their full count: 100 labels of 100
   * characters, twice (asked and refused), would pass the storage's bound on a record's details.
   */
  private async refuse(identity: string, req: ProvisionRequest, eventType: string, error: BrokerError, details: { refused_labels?: string[] } = {}): Promise<BrokerError> {
    const recorded = { ...bounded("labels", req.labels), mode: req.mode, ...(details.refused_labels ? bounded("refused_labels", details.refused_labels) : {}) };
    await this.d.storage.transaction(async (tx) => {
      await tx.appendAudit({ actor: identity, action: "runner.provision", result: "denied", runnerName: req.runnerName, details: { reason: eventType, ...recorded } });
      await tx.recordSecurityEvent({ eventType, severity: "medium", userIdentity: identity, runnerName: req.runnerName, actionTaken: "request_refused", details: recorded });
    });
    this.d.metrics.provisions.inc({ mode: req.mode, result: eventType });
    return error;
  }

  async provision(identity: string, req: ProvisionRequest): Promise<ProvisionResult> {
    // GitHub gives a JIT runner exactly one job, so a JIT runner is ephemeral by nature.
    if (req.mode === "jit" && !req.ephemeral) {
      throw new BrokerError("invalid_request", "ephemeral: a JIT runner is always ephemeral (GitHub gives it one job); use mode registration_token for a long-lived runner", { extensions: { field: "ephemeral" } });
    }
    const policy = await this.d.policies.effective(identity);
    if (!policy) throw await this.refuse(identity, req, "no_policy", new BrokerError("policy_denied", "no label policy applies to this identity and there is no default (\"*\") policy: ask an administrator for one"));
    if (req.mode === "registration_token" && !policy.source.allowRegistrationToken) {
      throw await this.refuse(identity, req, "registration_token_not_allowed", new BrokerError("policy_denied", "this identity's policy does not allow registration tokens (allow_registration_token): use mode jit"));
    }
    const decision = checkLabels(policy, req.labels);
    if (!decision.ok) {
      throw await this.refuse(identity, req, "label_not_allowed", new BrokerError("policy_denied", `labels not allowed by this identity's policy: ${decision.refused.join(", ")}`, { extensions: { refused_labels: decision.refused } }), { refused_labels: decision.refused });
    }
    const groupId = policy.source.runnerGroupId;
    await this.d.baseline.ensure(groupId);

    const reserved = await this.d.storage.transaction(async (tx) => {
      const r = await tx.reserveRunner({ name: req.runnerName, provisionedBy: identity, labels: decision.labels, ephemeral: req.ephemeral, mode: req.mode, runnerGroupId: groupId, maxRunners: policy.source.maxRunners });
      if (!r.ok && r.reason === "quota_exceeded") {
        const details = { reason: "quota_exceeded", held: r.held, max_runners: policy.source.maxRunners, labels: req.labels, mode: req.mode };
        await tx.appendAudit({ actor: identity, action: "runner.provision", result: "denied", runnerName: req.runnerName, details });
        await tx.recordSecurityEvent({ eventType: "quota_exceeded", severity: "low", userIdentity: identity, runnerName: req.runnerName, actionTaken: "request_refused", details });
      } else if (!r.ok) {
        await tx.appendAudit({ actor: identity, action: "runner.provision", result: "denied", runnerName: req.runnerName, details: { reason: "name_taken" } });
      }
      return r;
    });
    if (!reserved.ok) {
      this.d.metrics.provisions.inc({ mode: req.mode, result: reserved.reason });
      if (reserved.reason === "quota_exceeded") throw new BrokerError("quota_exceeded", `this identity already holds ${reserved.held} runners, its policy's max_runners is ${policy.source.maxRunners}: remove one first`);
      throw new BrokerError("name_taken", `a runner named "${req.runnerName}" exists already: choose another runner_name`);
    }
    const runner = reserved.runner;
    const runnerUrl = `${this.d.githubUrl}/${this.d.org}`;
    try {
      if (req.mode === "jit") {
        // GitHub registers a JIT runner with exactly these labels and adds none of its read-only
        // ones (self-hosted, OS, architecture), so they are sent as the caller asked, spelling kept:
        // https://docs.github.com/rest/actions/self-hosted-runners#create-configuration-for-a-just-in-time-runner-for-an-organization
        const input = { name: req.runnerName, runnerGroupId: groupId, labels: decision.labels };
        const answer = await this.d.github.generateJitConfig(input).catch(async (e) => {
          if (!(e instanceof BrokerError && e.code === "name_taken") || !(await this.removeOwnOrphan(identity, req.runnerName, groupId))) throw e;
          return this.d.github.generateJitConfig(input);
        });
        const secretSha256 = sha256(answer.encodedJitConfig);
        const updated = await this.d.storage.transaction(async (tx) => {
          const u = await tx.updateRunner(runner.id, { githubRunnerId: answer.runner.id, labels: answer.runner.labels, secretSha256 });
          await tx.appendAudit({ actor: identity, action: "runner.provision", result: "success", runnerName: req.runnerName, githubRunnerId: answer.runner.id, details: { mode: "jit", labels: answer.runner.labels, runner_group_id: groupId, secret_sha256: secretSha256 } });
          return u!;
        });
        this.d.metrics.provisions.inc({ mode: req.mode, result: "success" });
        return { mode: "jit", runner: updated, runnerUrl, encodedJitConfig: answer.encodedJitConfig };
      }
      const answer = await this.d.github.createRegistrationToken();
      const secretSha256 = sha256(answer.token);
      const updated = await this.d.storage.transaction(async (tx) => {
        const u = await tx.updateRunner(runner.id, { secretSha256 });
        await tx.appendAudit({ actor: identity, action: "runner.provision", result: "success", runnerName: req.runnerName, details: { mode: "registration_token", labels: decision.labels, ephemeral: req.ephemeral, runner_group_id: groupId, secret_sha256: secretSha256, expires_at: answer.expiresAt } });
        return u!;
      });
      this.d.metrics.provisions.inc({ mode: req.mode, result: "success" });
      return { mode: "registration_token", runner: updated, runnerUrl, registrationToken: answer.token, expiresAt: answer.expiresAt };
    } catch (e) {
      // Nothing was handed out: free the name and the quota again.
      await this.d.storage.transaction(async (tx) => {
        await tx.updateRunner(runner.id, { status: "deleted" });
        await tx.appendAudit({ actor: identity, action: "runner.provision", result: "failure", runnerName: req.runnerName, details: { reason: e instanceof BrokerError ? e.code : "error", mode: req.mode } });
      });
      this.d.metrics.provisions.inc({ mode: req.mode, result: e instanceof BrokerError ? e.code : "error" });
      throw e;
    }
  }

  /**
   * GitHub says the name exists, yet the database had it free. When the runner of that name sits in
   * this broker group and is not pre-existing, it is the leftover of this very provision: GitHub
   * created it, its answer was lost (a timeout), and the client's retry met the name. Its JIT config
   * was never handed out, so it is removed and the provision tried once more. Returns whether it was.
   */
  private async removeOwnOrphan(identity: string, name: string, groupId: number): Promise<boolean> {
    const gh = await this.d.github.findRunnerByName(name);
    if (!gh || gh.runnerGroupId !== groupId || gh.online || (await this.d.storage.isPreexistingRunner(gh.id))) return false;
    await this.d.github.deleteRunner(gh.id);
    await this.d.storage.appendAudit({ actor: identity, action: "runner.provision_retry", result: "success", runnerName: name, githubRunnerId: gh.id, details: { reason: "answer_lost_runner_removed" } });
    return true;
  }

  list(identity: string, status?: RunnerStatus): Promise<RunnerRecord[]> {
    return this.d.storage.listRunners({ provisionedBy: identity, ...(status ? { status } : {}), ...(status === "deleted" ? { includeDeleted: true } : {}), limit: 1000 });
  }

  /** The caller's runner by name; anyone else's is "not found", exactly like a missing one. */
  async get(identity: string, name: string, action = "runner.get"): Promise<RunnerRecord> {
    const r = await this.d.storage.getRunnerByName(name);
    if (r && r.provisionedBy !== identity) {
      // Someone else's runner: recorded, and answered exactly as a missing one.
      await this.d.storage.transaction(async (tx) => {
        await tx.appendAudit({ actor: identity, action, result: "denied", runnerName: name, details: { reason: "not_owner" } });
        await tx.recordSecurityEvent({ eventType: "foreign_runner_access", severity: "low", userIdentity: identity, runnerName: name, actionTaken: "answered_not_found", details: { action } });
      });
    }
    if (!r || r.provisionedBy !== identity) throw new BrokerError("not_found", `no runner named "${name}"`);
    return r;
  }

  async refresh(identity: string, name: string): Promise<RunnerRecord> {
    const r = await this.get(identity, name, "runner.refresh");
    const gh = r.githubRunnerId !== null ? await this.d.github.getRunner(r.githubRunnerId) : await this.d.github.findRunnerByName(r.name);
    const patch = gh
      ? { githubRunnerId: gh.id, labels: gh.labels, status: statusFromGitHub(gh, r.status), lastSeenAt: new Date() }
      : r.githubRunnerId !== null
        ? { status: "deleted" as const }
        : {};
    return this.d.storage.transaction(async (tx) => {
      const u = (await tx.updateRunner(r.id, patch)) ?? r;
      await tx.appendAudit({ actor: identity, action: "runner.refresh", result: "success", runnerName: r.name, githubRunnerId: u.githubRunnerId, details: { status: u.status, seen_at_github: !!gh } });
      return u;
    });
  }

  async remove(identity: string, name: string): Promise<void> {
    const r = await this.get(identity, name, "runner.deprovision");
    try {
      await removeAtGitHub(this.d.github, r);
    } catch (e) {
      await this.d.storage.appendAudit({ actor: identity, action: "runner.deprovision", result: e instanceof BrokerError && e.code === "runner_busy" ? "denied" : "failure", runnerName: r.name, githubRunnerId: r.githubRunnerId, details: { reason: e instanceof BrokerError ? e.code : "error" } });
      throw e;
    }
    await this.d.storage.transaction(async (tx) => {
      await tx.updateRunner(r.id, { status: "deleted" });
      await tx.appendAudit({ actor: identity, action: "runner.deprovision", result: "success", runnerName: r.name, githubRunnerId: r.githubRunnerId });
    });
  }
}

/** Removes a broker runner at GitHub: by id, or (registration token, id not yet linked) by name. */
export async function removeAtGitHub(github: GitHubRunnerApi, r: RunnerRecord): Promise<void> {
  let id = r.githubRunnerId;
  if (id === null) {
    const found = await github.findRunnerByName(r.name);
    if (found && found.runnerGroupId !== undefined && found.runnerGroupId !== r.runnerGroupId) return;
    id = found?.id ?? null;
  }
  if (id !== null) await github.deleteRunner(id);
}

