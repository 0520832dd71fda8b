#!/usr/bin/env bash
# `npm run demo`: builds the binary, starts the GitHub API simulator, mints a token the way the
# initContainer does and shows what happened. Needs only Node and npm.
set -euo pipefail
cd "$(dirname "$0")/.."
bash ci/npm-install.sh >/dev/null
export PATH="$PWD/node_modules/.bin:$PATH"
npm run --silent build
exec bun run ci/demo.ts
