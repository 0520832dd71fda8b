// Trust policies as a service: create or replace, read, list, delete (each audited in the same
// transaction, like label policies), and the compiled policies of one issuer for the exchange.
// Knows nothing of HTTP.
//
// The exchange reads policies on every request (1,000 a second on a cache hit), so the compiled
// set is kept in memory and re-read from the database at most every `refreshMs` (default 5 s):
// a change made through this replica applies at once, one made through another replica within
// that time.
import { BrokerError } from "../errors.ts";
import type { Storage } from "../storage/storage.ts";
import { createHash } from "node:crypto";
import { compileTrustPolicy, recordedList, TrustPolicyError, trustPolicyAsJson, type CompiledTrustPolicy, type TrustPolicy, type TrustPolicyRecord } from "../trust-policy.ts";

export const TRUST_POLICY_REFRESH_MS = 5_000;
/** Trust policies a broker holds at most: each exchange of an issuer is matched against its policies. */
export const MAX_TRUST_POLICIES = 10_000;

export class TrustPolicyService {
  private compiled: { at: number; byIssuer: Map<string, CompiledTrustPolicy[]> } | undefined;
  private loading: Promise<Map<string, CompiledTrustPolicy[]>> | undefined;
  private readonly refreshMs: number;

  constructor(
    private readonly storage: Storage,
    private readonly o: { now?: () => number; refreshMs?: number } = {},
  ) {
    this.refreshMs = o.refreshMs ?? TRUST_POLICY_REFRESH_MS;
  }

  private now(): number {
    return (this.o.now ?? Date.now)();
  }

  /** Validates and compiles (TrustPolicyError → 422 naming the field), then stores and audits. */
  async put(actor: string, policy: TrustPolicy): Promise<{ created: boolean; policy: TrustPolicyRecord }> {
    try {
      compileTrustPolicy(policy);
    } catch (e) {
      if (e instanceof TrustPolicyError) throw new BrokerError("invalid_request", `${e.field}: ${e.message}`, { extensions: { field: e.field } });
      throw e;
    }
    const r = await this.storage.transaction(async (tx) => {
      const r = await tx.putTrustPolicy(policy);
      await tx.appendAudit({ actor, action: "trust_policy.put", result: "success", details: { name: policy.name, created: r.created, ...recordedPolicy(policy) } });
      return r;
    });
    this.compiled = undefined;
    return r;
  }

  list(): Promise<TrustPolicyRecord[]> {
    return this.storage.listTrustPolicies();
  }

  async get(name: string): Promise<TrustPolicyRecord> {
    const p = await this.storage.getTrustPolicy(name);
    if (!p) throw new BrokerError("not_found", `no trust policy named "${name.slice(0, 100)}"`);
    return p;
  }

  async delete(actor: string, name: string): Promise<void> {
    const deleted = await this.storage.transaction(async (tx) => {
      const ok = await tx.deleteTrustPolicy(name);
      if (ok) await tx.appendAudit({ actor, action: "trust_policy.delete", result: "success", details: { name } });
      return ok;
    });
    this.compiled = undefined;
    if (!deleted) throw new BrokerError("not_found", `no trust policy named "${name.slice(0, 100)}"`);
  }

  /** The compiled policies naming `issuer`, by name. */
  async forIssuer(issuer: string): Promise<CompiledTrustPolicy[]> {
    return (await this.all()).get(issuer) ?? [];
  }

  /** The audiences the policies of `issuer` name (empty: none names the issuer). */
  async audiencesOf(issuer: string): Promise<string[]> {
    return [...new Set((await this.forIssuer(issuer)).map((p) => p.source.audience))];
  }

  private async all(): Promise<Map<string, CompiledTrustPolicy[]>> {
    const c = this.compiled;
    if (c && this.now() - c.at < this.refreshMs) return c.byIssuer;
    this.loading ??= this.load().finally(() => (this.loading = undefined));
    return this.loading;
  }

  private async load(): Promise<Map<string, CompiledTrustPolicy[]>> {
    const at = this.now();
    const records = await this.storage.listTrustPolicies();
    const byIssuer = new Map<string, CompiledTrustPolicy[]>();
    for (const r of records.slice(0, MAX_TRUST_POLICIES)) {
      let compiled: CompiledTrustPolicy;
      try {
        compiled = compileTrustPolicy(r, r.updatedAt.toISOString());
      } catch {
        // Written by an older or newer broker with other rules: it grants nothing here.
        continue;
      }
      const list = byIssuer.get(r.issuer) ?? [];
      list.push(compiled);
      byIssuer.set(r.issuer, list);
    }
    this.compiled = { at, byIssuer };
    return byIssuer;
  }
}

/**
 * A policy as its audit record keeps it: whole when it fits the record's bound (16 KiB), else
 * with its repositories cut to the first RECORDED_ITEMS and, if still too large, only its SHA-256.
 */
export function recordedPolicy(p: TrustPolicy): Record<string, unknown> {
  const json = trustPolicyAsJson(p);
  const whole = JSON.stringify(json);
  if (whole.length <= 12_000) return { policy: json };
  const cut = { ...json, ...(Array.isArray(json.repositories) ? recordedList("repositories", json.repositories) : {}) };
  if (JSON.stringify(cut).length <= 12_000) return { policy: cut };
  return { policy_sha256: createHash("sha256").update(whole).digest("hex") };
}
