// Compiles the generator into two self-contained executables, dist/ghapp-token and
// dist/ghapp-runner-broker, with Bun.build (the plugins in ci/bundle-plugins.ts need its API).
// The version comes from package.json and is baked in with a define, so the binary reports the
// release it was built from (falls back to "development" in `bun run`).
// `npm run build` and the Dockerfile both run this script, so the image ships exactly what the
// tests test; the Dockerfile only adds --platform (its TARGETPLATFORM).
//
// Usage: bun run ci/build.ts [--target bun-linux-x64-baseline|bun-linux-arm64|bun-linux-x64-musl|...]
//                            [--platform linux/amd64|linux/arm64] [--outfile PATH]
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { parseArgs } from "node:util";
import pkg from "../package.json" with { type: "json" };
import { foldRuntimeVersionChecks } from "./bundle-plugins.ts";

/** Docker platforms (buildx's TARGETPLATFORM) and the Bun target that runs on each. */
export const BUN_TARGETS: Record<string, string> = {
  // baseline: Bun's default x64 build needs AVX2 and dies with SIGILL on older CPUs and on VMs whose
  // CPU model hides it (QEMU's qemu64); the baseline build is the same size and, for a mint, as
  // fast (npm run bench), so the image runs on every amd64 node.
  "linux/amd64": "bun-linux-x64-baseline",
  "linux/arm64": "bun-linux-arm64",
  "linux/arm64/v8": "bun-linux-arm64",
};

/** The two executables: the token generator and the runner broker (docs/runner-broker.md). */
export const ENTRY_POINTS = {
  "ghapp-token": "generator/src/token/main.ts",
  "ghapp-runner-broker": "generator/src/broker/main.ts",
} as const;

export interface BuildOptions {
  outfile: string;
  /** which executable (default ghapp-token) */
  entry?: keyof typeof ENTRY_POINTS;
  /** another entry point compiled exactly as `entry` is (tests/bench/import-probes.ts) */
  entryPoint?: string;
  target?: string;
  /**
   * How deep to precompile bytecode. The default (full) is what ships; ci/image-size.ts passes
   * the others only to measure them as candidates.
   */
  bytecode?: "top-level" | "full" | "none";
}

/**
 * ghapp-token's recorded bytecode layouts (ci/record-bytecode-order.ts, `npm run build:order`),
 * the most common start first: a mint (every initContainer), then a refresh sidecar.
 */
export const BYTECODE_ORDER = ["ci/bytecode-order/mint.order", "ci/bytecode-order/refresh.order"].map((f) => join(import.meta.dir, "..", f));

/**
 * The JIT policy ghapp-token starts with: JavaScriptCore's tier-up thresholds times this. A mint
 * runs each function a few times, so JIT compiling it costs more than it gives (about 2 ms of a
 * mint, npm run bench). The image goes further and turns the JIT off (IMAGE.ownEnv in
 * ci/image-rootfs.ts); this is what the bare executable gets.
 */
export const TOKEN_JIT_POLICY = 10;

/** The one definition of the build, for every caller: Bun.build's configuration. */
export function buildConfig({ outfile, target, bytecode = "full", entry = "ghapp-token", entryPoint }: BuildOptions): Bun.BuildConfig {
  const token = entry === "ghapp-token";
  const order = bytecode === "full" && token ? BYTECODE_ORDER.filter((f) => existsSync(f)) : [];
  return {
    entrypoints: [entryPoint ?? join(import.meta.dir, "..", ENTRY_POINTS[entry])],
    compile: {
      outfile,
      ...(target ? { target: target as Bun.Build.CompileTarget } : {}),
      // A compiled Bun executable reads .env and bunfig.toml from its working directory by
      // default: a stray .env could then feed APP_ID or PRIVATE_KEY without anyone seeing it in
      // the pod spec. Configuration comes from the environment and flags only.
      autoloadDotenv: false,
      autoloadBunfig: false,
      // Profile-guided layout: the bytecode a mint and a sidecar run sits together at the front,
      // so a start reads and keeps fewer of the executable's pages (npm run bench; the profiles
      // hold function hashes, no code, and still apply as the code changes).
      ...(order.length ? { bytecodeOrder: order } : {}),
      ...(token ? { jitPolicy: TOKEN_JIT_POLICY } : {}),
    },
    target: "bun",
    format: "esm",
    minify: true,
    sourcemap: "none",
    // Ship precompiled bytecode for every function (full depth): the bundled libraries are
    // CommonJS, whose module bodies are functions, so top-level-only bytecode left most of them
    // to be parsed and compiled at every start. Full depth makes a mint about a third faster
    // (npm run bench) for 2.4 MB more executable, 1 MB more compressed; the release pushes the
    // layers recompressed with zstd's best level, which keeps the image under 50 MB
    // (docs/image.md). Bytecode is architecture-independent, so the arm64 image's cross-compiled
    // bytecode is used too (a mismatch only falls back to parsing).
    bytecode: bytecode !== "none",
    ...(bytecode === "top-level" ? { bytecodeDepth: 0 } : {}),
    // ghapp-token in chunks: a mint loads only what a mint runs; the sidecar's HTTP server and
    // prom-client, yargs and the other commands load when used (all inside the one executable).
    splitting: token,
    define: {
      // Without it Bun's bundler bakes in NODE_ENV=development, and winston's debug helper
      // (@dabh/diagnostics) then loads its development build at every start: a TTY check, colour
      // conversion tables and more, for debug output nothing enables (npm run bench: several ms).
      "process.env.NODE_ENV": JSON.stringify("production"),
      GHAPP_TOKEN_VERSION: JSON.stringify(pkg.version),
    },
    plugins: [foldRuntimeVersionChecks],
  };
}

/** Fails unless this is the Bun package.json pins: the executable embeds the Bun that builds it. */
export function requirePinnedBun(): void {
  if (Bun.version === pkg.devDependencies.bun) return;
  console.error(
    `ci/build.ts: this is Bun ${Bun.version}, but package.json pins bun ${pkg.devDependencies.bun}, the runtime the ` +
      `executable embeds. Build with npm run build (node_modules/.bin/bun) or in the oven/bun:${pkg.devDependencies.bun} image.`,
  );
  process.exit(2);
}

/** Builds with the pinned Bun; a failed build throws with Bun's messages. */
export async function build(options: BuildOptions): Promise<void> {
  requirePinnedBun();
  const result = await Bun.build(buildConfig(options)).catch((e: unknown) => ({ success: false as const, logs: [e] }));
  if (!result.success) throw new Error(`bun build of ${options.entryPoint ?? ENTRY_POINTS[options.entry ?? "ghapp-token"]} failed:\n${result.logs.map(String).join("\n")}`);
}

if (import.meta.main) {
  const { values } = parseArgs({
    options: {
      target: { type: "string" },
      platform: { type: "string" },
      outfile: { type: "string", default: "dist/ghapp-token" },
    },
  });
  let target = values.target;
  // Without --target or --platform, build for this machine's platform the way the image does, so
  // the tests run the same Bun runtime build that ships.
  const hostPlatform = process.platform === "linux" ? { x64: "linux/amd64", arm64: "linux/arm64" }[process.arch as string] : undefined;
  if (!target && !values.platform && hostPlatform) values.platform = hostPlatform;
  if (values.platform) {
    const fromPlatform = BUN_TARGETS[values.platform];
    if (!fromPlatform) {
      console.error(`ci/build.ts: no Bun target for platform ${values.platform}; supported: ${Object.keys(BUN_TARGETS).join(", ")}`);
      process.exit(2);
    }
    if (target && target !== fromPlatform) {
      console.error(`ci/build.ts: --target ${target} contradicts --platform ${values.platform} (${fromPlatform})`);
      process.exit(2);
    }
    target = fromPlatform;
  }
  await build({ outfile: values.outfile!, ...(target ? { target } : {}) });
  console.log(`built ${values.outfile} (ghapp-token ${pkg.version}${target ? `, ${target}` : ""})`);
  // The broker beside it (dist/ghapp-runner-broker): its own bundle, so nothing of it reaches ghapp-token.
  const brokerOut = join(dirname(values.outfile!), "ghapp-runner-broker");
  await build({ outfile: brokerOut, entry: "ghapp-runner-broker", ...(target ? { target } : {}) });
  console.log(`built ${brokerOut} (ghapp-runner-broker ${pkg.version}${target ? `, ${target}` : ""})`);
}
