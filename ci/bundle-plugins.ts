// Bundler plugins for ci/build.ts: work a dependency would redo at every start, done once at build.
//
// jsonwebtoken decides at load time which key types the runtime supports, by asking semver
// whether process.version is recent enough (lib/psSupported.js, asymmetricKeyDetailsSupported.js,
// rsaPssKeyDetailsSupported.js). That loads all of semver and parses three version ranges on every
// mint: about 1.5 ms of a ~20 ms start (npm run bench). The executable embeds the Bun that builds
// it (ci/build.ts refuses any other), so process.version at build time is process.version at run
// time: each module is evaluated here, by the same runtime, and replaced by its answer. The
// answers are what jsonwebtoken computes; semver is simply no longer needed to compute them.
// tests/unit/bundle-plugins.test.ts checks the folded values against jsonwebtoken's own, and
// tests/broker/bundle.test.ts that no semver is left in ghapp-token.
import type { BunPlugin } from "bun";

/** jsonwebtoken's runtime-version checks: each module exports one boolean. */
export const JSONWEBTOKEN_VERSION_CHECKS = /[\\/]jsonwebtoken[\\/]lib[\\/](psSupported|asymmetricKeyDetailsSupported|rsaPssKeyDetailsSupported)\.js$/;

export const foldRuntimeVersionChecks: BunPlugin = {
  name: "fold jsonwebtoken's runtime version checks",
  setup(build) {
    build.onLoad({ filter: JSONWEBTOKEN_VERSION_CHECKS }, (args) => {
      const value: unknown = require(args.path);
      if (typeof value !== "boolean") {
        throw new Error(`ci/bundle-plugins.ts: ${args.path} no longer exports a boolean (jsonwebtoken changed); update or drop the plugin`);
      }
      return { contents: `module.exports = ${value};\n`, loader: "js" };
    });
  },
};
