// The dashboard's settings (docs/dashboard.md): off unless DASHBOARD_CLIENT_ID is set, and then
// DASHBOARD_URL is required (the redirect URI is built from it, never from a request's Host).
// Pure: receives the merged raw options, reads no file (serve reads the secret and key files).
import { configError } from "../../core/errors.ts";
import { parseDuration } from "../../core/duration.ts";
import { isLoopback } from "../config.ts";

export interface DashboardConfig {
  /** the dashboard's client at OIDC_ISSUER; ID tokens must carry it in aud */
  clientId: string;
  /** a confidential client's secret, in a file; unset: a public client (PKCE alone) */
  clientSecretFile?: string;
  /** where people reach the dashboard, without a trailing slash: https://broker.example.com */
  url: string;
  sessionTtlMs: number;
  /** the key sealing session cookies, shared by every replica; unset: a random key per process */
  sessionKeyFile?: string;
}

export interface DashboardRawOptions {
  "dashboard-client-id"?: string;
  "dashboard-client-secret-file"?: string;
  "dashboard-url"?: string;
  "dashboard-session-ttl"?: string;
  "dashboard-session-key-file"?: string;
}

export function parseDashboardConfig(o: DashboardRawOptions): DashboardConfig | undefined {
  const clientId = o["dashboard-client-id"];
  if (!clientId) {
    const stray = (["dashboard-url", "dashboard-client-secret-file", "dashboard-session-key-file"] as const).find((k) => o[k]);
    if (stray) throw configError(`${stray.toUpperCase().replace(/-/g, "_")} is set but DASHBOARD_CLIENT_ID is not: the dashboard is off without its OIDC client; set DASHBOARD_CLIENT_ID or unset the other DASHBOARD_ settings`);
    return undefined;
  }
  if (!/^[\x21-\x7e]{1,256}$/.test(clientId)) throw configError("DASHBOARD_CLIENT_ID is not a client id: 1 to 256 visible ASCII characters, as the OIDC provider shows it");
  const rawUrl = o["dashboard-url"];
  if (!rawUrl) throw configError("DASHBOARD_URL is not set: give the address people open the dashboard at, e.g. https://broker.example.com (the sign-in's redirect URI is DASHBOARD_URL/ui/callback)");
  let u: URL;
  try {
    u = new URL(rawUrl);
  } catch {
    throw configError(`DASHBOARD_URL "${rawUrl.slice(0, 200)}" is not a URL: e.g. https://broker.example.com`);
  }
  if (u.protocol !== "https:" && !(u.protocol === "http:" && isLoopback(u.hostname))) throw configError("DASHBOARD_URL must be https (plain http is accepted on loopback only, for development): session cookies are Secure behind TLS");
  if (u.search || u.hash || u.username || u.password) throw configError("DASHBOARD_URL must be a plain origin and path, without query, fragment or credentials: e.g. https://broker.example.com");
  const ttlText = o["dashboard-session-ttl"] ?? "30m";
  const sessionTtlMs = parseDuration(ttlText, "DASHBOARD_SESSION_TTL");
  if (sessionTtlMs < 60_000 || sessionTtlMs > 12 * 3_600_000) throw configError(`DASHBOARD_SESSION_TTL ${ttlText} is outside 1m..12h: sessions are short-lived, e.g. 30m`);
  return {
    clientId,
    url: rawUrl.replace(/\/+$/, ""),
    sessionTtlMs,
    ...(o["dashboard-client-secret-file"] ? { clientSecretFile: o["dashboard-client-secret-file"] } : {}),
    ...(o["dashboard-session-key-file"] ? { sessionKeyFile: o["dashboard-session-key-file"] } : {}),
  };
}
