// Runners as a service: provision (JIT config or registration token), list, get, refresh and
// remove, for one caller at a time. Authorization is explicit here: a caller sees and touches only
// the runners it provisioned, and anyone else's runner is "not found", exactly as a missing one.
// Every outcome is audited, and every refusal by policy or quota is also a security event, in the
// same transaction as the change it describes. The secret handed out (JIT config, registration
// token) is returned once and only its SHA-256 is kept. Knows nothing of HTTP.
import { createHash, randomBytes } from "node:crypto";
import { BrokerError, nameNotAvailable } from "../errors.ts";
import type { GitHubRunner, GitHubRunnerApi } from "../github-runners.ts";
import type { BrokerDeps } from "./deps.ts";
import { checkLabels } from "../policy.ts";
import type { RunnerMode, RunnerRecord, RunnerStatus, Storage } from "../storage/storage.ts";

export interface ProvisionRequest {
  /** the runner's name; with `runnerNamePrefix`, the broker picks it (prefix + random suffix) and this is ignored */
  runnerName: string;
  runnerNamePrefix?: string;
  labels: string[];
  ephemeral: boolean;
  mode: RunnerMode;
  /** the organisation the caller means; must be its policy's */
  org?: string;
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

/** Characters the broker appends to a runner_name_prefix, and how many names it tries before giving up. */
export const NAME_SUFFIX_LENGTH = 8;
const NAME_ATTEMPTS = 5;
const SUFFIX_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789";

/** 8 random lowercase letters and digits (36^8, about 2.8e12: a collision is a retry, not a failure). */
export function randomNameSuffix(): string {
  return [...randomBytes(NAME_SUFFIX_LENGTH)].map((b) => SUFFIX_ALPHABET[b % SUFFIX_ALPHABET.length]).join("");
}

/** A name from a prefix: `ci-` + suffix, or `ci` + `-` + suffix, as actions-runner-controller names its runners. */
export function nameFromPrefix(prefix: string, suffix: string): string {
  return /[-_.]$/.test(prefix) ? `${prefix}${suffix}` : `${prefix}-${suffix}`;
}

/** The broker status a GitHub runner is in; a runner that never came online stays pending. */
export function statusFromGitHub(r: GitHubRunner, current: RunnerStatus): RunnerStatus {
  if (r.online) return r.busy ? "busy" : "active";
  return current === "pending" ? "pending" : "offline";
}

export interface RunnerServiceDeps extends BrokerDeps {
  githubUrl: string;
  /** the organisation of a policy that names none (the only one, or the first of GITHUB_ORGS) */
  org: string;
  /**
   * GitHub and the baseline of each organisation (GITHUB_ORGS), by lower-case login; without it
   * every runner is in `org` and goes through `github`.
   */
  orgs?: ReadonlyMap<string, OrgGitHub>;
  /** the suffix appended to a runner_name_prefix (injectable: tests make names collide) */
  nameSuffix?: () => string;
}

/** One organisation's side of GitHub: its runners (its own installation token) and its baseline. */
export interface OrgGitHub {
  org: string;
  github: GitHubRunnerApi;
  baseline: BrokerDeps["baseline"];
}

export class RunnerService {
  constructor(private readonly d: RunnerServiceDeps) {}

  /** The organisation a policy or runner belongs to ("" or unnamed: the default one), and its GitHub. */
  private at(org: string | undefined): OrgGitHub & { storage: Storage } {
    const name = org || this.d.org;
    const one = this.d.orgs?.get(name.toLowerCase());
    if (one) return { ...one, storage: this.d.storage };
    if (this.d.orgs && name.toLowerCase() !== this.d.org.toLowerCase()) {
      // A policy or runner of an organisation the broker no longer serves (removed from GITHUB_ORGS).
      throw new BrokerError("github_misconfigured", `organisation ${name} is not in GITHUB_ORGS: add it back, or move the policy to a listed organisation`);
    }
    return { org: name, github: this.d.github, baseline: this.d.baseline, storage: this.d.storage };
  }

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

  /**
   * Provisions under the caller's runner_name, or, with runner_name_prefix, under a name the broker
   * picks: the prefix and a random suffix, tried again with a new suffix while the name is taken.
   */
  async provision(identity: string, req: ProvisionRequest): Promise<ProvisionResult> {
    if (req.runnerNamePrefix === undefined) return this.provisionNamed(identity, req);
    const suffix = this.d.nameSuffix ?? randomNameSuffix;
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.provisionNamed(identity, { ...req, runnerName: nameFromPrefix(req.runnerNamePrefix, suffix()) });
      } catch (e) {
        if (!(e instanceof BrokerError && e.code === "name_taken") || attempt >= NAME_ATTEMPTS) throw e;
      }
    }
  }

  private async provisionNamed(identity: string, req: ProvisionRequest): Promise<ProvisionResult> {
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
    const at = this.at(policy.source.org);
    const org = at.org;
    if (req.org !== undefined && req.org.toLowerCase() !== org.toLowerCase()) {
      throw await this.refuse(identity, req, "org_not_allowed", new BrokerError("policy_denied", `this identity's policy gives runners in organisation ${org}, not ${req.org}: leave org out, or ask an administrator for a policy in ${req.org}`));
    }
    await at.baseline.ensure(groupId);

    const reserved = await this.d.storage.transaction(async (tx) => {
      const r = await tx.reserveRunner({ name: req.runnerName, provisionedBy: identity, labels: decision.labels, ephemeral: req.ephemeral, mode: req.mode, runnerGroupId: groupId, org, maxRunners: policy.source.maxRunners });
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
      throw nameNotAvailable(req.runnerName);
    }
    const runner = reserved.runner;
    const runnerUrl = `${this.d.githubUrl}/${org}`;
    try {
      if (req.mode === "jit") {
        // GitHub registers a JIT runner with exactly these labels and adds none of its read-only
        // ones (self-hosted, OS, architecture), so they are sent as the caller asked, spelling kept:
        // https://docs.github.com/rest/actions/self-hosted-runners#create-configuration-for-a-just-in-time-runner-for-an-organization
        const input = { name: req.runnerName, runnerGroupId: groupId, labels: decision.labels };
        const answer = await at.github.generateJitConfig(input).catch(async (e) => {
          if (!(e instanceof BrokerError && e.code === "name_taken") || !(await this.removeOwnOrphan(identity, runner))) throw e;
          return at.github.generateJitConfig(input);
        });
        const secretSha256 = sha256(answer.encodedJitConfig);
        const updated = await this.d.storage.transaction(async (tx) => {
          const u = await tx.updateRunner(runner.id, { githubRunnerId: answer.runner.id, labels: answer.runner.labels, secretSha256 });
          await tx.appendAudit({ actor: identity, action: "runner.provision", result: "success", runnerName: req.runnerName, githubRunnerId: answer.runner.id, details: { mode: "jit", labels: answer.runner.labels, runner_group_id: groupId, org, secret_sha256: secretSha256 } });
          return u!;
        });
        this.d.metrics.provisions.inc({ mode: req.mode, result: "success", org });
        return { mode: "jit", runner: updated, runnerUrl, encodedJitConfig: answer.encodedJitConfig };
      }
      // Runner names are unique in the org at GitHub. A JIT call meets a taken name itself (409); a
      // registration token does not, so the name is checked here: a record under the name of a
      // runner that exists would otherwise be a handle on someone else's runner.
      if (await at.github.findRunnerByName(req.runnerName)) throw nameNotAvailable(req.runnerName);
      const answer = await at.github.createRegistrationToken();
      const secretSha256 = sha256(answer.token);
      const updated = await this.d.storage.transaction(async (tx) => {
        const u = await tx.updateRunner(runner.id, { secretSha256 });
        await tx.appendAudit({ actor: identity, action: "runner.provision", result: "success", runnerName: req.runnerName, details: { mode: "registration_token", labels: decision.labels, ephemeral: req.ephemeral, runner_group_id: groupId, org, secret_sha256: secretSha256, expires_at: answer.expiresAt } });
        return u!;
      });
      this.d.metrics.provisions.inc({ mode: req.mode, result: "success", org });
      return { mode: "registration_token", runner: updated, runnerUrl, registrationToken: answer.token, expiresAt: answer.expiresAt };
    } catch (e) {
      // Nothing was handed out: free the name and the quota again.
      await this.d.storage.transaction(async (tx) => {
        await tx.updateRunner(runner.id, { status: "deleted" });
        await tx.appendAudit({ actor: identity, action: "runner.provision", result: "failure", runnerName: req.runnerName, details: { reason: e instanceof BrokerError ? e.code : "error", mode: req.mode } });
      });
      this.d.metrics.provisions.inc({ mode: req.mode, result: e instanceof BrokerError ? e.code : "error", org });
      throw e;
    }
  }

  /**
   * GitHub says the name exists, yet the database had it free. When the runner of that name is one
   * this record may be linked to (linkableRunner: in its group, not pre-existing, held by no other
   * record) and is offline, it is the leftover of this very provision: GitHub created it,
   * its answer was lost (a timeout), and the client's retry met the name. Its JIT config was never
   * handed out, so it is removed and the provision tried once more. Returns whether it was.
   */
  private async removeOwnOrphan(identity: string, record: RunnerRecord): Promise<boolean> {
    const at = this.at(record.org);
    const gh = await linkableRunner(at, record);
    if (!gh || gh.online) return false;
    await at.github.deleteRunner(gh.id);
    await this.d.storage.appendAudit({ actor: identity, action: "runner.provision_retry", result: "success", runnerName: record.name, githubRunnerId: gh.id, details: { reason: "answer_lost_runner_removed" } });
    return true;
  }

  /** The caller's runners; with `org`, those in that organisation only. */
  list(identity: string, status?: RunnerStatus, org?: string): Promise<RunnerRecord[]> {
    return this.d.storage.listRunners({ provisionedBy: identity, ...(status ? { status } : {}), ...(status === "deleted" ? { includeDeleted: true } : {}), ...(org ? { org: this.orgName(org) } : {}), limit: 1000 });
  }

  /** An organisation as the broker spells it (GITHUB_ORGS), or the caller's text when it serves no such organisation. */
  private orgName(org: string): string {
    return this.d.orgs?.get(org.toLowerCase())?.org ?? (org.toLowerCase() === this.d.org.toLowerCase() ? this.d.org : org);
  }

  /**
   * The caller's runner by name; anyone else's is "not found", exactly like a missing one. With
   * `org`, a runner in another organisation is "not found" too: a caller's runner in org A is never
   * reached through org B.
   */
  async get(identity: string, name: string, action = "runner.get", org?: string): Promise<RunnerRecord> {
    const found = await this.d.storage.getRunnerByName(name);
    const r = found && org && (found.org || this.d.org).toLowerCase() !== org.toLowerCase() ? null : found;
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

  async refresh(identity: string, name: string, org?: string): Promise<RunnerRecord> {
    const r = await this.get(identity, name, "runner.refresh", org);
    const at = this.at(r.org);
    const gh = r.githubRunnerId !== null ? await at.github.getRunner(r.githubRunnerId) : await linkableRunner(at, r);
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

  async remove(identity: string, name: string, org?: string): Promise<void> {
    const r = await this.get(identity, name, "runner.deprovision", org);
    try {
      await removeAtGitHub(this.at(r.org), r);
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

/**
 * The GitHub runner a record not yet linked to an id (a registration-token runner before the sync
 * saw it register, a JIT provision whose answer was lost) may be linked to by its name. Names are
 * the caller's choice, so a name alone proves nothing: a caller could provision a record under the
 * name of someone else's runner and then refresh or delete it. The runner must therefore be in the
 * record's own runner group (a broker group: the record was made under a policy naming it), not be
 * one that was there before the broker (the baseline), and not be held by another live record.
 * Anything else is "not at GitHub" for this record.
 */
export async function linkableRunner(d: { github: GitHubRunnerApi; storage: Storage }, r: RunnerRecord): Promise<GitHubRunner | null> {
  // The group's own list, not the org-wide search by name: GitHub may leave runner_group_id out of
  // the org-wide list, and a runner whose group is unknown must not be taken for one of ours.
  for (const gh of await d.github.listGroupRunners(r.runnerGroupId)) {
    if (gh.name !== r.name) continue;
    if (await d.storage.isPreexistingRunner(gh.id)) return null;
    const holder = await d.storage.getRunnerByGithubId(gh.id);
    if (holder && holder.id !== r.id && holder.status !== "deleted") return null;
    return gh;
  }
  return null;
}

/** Removes a broker runner at GitHub: by id, or (id not yet linked) the runner linkableRunner finds, if any. */
export async function removeAtGitHub(d: { github: GitHubRunnerApi; storage: Storage }, r: RunnerRecord): Promise<void> {
  const id = r.githubRunnerId ?? (await linkableRunner(d, r))?.id ?? null;
  if (id !== null) await d.github.deleteRunner(id);
}

