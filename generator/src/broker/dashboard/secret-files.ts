// The dashboard's two secrets, read at start (a bad file is exit 2 naming the setting, never the content).
import { readFileSync, statSync } from "node:fs";
import { configError } from "../../core/errors.ts";
import type { DashboardConfig } from "./settings.ts";

function readSecret(name: string, path: string, minLength: number, what: string): string {
  let text: string;
  try {
    if (statSync(path).size > 4096) throw configError(`${name} ${path} is larger than 4096 bytes: it must hold only ${what}`);
    text = readFileSync(path, "utf8").trim();
  } catch (e) {
    if (e instanceof Error && e.name === "GhappError") throw e;
    throw configError(`${name} ${path} cannot be read: check the path and that the broker's user may read it`);
  }
  if (text.length < minLength) throw configError(`${name} ${path} holds ${text.length === 0 ? "nothing" : `fewer than ${minLength} characters`}: put ${what} there`);
  return text;
}

export function readDashboardSecrets(c: DashboardConfig): { clientSecret?: string; sessionKey?: string } {
  return {
    ...(c.clientSecretFile ? { clientSecret: readSecret("DASHBOARD_CLIENT_SECRET_FILE", c.clientSecretFile, 1, "the dashboard client's secret from the OIDC provider") } : {}),
    ...(c.sessionKeyFile ? { sessionKey: readSecret("DASHBOARD_SESSION_KEY_FILE", c.sessionKeyFile, 32, "a random key of 32 characters or more, e.g. the output of `openssl rand -hex 32`") } : {}),
  };
}
