// PERMISSIONS="contents=read,pull_requests=write" → { contents: "read", pull_requests: "write" },
// the `permissions` body of POST /app/installations/{id}/access_tokens
// (https://docs.github.com/rest/apps/apps#create-an-installation-access-token-for-an-app).
import { configError } from "./errors.ts";

export type PermissionLevel = "read" | "write" | "admin";
const LEVELS = new Set<string>(["read", "write", "admin"]);

export function parsePermissions(value: string): Record<string, PermissionLevel> {
  const result: Record<string, PermissionLevel> = {};
  for (const raw of value.split(",")) {
    const entry = raw.trim();
    if (!entry) continue;
    const match = /^([a-z][a-z_]*)\s*=\s*([a-z]+)$/.exec(entry);
    if (!match) {
      throw configError(`PERMISSIONS entry "${entry}" is malformed: write name=level pairs separated by commas, e.g. contents=read,pull_requests=write`);
    }
    const [, name, level] = match as unknown as [string, string, string];
    if (!LEVELS.has(level)) {
      throw configError(`PERMISSIONS: level "${level}" for ${name} is not read, write or admin`);
    }
    if (name in result) throw configError(`PERMISSIONS lists ${name} twice; give each permission once`);
    result[name] = level as PermissionLevel;
  }
  if (Object.keys(result).length === 0) throw configError("PERMISSIONS is set but lists no permission: write name=level pairs, or leave it unset for all the app's permissions");
  return result;
}
