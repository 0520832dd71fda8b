// Compiles the generator into one self-contained executable, dist/ghapp-token.
// The version comes from package.json and is baked in with --define, so the binary
// reports the release it was built from (falls back to "development" in `bun run`).
// `npm run build` and the Dockerfile both run this script, so the image ships exactly what the
// tests test; the Dockerfile only adds --platform (its TARGETPLATFORM).
//
// Usage: bun run ci/build.ts [--target bun-linux-x64-baseline|bun-linux-arm64|bun-linux-x64-musl|...]
//                            [--platform linux/amd64|linux/arm64] [--outfile PATH]
import { $ } from "bun";
import { dirname, join } from "node:path";
import { parseArgs } from "node:util";
import pkg from "../package.json" with { type: "json" };

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
  target?: string;
  /**
   * How deep to precompile bytecode. The default (full) is what ships; ci/image-size.ts passes
   * the others only to measure them as candidates.
   */
  bytecode?: "top-level" | "full" | "none";
}

/** The `bun build` arguments: the one definition of the build, for every caller. */
export function buildArgs({ outfile, target, bytecode = "full", entry = "ghapp-token" }: BuildOptions): string[] {
  const args = ["build", ENTRY_POINTS[entry], "--compile", "--minify"];
  // Ship precompiled bytecode for every function (full depth): the bundled libraries are CommonJS,
  // whose module bodies are functions, so top-level-only bytecode (--bytecode-depth=0) left most
  // of them to be parsed and compiled at every start. Full depth makes a mint about a third
  // faster (npm run bench) for 2.4 MB more executable, 1 MB more compressed; the release pushes
  // the layers recompressed with zstd's best level, which keeps the image under 50 MB
  // (docs/image.md). Bytecode is architecture-independent, so the arm64 image's cross-compiled
  // bytecode is used too (a mismatch only falls back to parsing).
  if (bytecode === "top-level") args.push("--bytecode", "--bytecode-depth=0");
  if (bytecode === "full") args.push("--bytecode");
  // A compiled Bun executable reads .env and bunfig.toml from its working directory by default:
  // a stray .env could then feed APP_ID or PRIVATE_KEY without anyone seeing it in the pod spec.
  // Configuration comes from the environment and flags only.
  args.push("--no-compile-autoload-dotenv", "--no-compile-autoload-bunfig");
  // Without it Bun's bundler bakes in NODE_ENV=development, and winston's debug helper
  // (@dabh/diagnostics) then loads its development build at every start: a TTY check, colour
  // conversion tables and more, for debug output nothing enables (npm run bench: several ms).
  args.push("--define", 'process.env.NODE_ENV="production"');
  args.push("--format=esm", "--sourcemap=none", "--define", `GHAPP_TOKEN_VERSION=${JSON.stringify(pkg.version)}`, "--outfile", outfile);
  if (target) args.push(`--target=${target}`);
  return args;
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

/** Builds with the pinned Bun; `quiet` hides Bun's own report (ci/image-size.ts builds several). */
export async function build(options: BuildOptions, { quiet = true } = {}): Promise<void> {
  requirePinnedBun();
  const run = $`${process.execPath} ${buildArgs(options)}`;
  await (quiet ? run.quiet() : run);
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
  await build({ outfile: values.outfile!, ...(target ? { target } : {}) }, { quiet: false });
  console.log(`built ${values.outfile} (ghapp-token ${pkg.version}${target ? `, ${target}` : ""})`);
  // The broker beside it (dist/ghapp-runner-broker): its own bundle, so nothing of it reaches ghapp-token.
  const brokerOut = join(dirname(values.outfile!), "ghapp-runner-broker");
  await build({ outfile: brokerOut, entry: "ghapp-runner-broker", ...(target ? { target } : {}) }, { quiet: false });
  console.log(`built ${brokerOut} (ghapp-runner-broker ${pkg.version}${target ? `, ${target}` : ""})`);
}
