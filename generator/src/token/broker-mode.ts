// Brokered mode's settings (issue 21): `mint` and `refresh` present a projected service-account
// token (OIDC_TOKEN_FILE) to the runner broker (BROKER_URL), which answers with an installation
// token narrowed by the caller's trust policy; the pod holds no App key. Everything else (OWNER,
// REPOSITORIES, PERMISSIONS, the output file, metadata, timeouts, logging) is config.ts's, checked
// by the same rules. Pure: no IO; the exchange itself is brokered.ts, loaded only in this mode.
import { configError } from "../core/errors.ts";
import { parseConfig, type Config } from "./config.ts";
import type { RawOptions } from "./options.ts";

export interface BrokerSettings {
  /** the broker's base URL, without a trailing slash; the exchange is POST <url>/api/v1/tokens */
  url: string;
  /** the projected service-account token, re-read at every exchange (the kubelet rotates it) */
  tokenFile: string;
  /** a PEM bundle trusted for the broker instead of the system's CAs */
  caFile?: string;
}

export type BrokeredConfig = Config & { broker: BrokerSettings };

const BROKER_SETTINGS = [
  ["broker-url", "BROKER_URL"],
  ["oidc-token-file", "OIDC_TOKEN_FILE"],
  ["broker-ca-file", "BROKER_CA_FILE"],
] as const;
// The App's credentials, and the installation, which the broker chooses (from OWNER or the policy).
const KEY_SETTINGS = [
  ["app-id", "APP_ID"],
  ["private-key-file", "PRIVATE_KEY_FILE"],
  ["private-key", "PRIVATE_KEY"],
  ["installation-id", "INSTALLATION_ID"],
] as const;

/** True when any brokered-mode setting is given: the command runs brokered (or fails as mixed). */
export function wantsBroker(o: RawOptions): boolean {
  return BROKER_SETTINGS.some(([flag]) => o[flag] !== undefined);
}

export const isBrokered = (c: Config): c is BrokeredConfig => "broker" in c;

const LOOPBACK = /^(localhost|127(\.\d{1,3}){3}|\[::1\])$/;

function brokerUrl(text: string): string {
  let url: URL;
  try {
    url = new URL(text.trim());
  } catch {
    throw configError("BROKER_URL is not a URL: give the runner broker's address, e.g. https://ghapp-runner-broker.broker-system.svc:8443");
  }
  // The request carries the OIDC token, a credential: plain HTTP only on this host (tests, a
  // port-forward), never across a network.
  if (url.protocol !== "https:" && !(url.protocol === "http:" && LOOPBACK.test(url.hostname))) {
    throw configError("BROKER_URL must be https: the request carries the pod's OIDC token (http is accepted for localhost only); for a private CA set BROKER_CA_FILE");
  }
  if (url.username || url.password) throw configError("BROKER_URL holds credentials (user:password@): remove them; the pod authenticates with OIDC_TOKEN_FILE");
  if (url.search || url.hash) throw configError("BROKER_URL has a query or fragment: give the broker's base URL alone, e.g. https://broker.example.com");
  return url.toString().replace(/\/+$/, "");
}

function filePath(value: string | undefined, variable: string, example: string): string {
  const path = value?.trim() ?? "";
  if (!path) throw configError(`${variable} is not set: ${example}`);
  if (/[\u0000-\u001f]/.test(path) || path.endsWith("/")) throw configError(`${variable} is not a file path: ${example}`);
  return path;
}

/**
 * The brokered configuration, or exit 2: a brokered setting beside the App's credentials is
 * refused (which one would be used is not for ghapp-token to guess), as is half of the pair.
 */
export function parseBrokeredConfig(o: RawOptions): BrokeredConfig {
  const broker = BROKER_SETTINGS.filter(([flag]) => o[flag] !== undefined).map(([, env]) => env);
  const key = KEY_SETTINGS.filter(([flag]) => o[flag] !== undefined).map(([, env]) => env);
  if (key.length) {
    throw configError(
      `brokered and key settings are mixed (${broker.join(", ")} with ${key.join(", ")}): keep BROKER_URL and OIDC_TOKEN_FILE and remove ${key.join(", ")} (the broker holds the App's key and chooses the installation from OWNER), or remove ${broker.join(", ")} to mint with the App's key`,
    );
  }
  if (o["broker-url"] === undefined) throw configError("OIDC_TOKEN_FILE is set but BROKER_URL is not: give the runner broker's URL, or remove OIDC_TOKEN_FILE to mint with the App's key");
  const url = brokerUrl(o["broker-url"]);
  const tokenFile = filePath(o["oidc-token-file"], "OIDC_TOKEN_FILE", "give the path of the projected service-account token whose audience is the broker's, e.g. /var/run/secrets/ghapp-broker/token");
  const caFile = o["broker-ca-file"] === undefined ? undefined : filePath(o["broker-ca-file"], "BROKER_CA_FILE", "give the path of the CA bundle (PEM) that signed the broker's certificate");
  return { ...parseConfig(o, "token-file"), broker: { url, tokenFile, ...(caFile ? { caFile } : {}) } };
}
