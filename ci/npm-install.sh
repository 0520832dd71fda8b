#!/usr/bin/env bash
# Installs the npm packages exactly as locked, once per package-lock.json: `npm ci` runs
# only when node_modules is missing or was installed from a different lock file.
set -euo pipefail
cd "$(dirname "$0")/.."
stamp=node_modules/.ghapp-tokens-lock.sha256
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [[ -f $stamp && $(cat "$stamp") == "$want" ]]; then
  echo "npm packages: up to date"
  exit 0
fi
# npm's warnings pass through ci/npm-warnings.mjs, which keeps every one that needs someone's action
# and sums up in one line the EBADENGINE warnings of dependencies that declare a newer Node than
# this one but never run on it (everything runs on the Bun that npm installs).
errors=$(mktemp)
trap 'rm -f "$errors"' EXIT
rc=0
npm ci --no-audit --no-fund 2>"$errors" || rc=$?
node ci/npm-warnings.mjs "$errors"
[[ $rc -eq 0 ]] || exit "$rc"
echo "$want" > "$stamp"
