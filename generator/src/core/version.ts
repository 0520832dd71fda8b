// The release version, baked in by `bun build --define GHAPP_TOKEN_VERSION=...` (ci/build.ts).
// Running from source (`bun generator/src/token/main.ts`) reports "development".
declare const GHAPP_TOKEN_VERSION: string | undefined;

export const VERSION: string = typeof GHAPP_TOKEN_VERSION === "string" ? GHAPP_TOKEN_VERSION : "development";
export const USER_AGENT = `ghapp-token/${VERSION}`;
