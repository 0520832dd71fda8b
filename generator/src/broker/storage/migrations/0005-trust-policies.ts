// Migration 5: trust policies, the token exchange's rules (trust-policy.ts). Released: never edit
// this file; add a higher number instead.
//
// A policy is data until compiled: the storage keeps its name, its issuer (indexed: the exchange
// looks policies up by the token's issuer) and the rest as JSON text, and the policy code alone
// decides what it means. Times are BIGINT milliseconds (UTC), as in migration 1. No column holds a
// token: installation tokens are never stored (docs/keyless.md), only their SHA-256 in audit_log.
import type { Migration } from "./index.ts";

const sql = (int: string) => `
CREATE TABLE trust_policies (
  name        TEXT   PRIMARY KEY CHECK (length(name) BETWEEN 1 AND 100),
  issuer      TEXT   NOT NULL,
  definition  TEXT   NOT NULL,
  created_at  ${int} NOT NULL,
  updated_at  ${int} NOT NULL
);
CREATE INDEX trust_policies_issuer ON trust_policies (issuer);
`;

export const migration0005: Migration = { version: 5, name: "trust policies", sqlite: sql("INTEGER"), postgres: sql("BIGINT") };
