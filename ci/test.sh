#!/usr/bin/env bash
# The README's test command (`npm test`): sets up everything the suites need on a fresh
# machine (npm packages, Debian packages, pinned Go/Python tools in .tools/), then runs
# every suite and prints one closing line "N passed, N failed". Exits non-zero when any
# check failed. Every stage runs even after an earlier one fails, so one run shows all
# failures; set-up failures stop at once because nothing after them could be trusted.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
ROOT=$PWD
RESULTS=$ROOT/.cache/results
rm -rf "$RESULTS" && mkdir -p "$RESULTS"

say() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
die() { printf 'ci/test.sh: %s\n' "$*" >&2; exit 1; }

# ---- set-up (idempotent: each step skips work already done) -------------------------
say "set-up: npm packages"
bash ci/npm-install.sh || die "npm install failed"
# Bun, tsc and helm-docs' friends come from node_modules; nothing global is assumed.
export PATH="$ROOT/node_modules/.bin:$PATH"
say "set-up: system packages (gh, bubblewrap, openssl, shellcheck, postgresql, chromium)"
bash ci/install-system-deps.sh || die "installing system packages failed"
say "set-up: pinned tools in .tools/ (helm 3 and 4, helm-unittest, ct, actionlint, argo-validate, hadolint, the test control plane, ...)"
bash ci/tools.sh || die "building tools failed"
# shellcheck source=ci/env.sh
source ci/env.sh
say "set-up: chart dependencies (file:// charts vendored into charts/*/charts/)"
bash ci/chart-deps.sh || die "building chart dependencies failed"

# ---- checks -------------------------------------------------------------------------
# A check that is not a test runner records one pass or one fail in $RESULTS/checks.txt.
check() {
  local name=$1; shift
  say "$name"
  if "$@"; then echo "pass $name" >> "$RESULTS/checks.txt"
  else echo "fail $name" >> "$RESULTS/checks.txt"; printf '\033[31mFAILED: %s\033[0m\n' "$name"; fi
}

check "typecheck (tsc --noEmit, strict)" npm run --silent typecheck
check "build dist/ghapp-token" npm run --silent build
check "Dockerfile lint (hadolint)" hadolint Dockerfile

# bun test: unit, simulator, end-to-end (compiled binary), container (bwrap), chart validation, and
# tests/controlplane (the chart on a real API server with the real ESO and Argo controllers).
# --reporter=junit writes the counts the closing line is built from; the console output stays.
# Every simulator the tests start (in-process or as tests/simulator/cli.ts) logs its exchanges into
# one folder; the conformance check then validates them all against GitHub's OpenAPI description.
export GHAPP_SIM_EXCHANGES_DIR=$RESULTS/simulator-exchanges
check "bun test (unit, simulator, e2e, container, chart, control plane)" \
  bun test --reporter=junit --reporter-outfile="$RESULTS/bun-test.xml"
# Its one-line report (operations, exchanges, failures) goes into conformance.txt, which the summary
# prints at the end; a failure names the operation, the status and the first schema error.
check "simulator conformance (every answer of the simulator against GitHub's OpenAPI description)" \
  bun run tests/simulator/conformance-cli.ts "$GHAPP_SIM_EXCHANGES_DIR" --report "$RESULTS/conformance.txt"

# helm lint (Helm 3 and 4), ct lint, helm-unittest (JUnit into $RESULTS), helm-docs, actionlint.
check "chart checks" bash ci/chart-checks.sh "$RESULTS"

say "summary"
bun run ci/summarize.ts "$RESULTS"
