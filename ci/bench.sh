#!/usr/bin/env bash
# `npm run bench`: builds the binary and prints the performance figures (never fails on them).
set -euo pipefail
cd "$(dirname "$0")/.."
bash ci/npm-install.sh >/dev/null
export PATH="$PWD/node_modules/.bin:$PATH"
npm run --silent build >/dev/null
bun run tests/bench/mint-bench.ts
for extra in tests/bench/*-bench.ts; do
  [[ $extra == tests/bench/mint-bench.ts ]] || bun run "$extra"
done
