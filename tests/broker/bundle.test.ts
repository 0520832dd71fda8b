// The token generator stays minimal: nothing of the broker (its code, Hono, zod-openapi, jose) is
// bundled into dist/ghapp-token. Bun stores a compiled bundle's strings as Latin-1 or UTF-16, so
// both are searched, and each marker is first shown to be findable in the broker's own binary.
import { describe, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { resolve } from "node:path";
import { BINARY } from "../helpers/generator.ts";
import { BROKER } from "./harness.ts";

const MARKERS = {
  "broker code": ["ghapp_broker_provisions_total", "generate-jitconfig", "label_patterns", "PENDING_RUNNER_TTL"],
  jose: ["ERR_JWKS_NO_MATCHING_KEY", "ERR_JWT_EXPIRED"],
  "@hono/zod-openapi": ["openAPIRegistry"],
  zod: ["invalid_type"],
} as const;

function contains(bytes: Buffer, word: string): boolean {
  return bytes.includes(Buffer.from(word, "latin1")) || bytes.includes(Buffer.from(word, "utf16le"));
}

describe("the ghapp-token bundle", () => {
  for (const [what, words] of Object.entries(MARKERS)) {
    test(`does not contain ${what}`, () => {
      for (const f of [BINARY, BROKER]) if (!existsSync(f)) throw new Error(`${f} is missing: run npm run build first`);
      const token = readFileSync(BINARY);
      const broker = readFileSync(BROKER);
      for (const word of words) {
        expect(`${word} in broker: ${contains(broker, word)}`).toBe(`${word} in broker: true`);
        expect(`${word} in ghapp-token: ${contains(token, word)}`).toBe(`${word} in ghapp-token: false`);
      }
    });
  }

  test("the token entry point imports nothing from generator/src/broker", () => {
    const seen = new Set<string>();
    const visit = (file: string) => {
      if (seen.has(file)) return;
      seen.add(file);
      const text = readFileSync(file, "utf8");
      for (const m of text.matchAll(/(?:from|import\()\s*["'](\.{1,2}\/[^"']+)["']/g)) visit(resolve(file, "..", m[1]!));
    };
    visit(resolve(import.meta.dir, "../../generator/src/token/main.ts"));
    const broker = [...seen].filter((f) => f.includes("/generator/src/broker/"));
    expect(broker).toEqual([]);
    expect(seen.size).toBeGreaterThan(5);
  });

  test("does not contain semver: jsonwebtoken's version checks are folded at build time", () => {
    // ci/bundle-plugins.ts; tests/unit/bundle-plugins.test.ts shows the marker is semver's and
    // that a build without the plugin carries it.
    expect(contains(readFileSync(BINARY), "SEMVER_SPEC_VERSION")).toBe(false);
  });
});
