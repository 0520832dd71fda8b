#!/usr/bin/env bash
# `npm run bench`: builds the binary and prints the performance figures and the targets, each
# marked met or NOT MET for this run (never fails on a figure: a shared machine is noisy; compare
# the figures of one run with each other). Needs Bun (node_modules), Go (the Go anchor) and a C
# compiler (tests/bench/launch.c, which measures each process's own peak memory).
#   1. tests/bench/import-probes.ts  where a mint's time goes, import by import
#   2. tests/bench/mint-bench.ts     mint end to end beside the Node and Go anchors
#   3. every other tests/bench/*-bench.ts (the refresh sidecar's memory, ...)
# BENCH_RUNS, PROBE_RUNS, SOAK_REFRESHES and IDLE_SECONDS change the counts.
set -euo pipefail
cd "$(dirname "$0")/.."
bash ci/npm-install.sh >/dev/null
export PATH="$PWD/node_modules/.bin:$PATH"
command -v go >/dev/null || { echo "ci/bench.sh: Go is required (the Go anchor, tests/bench/go-mint)" >&2; exit 1; }
command -v cc >/dev/null || { echo "ci/bench.sh: a C compiler is required (tests/bench/launch.c; Debian: apt-get install gcc)" >&2; exit 1; }
npm run --silent build >/dev/null
bun run tests/bench/import-probes.ts
bun run tests/bench/mint-bench.ts
for extra in tests/bench/*-bench.ts; do
  [[ $extra == tests/bench/mint-bench.ts ]] || bun run "$extra"
done
