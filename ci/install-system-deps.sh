#!/usr/bin/env bash
# Installs the Debian packages the tests use, when missing: gh (the real GitHub CLI, used
# against the simulator as a GitHub Enterprise host), bubblewrap (runs the binary in a
# distroless-like read-only root filesystem), openssl (the simulator's TLS certificate),
# the ShellCheck linter (for ci/*.sh, and actionlint runs it on the workflows' run: blocks),
# PostgreSQL's server (the runner broker's storage tests start a throwaway one: tests/helpers/postgres.ts),
# Chromium (Playwright drives it through the broker's /docs page: tests/broker/docs-page.test.ts),
# iproute2 and curl (tests/controlplane: its network namespace, and a step that calls the API),
# and zstd and skopeo (the release's layer recompression is checked with them:
# tests/container/layer-recompress.test.ts).
# Idempotent: does nothing when all are present. Uses sudo when not root.
set -euo pipefail
need=()
command -v gh >/dev/null || need+=(gh)
command -v bwrap >/dev/null || need+=(bubblewrap)
command -v openssl >/dev/null || need+=(openssl)
command -v shellcheck >/dev/null || need+=(shellcheck)
compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null || need+=(postgresql)
command -v chromium >/dev/null || need+=(chromium)
command -v ip >/dev/null || need+=(iproute2)
command -v curl >/dev/null || need+=(curl)
command -v zstd >/dev/null || need+=(zstd)
command -v skopeo >/dev/null || need+=(skopeo)
if [[ ${#need[@]} -eq 0 ]]; then
  echo "system packages: up to date (gh, bubblewrap, openssl, shellcheck, postgresql, chromium, iproute2, curl, zstd, skopeo)"
  exit 0
fi
sudo=""
[[ $(id -u) -eq 0 ]] || sudo="sudo"
command -v apt-get >/dev/null || { echo "install-system-deps: apt-get not found; install ${need[*]} with your package manager" >&2; exit 1; }
echo "system packages: installing ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
# Refresh the package lists only when they are missing or a day old.
if [[ -z $(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' -mtime -1 2>/dev/null | head -1) ]]; then
  $sudo apt-get update -qq
fi
$sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
