// Migration 4: GitHub webhook deliveries (issue 20). Never edit once released; add a new number.
//
// webhook_deliveries: one row per X-GitHub-Delivery GUID the broker accepted, so a replayed GUID is
// refused; the few fields processing needs (never the payload, never a signature or the secret);
// processed_at is set in the same transaction as the runner change the delivery caused.
// webhook_redeliveries: one row per GUID the broker asked GitHub to redeliver, so it asks once.
// Same conventions as migration 1: times are BIGINT milliseconds (UTC) from the broker's clock.
import type { Migration } from "./index.ts";

const template = `
CREATE TABLE webhook_deliveries (
  guid             TEXT    PRIMARY KEY CHECK (length(guid) BETWEEN 1 AND 64),
  event            TEXT    NOT NULL,
  action           TEXT,
  workflow_job_id  {int},
  runner_id        {int},
  runner_name      TEXT,
  runner_group_id  {int},
  received_at      {int} NOT NULL,
  processed_at     {int},
  outcome          TEXT
);
CREATE INDEX webhook_deliveries_unprocessed ON webhook_deliveries (processed_at, received_at);
CREATE INDEX webhook_deliveries_job ON webhook_deliveries (workflow_job_id, action);

CREATE TABLE webhook_redeliveries (
  guid                TEXT    PRIMARY KEY CHECK (length(guid) BETWEEN 1 AND 64),
  github_delivery_id  {int} NOT NULL,
  requested_at        {int} NOT NULL,
  result              TEXT    NOT NULL
);
`;

const TYPES: Record<"sqlite" | "postgres", Record<"int", string>> = {
  sqlite: { int: "INTEGER" },
  postgres: { int: "BIGINT" },
};

function render(dialect: "sqlite" | "postgres"): string {
  const out = template.replace(/\{(\w+)\}/g, (_, type: string) => {
    const t = TYPES[dialect][type as "int"];
    if (!t) throw new Error(`migration 4: unknown column type {${type}}`);
    return t;
  });
  return out;
}

export const migration0004: Migration = { version: 4, name: "webhook-deliveries", sqlite: render("sqlite"), postgres: render("postgres") };
