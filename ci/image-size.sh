#!/usr/bin/env bash
# `npm run image:size [-- --quick]`: prints the container image's compressed size (the layers the
# Dockerfile adds, compressed as buildx pushes them, plus the base's published size), then the
# alternatives compared in docs/image.md (--quick skips those). A figure, not a test: the test
# suite does not run it. Needs Bun (node_modules), Go (to compress exactly as BuildKit does) and
# GNU tar.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/node_modules/.bin:$PATH"
command -v bun >/dev/null || { echo "ci/image-size.sh: bun is missing: run npm ci first" >&2; exit 1; }
command -v go >/dev/null || { echo "ci/image-size.sh: Go is required (https://go.dev/dl/): ci/layer-compress compresses layers with BuildKit's own zstd and gzip code" >&2; exit 1; }
tar --version 2>/dev/null | grep -q 'GNU tar' || { echo "ci/image-size.sh: GNU tar is required (Debian package tar) for reproducible layer tars" >&2; exit 1; }
exec bun ci/image-size.ts "$@"
