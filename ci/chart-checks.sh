#!/usr/bin/env bash
# Every check of the charts that is not a bun test: helm lint --strict with Helm 3 and Helm 4
# (default values and each values-examples/*.values.yaml), ct lint, helm-unittest (JUnit into
# the results folder), helm-docs freshness of each chart README, shellcheck on ci/*.sh and
# actionlint on the GitHub workflows. Runs them all, reports each, and exits non-zero when any failed.
# Usage: bash ci/chart-checks.sh [RESULTS_DIR]   (tools from ci/tools.sh; source ci/env.sh first)
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
# shellcheck source=ci/env.sh
source ci/env.sh
RESULTS=${1:-.cache/results}
mkdir -p "$RESULTS"
failed=()
run() {
  local name=$1; shift
  echo "--- $name"
  if "$@"; then echo "ok: $name"; else echo "FAILED: $name"; failed+=("$name"); fi
}

charts=()
for c in charts/*/; do [[ -f $c/Chart.yaml ]] && charts+=("${c%/}"); done

# Charts with file:// dependencies (the library's example chart) need them vendored first.
run "chart dependencies" bash ci/chart-deps.sh

# Which chart a values example is for: its first line says, `# Chart: charts/<name>`.
chart_for() { sed -n '1s/^# Chart: \(charts\/[a-z0-9-]*\).*/\1/p' "$1"; }

# helm lint reports a template's `fail` as [INFO] and then passes without having rendered the
# chart: a lint that did not render is a failed lint here.
lint() {
  local out
  out=$("$@" 2>&1); local code=$?
  echo "$out"
  if grep -q '\[INFO\] Fail:' <<<"$out"; then echo "the chart did not render (a template failed): see the Fail line above"; return 1; fi
  return $code
}

for chart in "${charts[@]}"; do
  type=$(sed -n 's/^type: *//p' "$chart/Chart.yaml")
  [[ $type == library ]] && continue
  # A chart with required values (the runner broker's organisation and issuer) cannot render with
  # its defaults: it carries ct's ci/*-values.yaml instead, and is linted with each of them.
  if compgen -G "$chart/ci/*-values.yaml" >/dev/null; then
    for f in "$chart"/ci/*-values.yaml; do
      for helm in helm3 helm4; do
        run "$helm lint --strict $chart -f $f" lint "$helm" lint --strict --namespace runners "$chart" -f "$f"
      done
    done
    continue
  fi
  for helm in helm3 helm4; do
    run "$helm lint --strict $chart" lint "$helm" lint --strict "$chart"
  done
done
# The examples are written for `helm install -n workflows` (as tests/chart/render.ts renders them):
# lint them there, since a namespace they do not admit (a ClusterSecretStore's conditions) makes
# the chart `fail`, which helm lint only reports as INFO and then passes without rendering.
for f in values-examples/*.values.yaml; do
  [[ -e $f ]] || continue
  chart=$(chart_for "$f")
  if [[ -z $chart || ! -f $chart/Chart.yaml ]]; then
    echo "FAILED: $f: its first line must name the chart it is for, e.g. '# Chart: charts/ghapp-tokens'"; failed+=("chart of $f"); continue
  fi
  for helm in helm3 helm4; do
    run "$helm lint --strict $chart -f $f" lint "$helm" lint --strict --namespace workflows "$chart" -f "$f"
  done
done

# tests/chart/render.ts validates External Secrets objects against the ESO CRDs' schemas, vendored in
# tests/chart/crds so the tests need nothing outside the repository. Where the reference CRDs are at
# hand (GHAPP_REFERENCE_CRDS, default /work/shared/reference/crds), the copy must still be theirs.
crds=${GHAPP_REFERENCE_CRDS:-/work/shared/reference/crds}
if [[ -d $crds ]]; then
  run "vendored ESO CRD schemas match $crds" bun tests/chart/crds/vendor.ts --check "$crds"
else
  echo "--- vendored ESO CRD schemas: $crds is not here, nothing to compare them with"
fi

run "ct lint" ct lint --config ci/ct.yaml --charts "$(IFS=,; echo "${charts[*]}")"

for chart in "${charts[@]}"; do
  [[ -d $chart/tests ]] || continue
  name=$(basename "$chart")
  run "helm unittest $chart" helm3 unittest --strict -t JUnit -o "$RESULTS/helm-unittest-$name.xml" "$chart"
done

docs_fresh() {
  local chart=$1 copy
  copy=$(mktemp -d)
  cp -r "$chart" "$copy/"
  helm-docs --chart-search-root "$copy" --log-level warning >/dev/null
  if ! diff -u "$chart/README.md" "$copy/$(basename "$chart")/README.md"; then
    echo "$chart/README.md is out of date: run 'source ci/env.sh && helm-docs --chart-search-root charts' and commit it"
    rm -rf "$copy"; return 1
  fi
  rm -rf "$copy"
}
for chart in "${charts[@]}"; do
  [[ -f $chart/values.yaml ]] && run "helm-docs up to date: $chart" docs_fresh "$chart"
done

# The pipeline's scripts, and (through actionlint, which runs shellcheck when it is on PATH) the
# run: blocks of the workflows. ci/install-system-deps.sh installs shellcheck.
if command -v shellcheck >/dev/null; then
  run "shellcheck ci/*.sh" shellcheck -x ci/*.sh .ci/run
else
  echo "FAILED: shellcheck is not installed: run 'bash ci/install-system-deps.sh'"; failed+=("shellcheck")
fi
if compgen -G ".github/workflows/*.y*ml" >/dev/null; then
  run "actionlint" actionlint
fi

if ((${#failed[@]})); then
  printf '\nchart checks failed: %s\n' "${failed[*]}"
  exit 1
fi
echo "all chart checks passed"
