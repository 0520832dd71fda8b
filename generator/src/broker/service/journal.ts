// Reading the audit log and the security events, and recording what happens before a service is
// reached: an authenticated caller refused (admin route, rate limit) is audited and, for admin
// routes, a security event; an unauthenticated failure is only counted, in memory and metrics,
// and added to per-minute aggregate rows, so a flood of junk tokens cannot fill the database.
import type { AuditFilter, AuditRecord, SecurityEventFilter, SecurityEventRecord, Storage } from "../storage/storage.ts";
import type { AuthFailureReason } from "../oidc.ts";
import type { OwnerRefusal } from "../owner-binding.ts";

export class Journal {
  private pending = new Map<string, number>();
  private ownerRefusals = new Set<string>();
  private ownerRefusalsMinute = 0;

  constructor(private readonly storage: Storage) {}

  listAudit(filter: AuditFilter): Promise<AuditRecord[]> {
    return this.storage.listAudit(filter);
  }

  listSecurityEvents(filter: SecurityEventFilter): Promise<SecurityEventRecord[]> {
    return this.storage.listSecurityEvents(filter);
  }

  async adminForbidden(identity: string, route: string): Promise<void> {
    await this.storage.transaction(async (tx) => {
      await tx.appendAudit({ actor: identity, action: "request.denied", result: "denied", details: { reason: "not_admin", route } });
      await tx.recordSecurityEvent({ eventType: "admin_forbidden", severity: "medium", userIdentity: identity, actionTaken: "request_refused", details: { route } });
    });
  }

  /** An authenticated request refused for its content (invalid body, unknown resource). */
  async refused(identity: string, route: string, reason: string): Promise<void> {
    await this.storage.appendAudit({ actor: identity, action: "request.denied", result: "denied", details: { reason, route } });
  }

  async rateLimited(identity: string, route: string): Promise<void> {
    await this.storage.appendAudit({ actor: identity, action: "request.denied", result: "denied", details: { reason: "rate_limited", route } });
  }

  /**
   * A verified token refused for its repository owner: a security event naming the claim (never the
   * token). Strangers' identities cost them nothing, so one identity's refusals for one reason are
   * recorded once a minute (the rest are counted in metrics only).
   */
  async ownerRefused(identity: string, refusal: OwnerRefusal, now: number = Date.now()): Promise<void> {
    const minute = Math.floor(now / 60_000);
    if (minute !== this.ownerRefusalsMinute) {
      this.ownerRefusalsMinute = minute;
      this.ownerRefusals.clear();
    }
    const key = `${refusal.claim}\u0000${refusal.reason}\u0000${identity}`;
    if (this.ownerRefusals.has(key)) return;
    this.ownerRefusals.add(key);
    await this.storage.recordSecurityEvent({ eventType: "repository_owner_refused", severity: "medium", userIdentity: identity, actionTaken: "request_refused", details: { ...refusal } });
  }

  /** Counts one unauthenticated failure; written in aggregate by flush(). */
  countUnauthenticated(reason: AuthFailureReason): void {
    this.pending.set(reason, (this.pending.get(reason) ?? 0) + 1);
  }

  /** Counts one refused webhook delivery (unsigned, bad signature, replayed, too large); written in aggregate by flush(). */
  countWebhookRefusal(reason: "webhook_unsigned" | "webhook_bad_signature" | "webhook_replayed" | "webhook_too_large"): void {
    this.pending.set(reason, (this.pending.get(reason) ?? 0) + 1);
  }

  async flush(): Promise<void> {
    if (this.pending.size === 0) return;
    const counts = [...this.pending].map(([reason, count]) => ({ reason, count }));
    this.pending = new Map();
    await this.storage.addUnauthenticatedFailures(counts);
  }
}
