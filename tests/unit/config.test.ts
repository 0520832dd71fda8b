import { describe, expect, test } from "bun:test";
import { checkEnvironment, parseConfig } from "../../generator/src/token/config.ts";
import { mergeOptions } from "../../generator/src/token/options.ts";
import { parsePermissions } from "../../generator/src/core/permissions.ts";
import { parseDuration } from "../../generator/src/core/duration.ts";
import { GhappError } from "../../generator/src/core/errors.ts";
import { generateKeyPairSync } from "node:crypto";

// A real key made for this run: no key text is committed, and the checks meet the shape they guard against.
const appKeyPem = generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey.export({ type: "pkcs1", format: "pem" }).toString();

const base = { APP_ID: "424242", PRIVATE_KEY_FILE: "/var/run/github-app/privateKey" };
const config = (env: Record<string, string>, flags: Record<string, unknown> = {}) => parseConfig(mergeOptions(flags, { ...base, ...env }));
const exit2 = (fn: () => unknown, pattern: RegExp) => {
  try {
    fn();
  } catch (e) {
    expect((e as GhappError).exitCode).toBe(2);
    expect((e as GhappError).message).toMatch(pattern);
    return;
  }
  throw new Error("expected exit 2");
};

describe("configuration", () => {
  test("uses the documented defaults", () => {
    const c = config({});
    expect(c.outputPath).toBe("/var/run/github/token");
    expect(c.tokenFileMode).toBe(0o600);
    expect(c.metadataPath).toBe("/var/run/github/token.json");
    expect(c.apiUrl).toBe("https://api.github.com");
    expect(c.logLevel).toBe("info");
    expect(c.requestTimeoutMs).toBe(10_000);
    expect(c.maxRetryWaitMs).toBe(60_000);
  });

  test("lets a flag beat the environment variable", () => {
    expect(config({ OWNER: "from-env" }, { owner: "from-flag" }).owner).toBe("from-flag");
  });

  test("treats an empty variable as unset, as Argo passes empty optional parameters", () => {
    const c = config({ INSTALLATION_ID: "", OWNER: "", REPOSITORIES: "", PERMISSIONS: "" });
    expect(c.installationId).toBeUndefined();
    expect(c.owner).toBeUndefined();
    expect(c.repositories).toEqual([]);
    expect(c.permissions).toBeUndefined();
  });

  test("takes the owner from an owner/repo entry and keeps names only for GitHub", () => {
    const c = config({ REPOSITORIES: "acme/api, acme/web" });
    expect(c.owner).toBe("acme");
    expect(c.repositories.map((r) => r.name)).toEqual(["api", "web"]);
  });

  test("refuses what would mint a wrong token, naming the variable and the fix", () => {
    exit2(() => config({ APP_ID: "" }), /APP_ID is not set/);
    exit2(() => config({ APP_ID: "my-app" }), /APP_ID is neither a numeric App ID nor a Client ID/);
    exit2(() => parseConfig(mergeOptions({}, { APP_ID: "1" })), /no private key: set PRIVATE_KEY_FILE/);
    exit2(() => config({ PRIVATE_KEY: "x" }), /both PRIVATE_KEY and PRIVATE_KEY_FILE/);
    exit2(() => config({ INSTALLATION_ID: "abc" }), /INSTALLATION_ID is not a positive whole number/);
    exit2(() => config({ REPOSITORIES: "a/b/c" }), /REPOSITORIES entry 1 is not repo or owner\/repo/);
    exit2(() => config({ REPOSITORIES: "acme/api,other/web" }), /several owners/);
    exit2(() => config({ OWNER: "acme", REPOSITORIES: "other/web" }), /disagree/);
    exit2(() => config({ TOKEN_FILE_MODE: "0644" }), /TOKEN_FILE_MODE is not one of 0600, 0640, 0400 or 0440/);
    exit2(() => config({ TOKEN_FILE_MODE: "rw" }), /TOKEN_FILE_MODE is not one of/);
    exit2(() => config({ GITHUB_API_URL: "api.github.com" }), /GITHUB_API_URL is not a URL/);
    exit2(() => config({ LOG_LEVEL: "loud" }), /LOG_LEVEL is not one of/);
    exit2(() => config({ OUTPUT_PATH: "/var/run/github/" }), /names a folder/);
  });

  test("accepts exactly the modes 0600, 0640, 0400 and 0440; 0660 and the like are refused", () => {
    for (const [text, mode] of [["0600", 0o600], ["640", 0o640], ["0400", 0o400], ["0440", 0o440]] as const) expect(config({ TOKEN_FILE_MODE: text }).tokenFileMode).toBe(mode);
    for (const text of ["0660", "0620", "0700", "0604", "0200", "0000", "1600", "00600"]) exit2(() => config({ TOKEN_FILE_MODE: text }), /TOKEN_FILE_MODE is not one of/);
  });

  test("checks names against GitHub's rules before any request: no path characters, no .., no overlong login", () => {
    for (const owner of ["../admin", "acme/x", "acme?x", "-acme", "a".repeat(40), "acme org", "%2e%2e"]) exit2(() => config({ OWNER: owner }), /OWNER is not a GitHub login/);
    for (const entry of ["..", ".", "acme/..", "acme/a?b", `acme/${"r".repeat(101)}`]) exit2(() => config({ REPOSITORIES: entry }), /REPOSITORIES entry 1: the repository name/);
    exit2(() => config({ REPOSITORIES: "../x/y" }), /REPOSITORIES entry 1 is not repo or owner\/repo/);
    exit2(() => config({ REPOSITORIES: "api,-bad/web" }), /REPOSITORIES entry 2: the owner is not a GitHub login/);
    expect(config({ OWNER: "Octo-User", REPOSITORIES: "octo-user/.github,my.repo_name-2" }).repositories.map((r) => r.name)).toEqual([".github", "my.repo_name-2"]);
  });

  test("takes REPOSITORIES separated by commas, newlines or blanks, as actions/create-github-app-token does", () => {
    const names = (value: string) => config({ REPOSITORIES: value }).repositories.map((r) => (r.owner ? `${r.owner}/${r.name}` : r.name));
    expect(names("acme/api\nacme/web\n")).toEqual(["acme/api", "acme/web"]);
    expect(names("api web\tcli")).toEqual(["api", "web", "cli"]);
    expect(names(" api ,\n\n web, ")).toEqual(["api", "web"]);
    // A parameter written on Windows: CRLF line ends.
    expect(names("acme/api\r\nacme/web\r\n")).toEqual(["acme/api", "acme/web"]);
    exit2(() => config({ REPOSITORIES: "api\nacme/a?b" }), /REPOSITORIES entry 2: the repository name/);
  });

  test("says a REPOSITORIES entry is a URL, and what to give instead, without repeating it", () => {
    for (const url of ["https://github.com/acme/api", "https://github.com/acme/api.git", "git@github.com:acme/api.git", "github.com/acme/api", "http://ghe.example.com/acme/api"]) {
      exit2(() => config({ REPOSITORIES: `web\n${url}` }), /^REPOSITORIES entry 2 is a URL: give owner\/repo \(the last two parts of the repository's URL\), e\.g\. acme\/web$/);
    }
  });

  test("refuses GitHub.com with GitHub Enterprise Server's /api/v3 path, before any request", () => {
    for (const url of ["https://api.github.com/api/v3", "https://github.com/api/v3/", "https://GITHUB.com/api/v3"]) {
      exit2(() => config({ GITHUB_API_URL: url }), /GITHUB_API_URL ends in \/api\/v3, the form of a GitHub Enterprise Server's API, but [a-z.]+ is GitHub\.com: use https:\/\/api\.github\.com/i);
    }
    expect(config({ GITHUB_API_URL: "https://ghe.example.com/api/v3" }).apiUrl).toBe("https://ghe.example.com/api/v3");
  });

  test("remembers whether OUTPUT_PATH was given, so that messages can name the default", () => {
    expect(config({}).outputPathIsDefault).toBe(true);
    expect(config({ OUTPUT_PATH: "/tmp/token" }).outputPathIsDefault).toBeUndefined();
  });

  test("takes INSTALLATION_ID only as a safe positive integer", () => {
    expect(config({ INSTALLATION_ID: " 1001 " }).installationId).toBe(1001);
    for (const id of ["0", "-1", "1e3", "12.5", "9007199254740993", "99999999999999999999", "0x10"]) exit2(() => config({ INSTALLATION_ID: id }), /INSTALLATION_ID is not a positive whole number/);
  });

  test("checks OUTPUT_PATH and METADATA_PATH as file paths, and refuses one that aliases the other", () => {
    expect(config({ OUTPUT_PATH: "  /var/run/github/token  " }).outputPath).toBe("/var/run/github/token");
    exit2(() => config({ OUTPUT_PATH: "/var/run/github/." }), /OUTPUT_PATH names a folder/);
    exit2(() => config({ OUTPUT_PATH: `/tmp/${"n".repeat(201)}` }), /OUTPUT_PATH's file name is longer than 200/);
    exit2(() => config({ OUTPUT_PATH: "/tmp/a\nb" }), /OUTPUT_PATH holds control characters/);
    exit2(() => config({ OUTPUT_PATH: "/var/run/github/token", METADATA_PATH: "/var/run/github/../github/token" }), /METADATA_PATH is the same file as OUTPUT_PATH/);
    exit2(() => config({ METADATA_PATH: "/var/run/github/" }), /METADATA_PATH names a folder/);
  });

  test("refuses credentials, a query or a fragment in GITHUB_API_URL", () => {
    exit2(() => config({ GITHUB_API_URL: "https://user:s3cr3t-pass@ghe.example.com/api/v3" }), /GITHUB_API_URL holds credentials/);
    exit2(() => config({ GITHUB_API_URL: "https://ghe.example.com/api/v3?token=abc" }), /query or fragment/);
  });

  test("says the secret holds JSON when APP_ID or PRIVATE_KEY is a JSON document", () => {
    exit2(() => config({ APP_ID: '{"value":"424242"}' }), /^APP_ID: the secret holds JSON: set remoteRef\.property in the chart's values/);
    exit2(() => parseConfig(mergeOptions({}, { APP_ID: "1", PRIVATE_KEY: JSON.stringify({ privateKey: appKeyPem }) })), /^PRIVATE_KEY: the secret holds JSON/);
  });

  test("never repeats a value that failed its check: a key pasted into the wrong variable stays out of the message", () => {
    const keyish = Buffer.from(appKeyPem).toString("base64");
    const vars = ["APP_ID", "INSTALLATION_ID", "OWNER", "REPOSITORIES", "PERMISSIONS", "OUTPUT_PATH", "TOKEN_FILE_MODE", "METADATA_PATH", "GITHUB_API_URL", "LOG_LEVEL", "REQUEST_TIMEOUT", "MAX_RETRY_WAIT", "REFRESH_INTERVAL", "LISTEN_ADDR", "REVOKE_ON_EXIT"];
    let refused = 0;
    for (const name of vars) {
      try {
        config({ [name]: keyish });
      } catch (e) {
        refused++;
        expect((e as GhappError).exitCode).toBe(2);
        expect((e as GhappError).message).not.toContain(keyish.slice(0, 16));
        expect((e as GhappError).message).toContain(name);
      }
    }
    // Every variable refuses it, OUTPUT_PATH and METADATA_PATH too: a whole key's base64 is a file name
    // longer than they take (their folder is checked at start).
    expect(refused).toBe(vars.length);
  });

  test("refuses NODE_TLS_REJECT_UNAUTHORIZED=0, which would turn off certificate checks", () => {
    exit2(() => checkEnvironment({ NODE_TLS_REJECT_UNAUTHORIZED: "0" }), /NODE_TLS_REJECT_UNAUTHORIZED is set to turn off TLS verification/);
    exit2(() => checkEnvironment({ NODE_TLS_REJECT_UNAUTHORIZED: "false" }), /NODE_EXTRA_CA_CERTS/);
    expect(() => checkEnvironment({ NODE_TLS_REJECT_UNAUTHORIZED: "1" })).not.toThrow();
    expect(() => checkEnvironment({})).not.toThrow();
  });

  test("accepts 0640 for a reader in the shared group", () => {
    expect(config({ TOKEN_FILE_MODE: "0640" }).tokenFileMode).toBe(0o640);
  });
});

describe("PERMISSIONS", () => {
  test("parses name=level pairs into GitHub's permissions object", () => {
    expect(parsePermissions("contents=read, pull_requests=write,organization_projects=admin")).toEqual({ contents: "read", pull_requests: "write", organization_projects: "admin" });
  });
  test("refuses malformed entries, unknown levels and duplicates with exit 2", () => {
    exit2(() => parsePermissions("contents"), /PERMISSIONS entry 1 is malformed/);
    exit2(() => parsePermissions("contents=maybe"), /PERMISSIONS entry 1: contents takes read or write/);
    exit2(() => parsePermissions("administration=admin"), /administration takes read or write/);
    exit2(() => parsePermissions("workflows=read"), /workflows takes write/);
    exit2(() => parsePermissions("contents=read,contents=write"), /twice/);
    exit2(() => parsePermissions(" , "), /lists no permission/);
  });
  test("checks names against GitHub's list and suggests the one meant", () => {
    exit2(() => parsePermissions("contents=read,pull_request=write"), /PERMISSIONS entry 2 names a permission GitHub does not have: did you mean pull_requests\?/);
    exit2(() => parsePermissions("contnets=read"), /did you mean contents\?/);
    exit2(() => parsePermissions("security-events=read"), /did you mean security_events\?/);
    exit2(() => parsePermissions("teleport=write"), /names a permission GitHub does not have \(the names are listed at/);
  });
});

describe("durations", () => {
  test("reads Go-style durations", () => {
    expect(parseDuration("500ms", "X")).toBe(500);
    expect(parseDuration("10s", "X")).toBe(10_000);
    expect(parseDuration("45m", "X")).toBe(2_700_000);
    expect(parseDuration("1m30s", "X")).toBe(90_000);
    expect(parseDuration("1h30m", "X")).toBe(5_400_000);
    exit2(() => parseDuration("soon", "REFRESH_INTERVAL"), /^REFRESH_INTERVAL is not a duration/);
  });
  test("refuses a bare number, naming the unit to write", () => {
    exit2(() => parseDuration("10", "REQUEST_TIMEOUT"), /^REQUEST_TIMEOUT "10" has no unit: write 10s/);
  });
  test("keeps each setting within its limits, so no timer overflows", () => {
    exit2(() => config({ REQUEST_TIMEOUT: "500ms" }), /REQUEST_TIMEOUT 500ms is outside 1s\.\.5m/);
    exit2(() => config({ REQUEST_TIMEOUT: "6m" }), /outside 1s\.\.5m/);
    exit2(() => config({ MAX_RETRY_WAIT: "2h" }), /MAX_RETRY_WAIT 2h is outside 0s\.\.1h/);
    exit2(() => config({ REFRESH_INTERVAL: "30s" }), /REFRESH_INTERVAL 30s is outside 1m\.\.55m/);
    exit2(() => config({ REFRESH_INTERVAL: "999999999h" }), /outside 1m\.\.55m/);
    expect(config({ MAX_RETRY_WAIT: "0s", REQUEST_TIMEOUT: "5m", REFRESH_INTERVAL: "55m" }).refreshIntervalMs).toBe(55 * 60_000);
  });
});
