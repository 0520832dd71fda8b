// A GitHub REST API simulator for the endpoints a GitHub App uses to get installation tokens.
// It behaves like api.github.com (or GitHub Enterprise Server under /api/v3): it verifies each
// app JWT with the app's public key and GitHub's time rules, answers with GitHub's status
// codes, messages and headers, paginates with Link, and injects faults on demand.
//
// Sources for the behaviour:
// - JWT rules: https://docs.github.com/en/apps/creating-github-apps/authenticating-with-a-github-app/generating-a-json-web-token-jwt-for-a-github-app
//   (RS256, iss = app id or client id, exp at most 10 minutes ahead; GitHub allows ~60 s of skew)
// - Endpoints: https://docs.github.com/en/rest/apps/apps
// - Rate limits: https://docs.github.com/en/rest/using-the-rest-api/rate-limits-for-the-rest-api
// - Messages seen from GitHub in the wild (e.g. probot/probot#967, octokit/auth-app.js#375).
import { createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, type KeyObject } from "node:crypto";
import jwt from "jsonwebtoken";
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import { createOidcIssuer, type OidcIssuer } from "./oidc-issuer.ts";
import { createRunners, type RunnerGroup, type Runners } from "./runners.ts";
import { exchangeRecorder } from "./exchanges.ts";
import { appJson, installationJson as installationObject, repositoryJson, rootJson, type Urls } from "./github-objects.ts";
import { createWebhooks, type Webhooks } from "./webhooks.ts";

export interface Repository {
  id: number;
  name: string;
  full_name: string;
  private: boolean;
}

export interface Installation {
  id: number;
  account: { login: string; id: number; type: "Organization" | "User" };
  repository_selection: "all" | "selected";
  repositories: Repository[];
  permissions: Record<string, string>;
  suspended_at: string | null;
}

export interface IssuedToken {
  token: string;
  installationId: number;
  expiresAt: number; // ms since epoch, in the simulator's clock
  permissions: Record<string, string>;
  repositories: Repository[] | null;
  revoked: boolean;
}

/** A fault applied to the next matching requests. */
export type Fault =
  | { kind: "status"; status: 500 | 502 | 503 | 504; match?: FaultMatch; times?: number }
  | { kind: "drop"; match?: FaultMatch; times?: number }
  | { kind: "retry-after"; retryAfter: number; match?: FaultMatch; times?: number }
  | { kind: "secondary-rate-limit"; retryAfter?: number; match?: FaultMatch; times?: number }
  | { kind: "primary-rate-limit"; resetIn: number; match?: FaultMatch; times?: number }
  | { kind: "delay"; ms: number; match?: FaultMatch; times?: number };

export interface FaultMatch {
  method?: string;
  /** substring of the path (without the /api/v3 prefix). The OIDC issuer (/oidc/...) is another service:
   * only a fault whose path matches it reaches it, so "GitHub is down" leaves the issuer up. */
  path?: string;
}

export interface RecordedRequest {
  method: string;
  path: string; // without prefix, with query
  headers: Record<string, string>;
  body: unknown;
  at: number;
  status: number;
}

export interface SimulatorOptions {
  hostname?: string;
  port?: number;
  /** "/api/v3" to act as GitHub Enterprise Server */
  prefix?: string;
  tls?: { cert: string; key: string };
  /** lifetime of installation tokens in seconds (GitHub: 3600) */
  tokenTtlSeconds?: number;
  installations?: Installation[];
  /** runner groups of every organization (runners.ts); default Default (1) and brokered (2) */
  runnerGroups?: RunnerGroup[];
  appId?: number;
  /** the simulator's clock runs this many seconds ahead of the host's (negative: behind) */
  clockOffsetSeconds?: number;
  /** permissions the App was granted (its registration); a token gets at most these and the installation's, asking for more is 422 */
  appPermissions?: Record<string, string>;
  /** The app's private key (PEM); default: a fresh one. Given when another process must hold the
   * same key before the simulator starts, e.g. a Kubernetes Secret the pod and the chart share. */
  appPrivateKeyPem?: string;
  /** The origin clients reach the simulator at, when it differs from the address it listens on
   * (a pod listening on 0.0.0.0:8443 behind https://github-sim.NS.svc). Absolute URLs the
   * simulator writes (Link headers, access_tokens_url) use it, as GitHub's use its public host. */
  publicOrigin?: string;
  /** The form of the installation tokens issued: "jwt" (default; GitHub's since April 2026,
   * `ghs_<appid>_<JWT>`, about 520 characters) or "classic" (`ghs_` + 36 alphanumerics). */
  tokenFormat?: TokenFormat;
}

export type TokenFormat = "jwt" | "classic";

export interface Simulator {
  url: string; // API base URL, including the prefix
  origin: string;
  port: number;
  app: { id: number; clientId: string; slug: string; privateKeyPem: string; publicKeyPem: string };
  installations: Installation[];
  tokens: Map<string, IssuedToken>;
  requests: RecordedRequest[];
  inject(...faults: Fault[]): void;
  clearFaults(): void;
  setClockOffset(seconds: number): void;
  setTokenTtl(seconds: number): void;
  /** Replace the app's key pair (as when a key is rotated on GitHub); the old key stops working. */
  rotateKey(): string;
  suspend(installationId: number): void;
  /**
   * Someone uninstalls the App from the account: the installation is gone (its lookups answer 404)
   * and the tokens issued for it stop working (401), as GitHub revokes them on uninstall
   * (https://docs.github.com/apps/using-github-apps/reviewing-and-modifying-installed-github-apps#blocking-access).
   */
  uninstall(installationId: number): void;
  /** self-hosted runners (runners.ts) and the OIDC issuer at `${origin}/oidc` (oidc-issuer.ts) */
  runners: Runners;
  oidc: OidcIssuer;
  /** the App's webhook: signed deliveries, the delivery log, redelivery (webhooks.ts) */
  webhooks: Webhooks;
  reset(): void;
  close(): Promise<void>;
}

const DOCS = "https://docs.github.com/rest";
const APP_SLUG = "ghapp-tokens-sim";
const API_VERSION = "2022-11-28";

/** The key pair of a given private key (PKCS#1 or PKCS#8 PEM). */
export function appKeyFrom(privateKeyPem: string): { privateKeyPem: string; publicKeyPem: string } {
  const publicKeyPem = createPublicKey(createPrivateKey(privateKeyPem)).export({ type: "spki", format: "pem" }).toString();
  return { privateKeyPem, publicKeyPem };
}

export function generateAppKey(): { privateKeyPem: string; publicKeyPem: string } {
  // GitHub issues PKCS#1 ("BEGIN RSA PRIVATE KEY") keys; generated at run time, never committed.
  const { privateKey, publicKey } = generateKeyPairSync("rsa", {
    modulusLength: 2048,
    privateKeyEncoding: { type: "pkcs1", format: "pem" },
    publicKeyEncoding: { type: "spki", format: "pem" },
  });
  return { privateKeyPem: privateKey, publicKeyPem: publicKey };
}

/** `ghs_` + 36 alphanumerics: the form GitHub issued until April 2026. */
function classicToken(): string {
  return `ghs_${randomBytes(27).toString("base64url").replace(/[-_]/g, "x").slice(0, 36)}`;
}

/** `ghs_<appid>_<JWT>`, shaped like GitHub's stateless tokens (about 520 characters). The JWT is
 * opaque to clients; here its signature is random bytes of an RS256 signature's length. */
function jwtFormToken(appId: number, installationId: number, expiresAtMs: number): string {
  const part = (o: unknown) => Buffer.from(JSON.stringify(o)).toString("base64url");
  const iat = Math.floor(Date.now() / 1000);
  const payload = { iss: String(appId), sub: String(installationId), iat, exp: Math.floor(expiresAtMs / 1000), jti: randomBytes(16).toString("base64url") };
  return `ghs_${appId}_${part({ alg: "RS256", typ: "JWT" })}.${part(payload)}.${randomBytes(256).toString("base64url")}`;
}

function repo(id: number, owner: string, name: string): Repository {
  return { id, name, full_name: `${owner}/${name}`, private: true };
}

/** The default world: two installations, an org and a user, with a few repositories each. */
export function defaultInstallations(): Installation[] {
  return [
    {
      id: 1001,
      account: { login: "acme-org", id: 5001, type: "Organization" },
      repository_selection: "selected",
      repositories: [repo(9001, "acme-org", "api"), repo(9002, "acme-org", "web"), repo(9003, "acme-org", "infra")],
      permissions: { contents: "write", metadata: "read", pull_requests: "write", issues: "write", organization_self_hosted_runners: "write" },
      suspended_at: null,
    },
    {
      id: 1002,
      account: { login: "Octo-User", id: 5002, type: "User" },
      repository_selection: "all",
      repositories: [repo(9101, "Octo-User", "dotfiles")],
      permissions: { contents: "read", metadata: "read" },
      suspended_at: null,
    },
  ];
}

const DEFAULT_APP_PERMISSIONS = { contents: "write", metadata: "read", pull_requests: "write", issues: "write", checks: "write", organization_self_hosted_runners: "write" };

export async function startSimulator(opts: SimulatorOptions = {}): Promise<Simulator> {
  const prefix = opts.prefix ?? "";
  const appId = opts.appId ?? 424242;
  const clientId = `Iv23li${randomBytes(7).toString("hex")}`;
  let key = opts.appPrivateKeyPem ? appKeyFrom(opts.appPrivateKeyPem) : generateAppKey();
  let publicKey: KeyObject = createPublicKey(key.publicKeyPem);
  let clockOffset = opts.clockOffsetSeconds ?? 0;
  let tokenTtl = opts.tokenTtlSeconds ?? 3600;
  const appPermissions: Record<string, string> = opts.appPermissions ?? DEFAULT_APP_PERMISSIONS;
  const installations = opts.installations ?? defaultInstallations();
  const tokens = new Map<string, IssuedToken>();
  const requests: RecordedRequest[] = [];
  let faults: Array<Fault & { left: number }> = [];
  const rate = { limit: 5000, used: 0, resetAt: 0 };
  const tokenFormat: TokenFormat = opts.tokenFormat ?? "jwt";

  const now = () => Date.now() + clockOffset * 1000;

  function rateHeaders(resource = "core"): Record<string, string> {
    const t = now();
    if (t >= rate.resetAt) {
      rate.used = 0;
      rate.resetAt = t + 3600_000;
    }
    rate.used++;
    return {
      "x-ratelimit-limit": String(rate.limit),
      "x-ratelimit-remaining": String(Math.max(0, rate.limit - rate.used)),
      "x-ratelimit-used": String(rate.used),
      "x-ratelimit-reset": String(Math.floor(rate.resetAt / 1000)),
      "x-ratelimit-resource": resource,
    };
  }

  function baseHeaders(): Record<string, string> {
    return {
      date: new Date(now()).toUTCString(),
      "content-type": "application/json; charset=utf-8",
      "x-github-api-version-selected": API_VERSION,
      "x-github-media-type": "github.v3; format=json",
      "x-github-request-id": `${randomBytes(4).toString("hex").toUpperCase()}:${randomBytes(3).toString("hex").toUpperCase()}`,
    };
  }

  function json(status: number, body: unknown, extra: Record<string, string> = {}): Response {
    return new Response(status === 204 ? null : JSON.stringify(body), { status, headers: { ...baseHeaders(), ...extra } });
  }

  function error(status: number, message: string, extra: Record<string, string> = {}, docs = DOCS): Response {
    return json(status, { message, documentation_url: docs, status: String(status) }, extra);
  }

  type Auth = { kind: "app" } | { kind: "token"; token: IssuedToken } | { kind: "error"; response: Response };

  function authenticate(req: Request): Auth | null {
    const header = req.headers.get("authorization");
    if (!header) return null;
    const [scheme, credential = ""] = header.split(/\s+/, 2);
    // An installation token of the new form holds a JWT too, behind its ghs_ prefix.
    if (/^bearer$/i.test(scheme ?? "") && !credential.startsWith("ghs_") && credential.split(".").length === 3) return verifyJwt(credential);
    if (/^(bearer|token)$/i.test(scheme ?? "")) {
      const token = tokens.get(credential);
      if (!token || token.revoked || token.expiresAt <= now()) return { kind: "error", response: error(401, "Bad credentials") };
      return { kind: "token", token };
    }
    return { kind: "error", response: error(401, "Bad credentials") };
  }

  function verifyJwt(credential: string): Auth {
    const undecodable = { kind: "error" as const, response: error(401, "A JSON web token could not be decoded") };
    let payload: jwt.JwtPayload;
    try {
      // Signature and algorithm first; GitHub checks the times itself (below) with its own messages.
      payload = jwt.verify(credential, publicKey, { algorithms: ["RS256"], ignoreExpiration: true, ignoreNotBefore: true }) as jwt.JwtPayload;
    } catch {
      return undecodable;
    }
    if (String(payload.iss) !== String(appId) && payload.iss !== clientId) return undecodable;
    const t = Math.floor(now() / 1000);
    const { iat, exp } = payload;
    if (typeof iat !== "number" || !Number.isInteger(iat) || iat > t + 60) {
      return { kind: "error", response: error(401, "'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued") };
    }
    if (typeof exp !== "number" || exp <= t) {
      return { kind: "error", response: error(401, "'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires") };
    }
    if (exp - iat > 600 + 60 || exp > t + 600 + 60) {
      return { kind: "error", response: error(401, "'Expiration time' claim ('exp') is too far in the future") };
    }
    return { kind: "app" };
  }

  // Objects are rendered whole, as GitHub's reference shows them (github-objects.ts).
  const urls = (): Urls => ({ api: `${origin}${prefix}`, web: origin });
  const context = () => ({ urls: urls(), appId, clientId, appSlug: APP_SLUG });
  const installationJson = (inst: Installation) => installationObject(inst, context());
  const repositoriesJson = (inst: Installation, repos: Repository[]) => repos.map((r) => repositoryJson(r, inst.account, urls()));

  function paginate<T>(url: URL, items: T[]): { page: T[]; link?: string } {
    const perPage = Math.min(100, Math.max(1, Number(url.searchParams.get("per_page") ?? 30) || 30));
    const page = Math.max(1, Number(url.searchParams.get("page") ?? 1) || 1);
    const last = Math.max(1, Math.ceil(items.length / perPage));
    const slice = items.slice((page - 1) * perPage, page * perPage);
    const href = (p: number) => {
      const u = new URL(url);
      u.searchParams.set("per_page", String(perPage));
      u.searchParams.set("page", String(p));
      return `<${u.toString()}>`;
    };
    const rels: string[] = [];
    if (page > 1) rels.push(`${href(page - 1)}; rel="prev"`, `${href(1)}; rel="first"`);
    if (page < last) rels.push(`${href(page + 1)}; rel="next"`, `${href(last)}; rel="last"`);
    return { page: slice, link: rels.length ? rels.join(", ") : undefined };
  }

  function takeFault(method: string, path: string): Fault | undefined {
    const i = faults.findIndex(
      (f) => (!f.match?.method || f.match.method.toUpperCase() === method) && (f.match?.path ? path.includes(f.match.path) : !path.startsWith("/oidc")),
    );
    if (i < 0) return undefined;
    const f = faults[i]!;
    if (--f.left <= 0) faults.splice(i, 1);
    return f;
  }

  async function readBody(req: Request): Promise<unknown> {
    const text = await req.text();
    if (!text) return undefined;
    try {
      return JSON.parse(text);
    } catch {
      return text;
    }
  }

  function findInstallationByLogin(login: string) {
    return installations.find((i) => i.account.login.toLowerCase() === login.toLowerCase());
  }

  async function route(req: Request, url: URL, path: string, body: unknown): Promise<Response | undefined> {
    const method = req.method;
    const notFound = () => error(404, "Not Found");

    if (path === "/rate_limit" && method === "GET") {
      const t = now();
      const core = { limit: rate.limit, remaining: Math.max(0, rate.limit - rate.used), used: rate.used, reset: Math.floor((rate.resetAt || t) / 1000) };
      // GitHub lists a limit per resource; its description requires core and search (30 a minute, never
      // used here). `rate` repeats core, deprecated but still sent:
      // https://docs.github.com/rest/rate-limit/rate-limit#get-rate-limit-status-for-the-authenticated-user
      const search = { limit: 30, remaining: 30, used: 0, reset: Math.floor(t / 1000) + 60 };
      return json(200, { resources: { core, search }, rate: core });
    }
    // GET /meta (https://docs.github.com/rest/meta/meta#get-github-meta-information) says which GHES
    // release answers; GET / is the API root with its URL templates.
    if (path === "/meta" && method === "GET") return json(200, { verifiable_password_authentication: false, installed_version: "3.17.0" });
    if ((path === "/" || path === "") && method === "GET") return json(200, rootJson(urls()));

    const auth = authenticate(req);
    if (auth?.kind === "error") return auth.response;
    const rl = rateHeaders();
    const caller = auth?.kind === "token" ? { installationId: auth.token.installationId, permissions: auth.token.permissions } : auth ? ("app" as const) : null;
    const runnerAnswer = runners.route({ method, path, url, body, rl, caller });
    if (runnerAnswer) return runnerAnswer;
    const hookAnswer = webhooks.route({ method, path, url, rl, isApp: auth?.kind === "app", hasAuth: !!auth });
    if (hookAnswer) return hookAnswer;

    // ---- endpoints that take the app's JWT ----
    const appOnly = (): Response | undefined => {
      if (!auth) return error(401, "Requires authentication", rl);
      if (auth.kind !== "app") {
        return error(401, "A JSON web token could not be decoded", rl);
      }
      return undefined;
    };

    let m: RegExpMatchArray | null;
    if (path === "/app" && method === "GET") {
      // The App's owner: the account that registered it, here the first installation's.
      const owner = installations[0]?.account ?? { login: "ghapp-tokens", id: 5000, type: "Organization" as const };
      return appOnly() ?? json(200, appJson({ ...context(), owner, permissions: appPermissions, installationsCount: installations.length }), rl);
    }
    if (path === "/app/installations" && method === "GET") {
      const denied = appOnly();
      if (denied) return denied;
      const { page, link } = paginate(url, installations);
      return json(200, page.map(installationJson), link ? { ...rl, link } : rl);
    }
    if ((m = path.match(/^\/app\/installations\/(\d+)$/)) && method === "GET") {
      const denied = appOnly();
      if (denied) return denied;
      const inst = installations.find((i) => i.id === Number(m![1]));
      return inst ? json(200, installationJson(inst), rl) : error(404, "Not Found", rl);
    }
    if ((m = path.match(/^\/(users|orgs)\/([^/]+)\/installation$/)) && method === "GET") {
      const denied = appOnly();
      if (denied) return denied;
      const inst = findInstallationByLogin(decodeURIComponent(m[2]!));
      if (!inst || (m[1] === "orgs" && inst.account.type !== "Organization")) return error(404, "Not Found", rl, "https://docs.github.com/rest/apps/apps#get-a-user-installation-for-the-authenticated-app");
      return json(200, installationJson(inst), rl);
    }
    if ((m = path.match(/^\/repos\/([^/]+)\/([^/]+)\/installation$/)) && method === "GET") {
      const denied = appOnly();
      if (denied) return denied;
      const inst = findInstallationByLogin(decodeURIComponent(m[1]!));
      const name = decodeURIComponent(m[2]!).toLowerCase();
      if (!inst || (inst.repository_selection === "selected" && !inst.repositories.some((r) => r.name.toLowerCase() === name))) {
        return error(404, "Not Found", rl, "https://docs.github.com/rest/apps/apps#get-a-repository-installation-for-the-authenticated-app");
      }
      return json(200, installationJson(inst), rl);
    }
    if ((m = path.match(/^\/app\/installations\/(\d+)\/access_tokens$/)) && method === "POST") {
      const denied = appOnly();
      if (denied) return denied;
      const inst = installations.find((i) => i.id === Number(m![1]));
      if (!inst) return error(404, "Not Found", rl, "https://docs.github.com/rest/apps/apps#create-an-installation-access-token-for-an-app");
      if (inst.suspended_at) return error(403, "This installation has been suspended", rl);
      return issueToken(inst, body, rl);
    }

    // ---- endpoints that take an installation token ----
    if (path === "/installation/token" && method === "DELETE") {
      if (!auth || auth.kind !== "token") return error(401, "Bad credentials", rl);
      auth.token.revoked = true;
      return json(204, null, rl);
    }
    if (path === "/installation/repositories" && method === "GET") {
      if (!auth || auth.kind !== "token") return error(401, auth ? "A JSON web token could not be decoded" : "Requires authentication", rl);
      const inst = installations.find((i) => i.id === auth.token.installationId)!;
      const repos = auth.token.repositories ?? inst.repositories;
      const { page, link } = paginate(url, repos);
      return json(
        200,
        { total_count: repos.length, repository_selection: auth.token.repositories ? "selected" : inst.repository_selection, repositories: repositoriesJson(inst, page) },
        link ? { ...rl, link } : rl,
      );
    }
    if (path === "/user" && method === "GET") {
      if (!auth) return error(401, "Requires authentication", rl);
      return error(403, "Resource not accessible by integration", rl, "https://docs.github.com/rest/users/users#get-the-authenticated-user");
    }
    return notFound();
  }

  function issueToken(inst: Installation, body: unknown, rl: Record<string, string>): Response {
    const req = (body && typeof body === "object" ? body : {}) as { repositories?: unknown; repository_ids?: unknown; permissions?: unknown };
    let repositories: Repository[] | null = null;
    if (req.repositories !== undefined || req.repository_ids !== undefined) {
      const names = Array.isArray(req.repositories) ? req.repositories.map(String) : [];
      const ids = Array.isArray(req.repository_ids) ? req.repository_ids.map(Number) : [];
      const found: Repository[] = [];
      for (const name of names) {
        const r = inst.repositories.find((x) => x.name.toLowerCase() === name.toLowerCase());
        if (!r) {
          return error(422, "There is at least one repository that does not exist or is not accessible to the parent installation.", rl, "https://docs.github.com/rest/apps/apps#create-an-installation-access-token-for-an-app");
        }
        found.push(r);
      }
      for (const id of ids) {
        const r = inst.repositories.find((x) => x.id === id);
        if (!r) {
          return error(422, "There is at least one repository that does not exist or is not accessible to the parent installation.", rl, "https://docs.github.com/rest/apps/apps#create-an-installation-access-token-for-an-app");
        }
        found.push(r);
      }
      repositories = found;
    }
    // "If permissions is not specified, the installation access token will have all of the permissions
    // that were granted to the app. The installation access token cannot be granted permissions that the
    // app was not granted." (https://docs.github.com/rest/apps/apps#create-an-installation-access-token-for-an-app)
    // "Granted to the app" is open: what the App's registration asks for, or what the installation's owner
    // accepted (they differ while an owner has not yet approved an App's new permissions). The stricter
    // reading: a permission is granted at the lower level of the two, and not at all when either lacks it.
    const rank: Record<string, number> = { read: 1, write: 2, admin: 3 };
    const grantedLevel = (name: string): string | undefined => {
      const [a, b] = [inst.permissions[name], appPermissions[name]];
      if (!a || !b) return undefined;
      return (rank[a] ?? 0) <= (rank[b] ?? 0) ? a : b;
    };
    let permissions = Object.fromEntries(Object.keys(inst.permissions).flatMap((name) => (grantedLevel(name) ? [[name, grantedLevel(name)!]] : [])));
    if (req.permissions && typeof req.permissions === "object") {
      const asked = req.permissions as Record<string, string>;
      for (const [name, level] of Object.entries(asked)) {
        const granted = grantedLevel(name);
        if (!granted || (rank[level] ?? 99) > (rank[granted] ?? 0)) {
          return error(422, `The permissions requested are not granted to this installation.`, rl, "https://docs.github.com/rest/apps/apps#create-an-installation-access-token-for-an-app");
        }
      }
      permissions = asked;
    }
    const expiresAt = now() + tokenTtl * 1000;
    const token = tokenFormat === "classic" ? classicToken() : jwtFormToken(appId, inst.id, expiresAt);
    tokens.set(token, { token, installationId: inst.id, expiresAt, permissions, repositories, revoked: false });
    return json(
      201,
      {
        token,
        expires_at: new Date(expiresAt).toISOString().replace(/\.\d{3}Z$/, "Z"),
        permissions,
        repository_selection: repositories ? "selected" : inst.repository_selection,
        ...(repositories ? { repositories: repositoriesJson(inst, repositories) } : {}),
      },
      rl,
    );
  }

  async function control(req: Request, path: string): Promise<Response> {
    // Control API for other processes (demo, container and pod-wiring tests); not part of GitHub.
    const extension = (await runners.control(req, path)) ?? (await oidc.control(req, path)) ?? (await webhooks.control(req, path));
    if (extension) return extension;
    if (path === "/_simulator/faults" && req.method === "POST") {
      const body = (await readBody(req)) as Fault | Fault[];
      sim.inject(...(Array.isArray(body) ? body : [body]));
      return Response.json({ faults: faults.length });
    }
    if (path === "/_simulator/faults" && req.method === "DELETE") {
      sim.clearFaults();
      return Response.json({ faults: 0 });
    }
    if (path === "/_simulator/requests" && req.method === "GET") return Response.json(requests);
    if (path === "/_simulator/clock" && req.method === "POST") {
      const { offsetSeconds } = (await readBody(req)) as { offsetSeconds: number };
      sim.setClockOffset(offsetSeconds);
      return Response.json({ offsetSeconds });
    }
    if (path === "/_simulator/state" && req.method === "GET") {
      return Response.json({
        appId,
        installations: installations.map((i) => ({ id: i.id, login: i.account.login })),
        tokens: [...tokens.values()].map((t) => ({ installationId: t.installationId, expiresAt: new Date(t.expiresAt).toISOString(), revoked: t.revoked })),
      });
    }
    return new Response("unknown control endpoint\n", { status: 404 });
  }

  let origin = "";
  const DROP = Symbol("drop");
  const runners = createRunners({ json, error, paginate, now, installations, origin: () => origin, repositoryJson: (inst, r) => repositoryJson(r, inst.account, urls()) }, opts.runnerGroups);
  const oidc = createOidcIssuer({ origin: () => origin, now });
  // Each delivery is logged for the conformance check against @octokit/openapi-webhooks (exchanges.ts).
  const webhooks = createWebhooks({ json, error, now, origin: () => origin, appId: () => appId, installations, sent: (event, payload) => recorder?.record({ kind: "delivery", event, payload }) });
  runners.onJob((action, runner, org, job) => webhooks.jobEvent(action, runner, org, job));

  async function handle(req: Request): Promise<Response | typeof DROP> {
    const url = new URL(req.url);
    if (url.pathname.startsWith("/_simulator/")) return control(req, url.pathname);
    // The OIDC issuer lives beside the API, outside its prefix; faults and the request log cover it too.
    const isOidc = url.pathname === "/oidc" || url.pathname.startsWith("/oidc/");
    if (prefix && !isOidc && !url.pathname.startsWith(prefix)) return error(404, "Not Found");
    const path = (isOidc ? url.pathname : url.pathname.slice(prefix.length)).replace(/\/+$/, "") || "/";
    const body = await readBody(req);
    const headers: Record<string, string> = {};
    req.headers.forEach((v, k) => (headers[k] = v));
    const record: RecordedRequest = { method: req.method, path: path + url.search, headers, body, at: Date.now(), status: 0 };
    requests.push(record);

    const fault = takeFault(req.method, path);
    const res = await (async (): Promise<Response | typeof DROP> => {
      if (fault) {
        switch (fault.kind) {
          case "drop":
            return DROP;
          case "status":
            return fault.status === 500
              ? error(500, "Server Error")
              : new Response(fault.status === 502 ? "<html><body><h1>502 Bad Gateway</h1></body></html>" : `{"message":"Service Unavailable"}`, {
                  status: fault.status,
                  headers: { ...baseHeaders(), "content-type": fault.status === 502 ? "text/html" : "application/json; charset=utf-8" },
                });
          case "retry-after":
            return error(429, "API rate limit exceeded", { ...rateHeaders(), "retry-after": String(fault.retryAfter) });
          case "secondary-rate-limit":
            return error(
              403,
              "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. If you reach out to GitHub Support for help, please include the request ID.",
              { ...rateHeaders(), "retry-after": String(fault.retryAfter ?? 1) },
              "https://docs.github.com/free-pro-team@latest/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits",
            );
          case "primary-rate-limit": {
            const reset = Math.floor(now() / 1000) + fault.resetIn;
            return error(
              403,
              "API rate limit exceeded for installation ID 1001. If you reach out to GitHub Support for help, please include the request ID.",
              { ...rateHeaders(), "x-ratelimit-remaining": "0", "x-ratelimit-used": String(rate.limit), "x-ratelimit-reset": String(reset) },
              "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-the-primary-rate-limit",
            );
          }
          case "delay":
            await Bun.sleep(fault.ms);
        }
      }
      if (isOidc) return (await oidc.route(req.method, path, url.searchParams, body))!;
      return (await route(req, url, path, body)) ?? error(404, "Not Found");
    })();
    record.status = res === DROP ? 0 : res.status;
    if (recorder && !isOidc) await recordExchange(req.method, path, url, body, res, fault);
    return res;
  }

  // GHAPP_SIM_EXCHANGES_DIR: every API answer is logged for the conformance check (exchanges.ts,
  // conformance.ts); the OIDC issuer is not GitHub's REST API and is not in its description.
  const recorder = exchangeRecorder();
  async function recordExchange(method: string, path: string, url: URL, body: unknown, res: Response | typeof DROP, fault: Fault | undefined) {
    const query: Record<string, string[]> = {};
    for (const [k, v] of url.searchParams) (query[k] ??= []).push(v);
    const text = res === DROP ? "" : await res.clone().text();
    let responseBody: unknown;
    try {
      responseBody = text ? JSON.parse(text) : undefined;
    } catch {
      responseBody = text;
    }
    recorder!.record({
      kind: "api",
      method,
      prefix,
      path,
      query,
      requestBody: body,
      status: res === DROP ? 0 : res.status,
      responseBody,
      contentType: res === DROP ? null : res.headers.get("content-type"),
      ...(fault && fault.kind !== "delay" ? { fault: fault.kind } : {}),
    });
  }

  // node:http rather than Bun.serve: a dropped connection needs the raw socket.
  const listener = async (inc: IncomingMessage, out: ServerResponse) => {
    const chunks: Buffer[] = [];
    for await (const c of inc) chunks.push(c as Buffer);
    const headers = new Headers();
    for (const [k, v] of Object.entries(inc.headers)) if (typeof v === "string") headers.set(k, v);
    const method = inc.method ?? "GET";
    const request = new Request(`${origin}${inc.url ?? "/"}`, {
      method,
      headers,
      ...(method === "GET" || method === "HEAD" || chunks.length === 0 ? {} : { body: Buffer.concat(chunks) }),
    });
    let res: Response | typeof DROP;
    try {
      res = await handle(request);
    } catch (e) {
      res = error(500, `Server Error (simulator: ${(e as Error).message})`);
    }
    if (res === DROP) {
      // Close without an answer, as a crashed backend or a resetting proxy does.
      inc.socket.destroy();
      return;
    }
    const outHeaders: Record<string, string> = {};
    res.headers.forEach((v, k) => (outHeaders[k] = v));
    out.writeHead(res.status, outHeaders);
    out.end(Buffer.from(await res.arrayBuffer()));
  };
  const server = opts.tls ? createHttpsServer({ cert: opts.tls.cert, key: opts.tls.key }, listener) : createHttpServer(listener);
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port ?? 0, opts.hostname ?? "127.0.0.1", () => resolve());
  });
  const address = server.address() as AddressInfo;

  const scheme = opts.tls ? "https" : "http";
  origin = opts.publicOrigin?.replace(/\/+$/, "") ?? `${scheme}://${address.family === "IPv6" ? `[${address.address}]` : address.address}:${address.port}`;

  const sim: Simulator = {
    url: `${origin}${prefix}`,
    origin,
    port: address.port,
    get app() {
      return { id: appId, clientId, slug: APP_SLUG, privateKeyPem: key.privateKeyPem, publicKeyPem: key.publicKeyPem };
    },
    installations,
    tokens,
    requests,
    runners,
    oidc,
    webhooks,
    inject(...fs) {
      for (const f of fs) faults.push({ ...f, left: f.times ?? 1 });
    },
    clearFaults() {
      faults = [];
    },
    setClockOffset(seconds) {
      clockOffset = seconds;
    },
    setTokenTtl(seconds) {
      tokenTtl = seconds;
    },
    rotateKey() {
      key = generateAppKey();
      publicKey = createPublicKey(key.publicKeyPem);
      return key.privateKeyPem;
    },
    uninstall(installationId) {
      const i = installations.findIndex((x) => x.id === installationId);
      if (i >= 0) installations.splice(i, 1);
      for (const t of tokens.values()) if (t.installationId === installationId) t.revoked = true;
    },
    suspend(installationId) {
      const inst = installations.find((i) => i.id === installationId);
      if (inst) inst.suspended_at = new Date(now()).toISOString();
    },
    reset() {
      faults = [];
      requests.length = 0;
    },
    async close() {
      server.closeAllConnections?.();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return sim;
}

/** n installations for pagination tests: org-000 … org-(n-1). */
export function manyInstallations(n: number): Installation[] {
  return Array.from({ length: n }, (_, i) => {
    const login = `org-${String(i).padStart(3, "0")}`;
    return {
      id: 20_000 + i,
      account: { login, id: 30_000 + i, type: "Organization" as const },
      repository_selection: "selected" as const,
      repositories: [repo(40_000 + i, login, "app")],
      permissions: { contents: "read", metadata: "read" },
      suspended_at: null,
    };
  });
}

