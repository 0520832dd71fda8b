// The broker's schema migrations, numbered from 1, applied in order by ../migrate.ts and recorded
// in schema_migrations. A migration is never edited after it was released (a database that ran it
// would differ from one that runs the edited text): change the schema with a new, higher number.
import { migration0001 } from "./0001-initial.ts";
import { migration0002 } from "./0002-security-event-counts.ts";
import { migration0003 } from "./0003-sync-group-failures.ts";
import { migration0004 } from "./0004-webhook-deliveries.ts";
import { migration0005 } from "./0005-trust-policies.ts";
import { migration0006 } from "./0006-runner-group-isolation.ts";
import { migration0007 } from "./0007-organisations.ts";
import { migration0008 } from "./0008-runner-group-exposures-by-org.ts";

export interface Migration {
  version: number;
  /** A few words, recorded beside the version. */
  name: string;
  /** The statements for each dialect (a migration file renders both from one text); each migration runs in one transaction. */
  sqlite: string;
  postgres: string;
}

export const MIGRATIONS: readonly Migration[] = [migration0001, migration0002, migration0003, migration0004, migration0005, migration0006, migration0007, migration0008];
