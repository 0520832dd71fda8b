import { describe, expect, test } from "bun:test";
import { parseConfig } from "../../generator/src/token/config.ts";
import { mergeOptions } from "../../generator/src/token/options.ts";
import { parsePermissions } from "../../generator/src/core/permissions.ts";
import { parseDuration } from "../../generator/src/core/duration.ts";
import { GhappError } from "../../generator/src/core/errors.ts";

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
    exit2(() => config({ INSTALLATION_ID: "abc" }), /INSTALLATION_ID "abc" is not a positive number/);
    exit2(() => config({ REPOSITORIES: "a/b/c" }), /REPOSITORIES entry "a\/b\/c"/);
    exit2(() => config({ REPOSITORIES: "acme/api,other/web" }), /several owners/);
    exit2(() => config({ OWNER: "acme", REPOSITORIES: "other/web" }), /disagree/);
    exit2(() => config({ TOKEN_FILE_MODE: "0644" }), /lets every user read/);
    exit2(() => config({ TOKEN_FILE_MODE: "rw" }), /not an octal mode/);
    exit2(() => config({ GITHUB_API_URL: "api.github.com" }), /GITHUB_API_URL "api.github.com" is not a URL/);
    exit2(() => config({ LOG_LEVEL: "loud" }), /LOG_LEVEL "loud"/);
    exit2(() => config({ OUTPUT_PATH: "/var/run/github/" }), /names a folder/);
  });

  test("accepts 0640 for a reader in the shared group", () => {
    expect(config({ TOKEN_FILE_MODE: "0640" }).tokenFileMode).toBe(0o640);
  });
});

describe("PERMISSIONS", () => {
  test("parses name=level pairs into GitHub's permissions object", () => {
    expect(parsePermissions("contents=read, pull_requests=write,administration=admin")).toEqual({ contents: "read", pull_requests: "write", administration: "admin" });
  });
  test("refuses malformed entries, unknown levels and duplicates with exit 2", () => {
    exit2(() => parsePermissions("contents"), /PERMISSIONS entry "contents" is malformed/);
    exit2(() => parsePermissions("contents=maybe"), /level "maybe" for contents/);
    exit2(() => parsePermissions("contents=read,contents=write"), /twice/);
    exit2(() => parsePermissions(" , "), /lists no permission/);
  });
});

describe("durations", () => {
  test("reads the forms operators write", () => {
    expect(parseDuration("500ms", "X")).toBe(500);
    expect(parseDuration("10s", "X")).toBe(10_000);
    expect(parseDuration("45m", "X")).toBe(2_700_000);
    expect(parseDuration("1m30s", "X")).toBe(90_000);
    expect(parseDuration("2", "X")).toBe(2_000);
    exit2(() => parseDuration("soon", "REFRESH_INTERVAL"), /REFRESH_INTERVAL "soon" is not a duration/);
  });
});
