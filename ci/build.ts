// Compiles the generator into one self-contained executable, dist/ghapp-token.
// The version comes from package.json and is baked in with --define, so the binary
// reports the release it was built from (falls back to "development" in `bun run`).
//
// Usage: bun run ci/build.ts [--target bun-linux-x64|bun-linux-arm64|bun-linux-x64-musl|...] [--outfile PATH]
import { $ } from "bun";
import { parseArgs } from "node:util";
import pkg from "../package.json" with { type: "json" };

const { values } = parseArgs({
  options: {
    target: { type: "string" },
    outfile: { type: "string", default: "dist/ghapp-token" },
  },
});

const args = [
  "build",
  "generator/src/main.ts",
  "--compile",
  "--minify",
  // Ship precompiled bytecode: parsing the bundled libraries was most of the start-up time
  // (about 75 ms of a 100 ms mint; see npm run bench).
  "--bytecode",
  "--format=esm",
  "--sourcemap=none",
  `--define`,
  `GHAPP_TOKEN_VERSION=${JSON.stringify(pkg.version)}`,
  "--outfile",
  values.outfile!,
];
if (values.target) args.push(`--target=${values.target}`);

await $`${process.execPath} ${args}`;
console.log(`built ${values.outfile} (ghapp-token ${pkg.version}${values.target ? `, ${values.target}` : ""})`);
