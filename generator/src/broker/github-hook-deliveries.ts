// The App's webhook delivery log at GitHub, with the App's JWT (not an installation token):
// - GET  /app/hook/deliveries?per_page=100  newest first, cursor paging through Link rel="next"
//   https://docs.github.com/rest/apps/webhooks#list-deliveries-for-an-app-webhook
// - POST /app/hook/deliveries/{delivery_id}/attempts  202: GitHub sends the delivery again, with
//   the same X-GitHub-Delivery GUID
//   https://docs.github.com/rest/apps/webhooks#redeliver-a-delivery-for-an-app-webhook
// Answers are checked for shape and bounded; GitHub's own messages are never passed on.
import { z } from "zod";
import type { Auth, GitHubClient } from "../core/github-client.ts";
import { mapError } from "./github-runners.ts";

const DeliveryItem = z.object({
  id: z.number().int().positive(),
  guid: z.string().min(1).max(64),
  delivered_at: z.string().max(64),
  redelivery: z.boolean(),
  status: z.string().max(256),
  status_code: z.number().int(),
  event: z.string().max(64),
  action: z.string().max(64).nullable().optional(),
});

export interface HookDelivery {
  id: number;
  guid: string;
  deliveredAt: Date;
  redelivery: boolean;
  /** GitHub's rule: a delivery whose status is not "OK" failed (docs: handling failed webhook deliveries). */
  ok: boolean;
  statusCode: number;
  event: string;
  action: string | null;
}

export interface HookDeliveryApi {
  /** Pages of deliveries, newest first, until `onPage` returns false or there are no more (at most `maxPages`). */
  list(onPage: (deliveries: HookDelivery[]) => boolean, maxPages: number): Promise<void>;
  redeliver(id: number): Promise<void>;
}

export class GitHubHookDeliveries implements HookDeliveryApi {
  constructor(
    private readonly client: GitHubClient,
    private readonly auth: Auth,
    private readonly apiUrl: string,
  ) {}

  async list(onPage: (deliveries: HookDelivery[]) => boolean, maxPages: number): Promise<void> {
    let next: string | undefined = "/app/hook/deliveries?per_page=100";
    try {
      for (let page = 0; next && page < maxPages; page++) {
        const res: { data: unknown; headers: Headers } = await this.client.request<unknown>("GET", next, this.auth);
        const items = z.array(z.unknown()).max(100).parse(res.data);
        const deliveries: HookDelivery[] = [];
        for (const raw of items) {
          const d = DeliveryItem.safeParse(raw);
          const at = d.success ? Date.parse(d.data.delivered_at) : NaN;
          if (!d.success || !Number.isFinite(at)) continue;
          deliveries.push({ id: d.data.id, guid: d.data.guid, deliveredAt: new Date(at), redelivery: d.data.redelivery, ok: d.data.status === "OK", statusCode: d.data.status_code, event: d.data.event, action: d.data.action ?? null });
        }
        if (!onPage(deliveries)) return;
        const link = /<([^>]+)>;\s*rel="next"/.exec(res.headers.get("link") ?? "")?.[1];
        next = link?.startsWith(this.apiUrl) ? link.slice(this.apiUrl.length) : undefined;
      }
    } catch (e) {
      throw mapError(e, "list the App's webhook deliveries");
    }
  }

  async redeliver(id: number): Promise<void> {
    try {
      await this.client.request<unknown>("POST", `/app/hook/deliveries/${id}/attempts`, this.auth);
    } catch (e) {
      throw mapError(e, "redeliver a webhook delivery");
    }
  }
}
