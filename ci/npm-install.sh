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
npm ci --no-audit --no-fund
echo "$want" > "$stamp"
