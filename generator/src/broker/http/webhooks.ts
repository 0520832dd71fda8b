// POST /api/v1/webhooks/github: GitHub's deliveries to the App's webhook. Not behind the OIDC
// authentication (GitHub signs instead): mounted by app.ts before it. The body is read raw, at most
// WEBHOOK_MAX_BYTES, and handed to the service as bytes: verify, then parse. Without a configured
// secret (GITHUB_WEBHOOK_SECRET_FILE) the route answers exactly like an unknown one (404), never
// "accept unsigned".
import { bodyLimit } from "hono/body-limit";
import { z } from "@hono/zod-openapi";
import { BrokerError } from "../errors.ts";
import { WEBHOOK_MAX_BYTES, WorkflowJobPayload, type WebhookService } from "../service/webhooks.ts";
import { problemResponse } from "./problem.ts";
import { router } from "./router.ts";

export const WEBHOOK_PATH = "/api/v1/webhooks/github";

const Answer = z.object({ status: z.enum(["queued", "pong", "ignored"]), detail: z.string().optional() }).openapi("WebhookAnswer");
const header = (name: string, description: string, example: string) => ({ name, in: "header" as const, required: true, description, schema: { type: "string" as const, example } });

export function webhooksRouter(service: WebhookService | undefined) {
  const r = router();
  r.openAPIRegistry.registerPath({
    method: "post",
    path: "/github",
    tags: ["webhooks"],
    summary: "GitHub App webhook: workflow_job (queued, in_progress, completed) and ping",
    description:
      "Signed by GitHub (X-Hub-Signature-256, HMAC-SHA256 of the raw body with the App's webhook secret); no bearer token. " +
      "The signature is verified before the body is parsed; each X-GitHub-Delivery is acted on once; the work happens after the answer. " +
      `Bodies over ${WEBHOOK_MAX_BYTES / 1024} KiB are refused. Answers 404 when GITHUB_WEBHOOK_SECRET_FILE is not set.`,
    parameters: [
      header("X-Hub-Signature-256", "sha256= and the hex HMAC-SHA256 of the body", "sha256=0b1c…"),
      header("X-GitHub-Event", "workflow_job or ping (others are answered 202 and ignored)", "workflow_job"),
      header("X-GitHub-Delivery", "the delivery's GUID, shared by its redeliveries", "72d3162e-cc78-11e3-81ab-4c9367dc0958"),
    ],
    request: { body: { required: true, content: { "application/json": { schema: WorkflowJobPayload as never } } } },
    responses: {
      200: { description: "ping answered", content: { "application/json": { schema: Answer } } },
      202: { description: "accepted and queued (or ignored: another event or organisation)", content: { "application/json": { schema: Answer } } },
      401: problemResponse("no signature, or a signature that does not match"),
      404: problemResponse("webhooks are not configured (no GITHUB_WEBHOOK_SECRET_FILE)"),
      409: problemResponse("this X-GitHub-Delivery was received before (a replay)"),
      413: problemResponse(`the body is larger than ${WEBHOOK_MAX_BYTES / 1024} KiB`),
      422: problemResponse("signed, but not a delivery: headers or body malformed"),
    },
  });
  if (!service) {
    r.all("/github", () => {
      throw new BrokerError("not_found", "no such resource");
    });
    return r;
  }
  r.post(
    "/github",
    bodyLimit({
      maxSize: WEBHOOK_MAX_BYTES,
      onError: (c) => {
        service.tooLarge(c.req.header("x-github-event"));
        throw new BrokerError("payload_too_large", `the delivery is larger than ${WEBHOOK_MAX_BYTES / 1024} KiB`);
      },
    }),
    async (c) => {
      const body = new Uint8Array(await c.req.arrayBuffer());
      const answer = await service.receive({ signature: c.req.header("x-hub-signature-256"), event: c.req.header("x-github-event"), guid: c.req.header("x-github-delivery"), body });
      c.header("cache-control", "no-store");
      return c.json(answer.body, answer.status);
    },
  );
  r.all("/github", () => {
    throw new BrokerError("not_found", "no such resource");
  });
  return r;
}
