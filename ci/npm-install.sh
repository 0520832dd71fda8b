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
# The dependencies declare the Node they need (package.json "engines", the intersection of theirs).
# On an older Node npm prints an EBADENGINE warning per package: say once, up front, what they mean.
# shellcheck disable=SC2016 # JavaScript, not shell: its ${...} are template literals.
node_check=$(node -e '
  const want = require("./package.json").engines.node; const m = /(\d+)\.(\d+)/.exec(want); // its lowest version, e.g. 22.12 of "^22.12.0 || >=23"
  const [maj, min] = process.versions.node.split(".").map(Number);
  if (m && (maj < +m[1] || (maj === +m[1] && min < +m[2])))
    console.log(`Node ${process.version} is older than the ${want} the dependencies need (package.json engines): npm warns EBADENGINE below. The build, demo and tests run on Bun from node_modules and still work; install Node ${m[1]}.${m[2]} or later to match.`);
')
[[ -z $node_check ]] || echo "npm packages: $node_check" >&2
npm ci --no-audit --no-fund
echo "$want" > "$stamp"
