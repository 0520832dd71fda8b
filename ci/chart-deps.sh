#!/usr/bin/env bash
# Vendors the file:// dependencies of the charts that have them (the sidecar library's example
# chart) into their git-ignored charts/ folder, so `helm template`, `helm lint` and helm-unittest
# see them on a fresh clone. Idempotent; called by ci/test.sh's set-up and ci/chart-checks.sh.
# Usage: bash ci/chart-deps.sh   (tools from ci/tools.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=ci/env.sh
source ci/env.sh
for chart in charts/*/; do
  chart=${chart%/}
  if [[ ! -f $chart/Chart.yaml ]] || ! grep -q "^dependencies:" "$chart/Chart.yaml"; then continue; fi
  helm3 dependency build "$chart" >/dev/null
  echo "chart dependencies: $chart (built)"
done
