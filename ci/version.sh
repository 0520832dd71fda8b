#!/usr/bin/env bash
# The project has one version, package.json's "version": the generator bakes it in at build
# (ci/build.ts), the release tags the image with it, and every chart that names the image or the
# release carries it. This script prints it, checks that every copy agrees, and bumps them all.
#
# The copies:
#   package-lock.json                         version (twice: top level and packages[""])
#   charts/ghapp-tokens/Chart.yaml            version, appVersion (the image tag defaults to appVersion)
#   charts/ghapp-token-sidecar/Chart.yaml     version, appVersion
#   charts/ghapp-token-sidecar/values.yaml    githubApp.image.tag
#   charts/ghapp-token-sidecar/templates/_sidecar.tpl   the tag's default (a library cannot read
#                                             its own appVersion: .Chart is the including chart's)
#   charts/ghapp-token-sidecar-example/Chart.yaml and Chart.lock   the library's version it depends on
#   charts/ghapp-runner-broker/Chart.yaml     version, appVersion (its image tag defaults to appVersion)
#   charts/ghapp-runner-broker/Chart.yaml and Chart.lock   the ghapp-tokens version it depends on
# (the example chart's own version and appVersion are an example application's, not ours).
#
# Usage: bash ci/version.sh                    print the version
#        bash ci/version.sh --check [--tag T]  exit 1 unless every copy agrees; with --tag, also
#                                              unless T (vX.Y.Z or refs/tags/vX.Y.Z) is v<version>
#        bash ci/version.sh --set X.Y.Z        write X.Y.Z everywhere, refresh Chart.lock and the
#                                              chart READMEs (needs the tools: bash ci/tools.sh)
set -euo pipefail
cd "$(dirname "$0")/.."

APP=charts/ghapp-tokens
LIB=charts/ghapp-token-sidecar
EXAMPLE=charts/ghapp-token-sidecar-example
BROKER=charts/ghapp-runner-broker
# SemVer without build metadata: "+" is not allowed in an OCI tag, and image and chart share it.
SEMVER='^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-[0-9A-Za-z.-]+)?$'

die() { echo "ci/version.sh: $*" >&2; exit 1; }
usage() { echo "usage: bash ci/version.sh [--check [--tag vX.Y.Z] | --set X.Y.Z]" >&2; exit 2; }

command -v node >/dev/null || die "node is required (Node 20, as for npm test)"
json_version() { node -p 'const j = require(process.argv[1]); process.argv[2] === "root" ? j.packages[""].version : j.version' "./$1" "${2:-}"; }

# A Chart.yaml top-level key (version, appVersion), quotes removed.
chart_key() { sed -n "s/^$2:[[:space:]]*\"\{0,1\}\([^\"[:space:]]*\)\"\{0,1\}[[:space:]]*\$/\1/p" "$1"; }
# The version of a dependency (default ghapp-token-sidecar) in a dependencies list (Chart.yaml or Chart.lock).
dependency_version() {
  awk -v name="${2:-ghapp-token-sidecar}" '$0 ~ "^[[:space:]]*- name:[[:space:]]*" name "[[:space:]]*$" { dep = 1; next }
       /^[[:space:]]*- / { dep = 0 }
       dep && /^[[:space:]]+version:/ { v = $2; gsub(/"/, "", v); print v; exit }' "$1"
}
lib_values_tag() { sed -n 's/^    tag:[[:space:]]*"\([^"]*\)"[[:space:]]*$/\1/p' "$LIB/values.yaml"; }
# shellcheck disable=SC2016 # $image is template text to match, not a shell variable
lib_template_tag() { sed -n 's/.*(\$image\.tag | default "\([^"]*\)").*/\1/p' "$LIB/templates/_sidecar.tpl"; }

# Every copy as "WHERE<TAB>VALUE".
copies() {
  printf '%s\t%s\n' \
    "package-lock.json version" "$(json_version package-lock.json)" \
    "package-lock.json packages[\"\"].version" "$(json_version package-lock.json root)" \
    "$APP/Chart.yaml version" "$(chart_key "$APP/Chart.yaml" version)" \
    "$APP/Chart.yaml appVersion" "$(chart_key "$APP/Chart.yaml" appVersion)" \
    "$LIB/Chart.yaml version" "$(chart_key "$LIB/Chart.yaml" version)" \
    "$LIB/Chart.yaml appVersion" "$(chart_key "$LIB/Chart.yaml" appVersion)" \
    "$LIB/values.yaml githubApp.image.tag" "$(lib_values_tag)" \
    "$LIB/templates/_sidecar.tpl default image tag" "$(lib_template_tag)" \
    "$EXAMPLE/Chart.yaml dependency ghapp-token-sidecar" "$(dependency_version "$EXAMPLE/Chart.yaml")" \
    "$EXAMPLE/Chart.lock dependency ghapp-token-sidecar" "$(dependency_version "$EXAMPLE/Chart.lock")" \
    "$BROKER/Chart.yaml version" "$(chart_key "$BROKER/Chart.yaml" version)" \
    "$BROKER/Chart.yaml appVersion" "$(chart_key "$BROKER/Chart.yaml" appVersion)" \
    "$BROKER/Chart.yaml dependency ghapp-tokens" "$(dependency_version "$BROKER/Chart.yaml" ghapp-tokens)" \
    "$BROKER/Chart.lock dependency ghapp-tokens" "$(dependency_version "$BROKER/Chart.lock" ghapp-tokens)"
}

VERSION=$(json_version package.json)

check() {
  local tag=${1:-} bad=0 where value
  [[ $VERSION =~ $SEMVER ]] || { echo "package.json version \"$VERSION\" is not X.Y.Z or X.Y.Z-pre (no +build: OCI tags refuse it)"; bad=1; }
  while IFS=$'\t' read -r where value; do
    if [[ -z $value ]]; then
      echo "MISSING  $where: not found (did the file's layout change? update ci/version.sh)"; bad=1
    elif [[ $value != "$VERSION" ]]; then
      echo "MISMATCH $where: $value, package.json says $VERSION"; bad=1
    fi
  done < <(copies)
  if [[ -n $tag ]]; then
    tag=${tag#refs/tags/}
    if [[ $tag != "v$VERSION" ]]; then
      echo "MISMATCH git tag $tag: the release of package.json's version $VERSION is tagged v$VERSION"; bad=1
    fi
  fi
  if ((bad)); then
    echo "versions disagree: bump them together with 'bash ci/version.sh --set X.Y.Z'" >&2
    return 1
  fi
  echo "version $VERSION: package.json and every chart agree${tag:+, and so does tag $tag}"
}

set_version() {
  local new=$1
  [[ $new =~ $SEMVER ]] || die "\"$new\" is not X.Y.Z or X.Y.Z-pre (no +build: OCI tags refuse it)"
  # shellcheck source=ci/env.sh
  source ci/env.sh
  if ! command -v helm3 >/dev/null || ! command -v helm-docs >/dev/null; then
    die "helm3 and helm-docs are needed to refresh Chart.lock and the chart READMEs: run 'bash ci/tools.sh' first"
  fi
  node -e '
    const fs = require("fs");
    const v = process.argv[1];
    for (const f of ["package.json", "package-lock.json"]) {
      const j = JSON.parse(fs.readFileSync(f, "utf8"));
      j.version = v;
      if (j.packages && j.packages[""]) j.packages[""].version = v;
      fs.writeFileSync(f, JSON.stringify(j, null, 2) + "\n");
    }' "$new"
  for chart in "$APP" "$LIB" "$BROKER"; do
    sed -i -E "s/^version:.*/version: $new/; s/^appVersion:.*/appVersion: \"$new\"/" "$chart/Chart.yaml"
  done
  sed -i -E "s/^(    tag:[[:space:]]*)\"[^\"]*\"/\1\"$new\"/" "$LIB/values.yaml"
  sed -i -E "s/(\(\\\$image\.tag \| default )\"[^\"]*\"\)/\1\"$new\")/" "$LIB/templates/_sidecar.tpl"
  local tmp chart dep
  tmp=$(mktemp)
  for chart in "$EXAMPLE:ghapp-token-sidecar" "$BROKER:ghapp-tokens"; do
    dep=${chart#*:}; chart=${chart%%:*}
    awk -v new="$new" -v name="$dep" '$0 ~ "^[[:space:]]*- name:[[:space:]]*" name "[[:space:]]*$" { dep = 1; print; next }
         /^[[:space:]]*- / { dep = 0 }
         dep && /^[[:space:]]+version:/ { sub(/version:.*/, "version: " new); dep = 0 }
         { print }' "$chart/Chart.yaml" > "$tmp" && cat "$tmp" > "$chart/Chart.yaml"
    # Chart.lock carries a digest of the dependencies; Helm rewrites it (and re-vendors the chart).
    helm3 dependency update "$chart" >/dev/null
  done
  rm -f "$tmp"
  helm-docs --chart-search-root charts --log-level warning >/dev/null
  VERSION=$new
  check
  echo "bumped to $new: review 'git diff', commit, then tag v$new"
}

case ${1:-} in
  "") echo "$VERSION" ;;
  --check)
    case ${2:-} in
      "") check ;;
      --tag) [[ -n ${3:-} ]] || usage; check "$3" ;;
      *) usage ;;
    esac ;;
  --set) [[ -n ${2:-} ]] || usage; set_version "$2" ;;
  -h|--help) usage ;;
  *) usage ;;
esac
