#!/usr/bin/env bash
# The `argo` CLI for the kind job (ci/kind-e2e.sh runs the README's `argo submit ... --watch`),
# built from Argo's Go module at the version ci/argo-validate/go.mod pins, so that the module proxy
# and Go's checksum database vouch for every byte, as they do for the other tools in .tools/.
# `go install .../cmd/argo@VERSION` cannot build it: the CLI embeds argo-server's web UI
# (ui/dist/app), which is built by webpack and not part of the module. A one-page placeholder
# stands in for it; the CLI commands the job uses (submit, get, logs) never serve the UI.
# Usage: bash ci/argo-cli.sh   -> .tools/bin/argo (skipped when that version is already there)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=$PWD/.tools/bin
MODULE=github.com/argoproj/argo-workflows/v4
VERSION=$(awk -v m="$MODULE" '$1 == m { print $2 }' ci/argo-validate/go.mod)
[[ -n $VERSION ]] || { echo "ci/argo-cli.sh: ci/argo-validate/go.mod does not require $MODULE" >&2; exit 1; }

if [[ -x $BIN/argo ]] && "$BIN/argo" version --short 2>/dev/null | grep -qF "$VERSION"; then
  echo "argo CLI $VERSION: up to date"
  exit 0
fi
command -v go >/dev/null || { echo "ci/argo-cli.sh: Go is required to build the argo CLI" >&2; exit 1; }
echo "argo CLI $VERSION: building from the Go module proxy (a few minutes the first time)"
src=$(go mod download -json "$MODULE@$VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
[[ -d $src ]] || { echo "ci/argo-cli.sh: go mod download $MODULE@$VERSION gave no folder" >&2; exit 1; }
work=$(mktemp -d)
trap 'chmod -R u+w "$work" && rm -rf "$work"' EXIT
# The module cache is read-only: build in a copy that has the placeholder UI.
cp -R "$src/." "$work/"
chmod -R u+w "$work"
mkdir -p "$work/ui/dist/app"
printf '<!doctype html><title>argo</title><p>This argo binary was built without its web UI.</p>\n' > "$work/ui/dist/app/index.html"
mkdir -p "$BIN"
rm -f "$BIN/argo.tmp"
(
  cd "$work"
  # The version the CLI reports, as Argo's Makefile sets it.
  CGO_ENABLED=0 go build -trimpath -o "$BIN/argo.tmp" \
    -ldflags "-s -w -X github.com/argoproj/argo-workflows/v4.version=$VERSION" ./cmd/argo 2>&1 | grep -v '^go: downloading' || true
)
[[ -x $BIN/argo.tmp ]] || { echo "ci/argo-cli.sh: the build failed" >&2; exit 1; }
mv "$BIN/argo.tmp" "$BIN/argo"
"$BIN/argo" version --short
