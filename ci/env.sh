# shellcheck shell=bash
# Sourced by ci/test.sh and by you (`source ci/env.sh`): puts the project's pinned tools first
# on PATH and keeps Helm's config, cache and plugins inside .tools/ so nothing in $HOME is
# read or changed. Build the tools first with `bash ci/tools.sh`.
_ghapp_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export PATH="$_ghapp_root/.tools/bin:$_ghapp_root/.tools/venv/bin:$_ghapp_root/node_modules/.bin:$PATH"
export HELM_PLUGINS="$_ghapp_root/.tools/helm/plugins"
export HELM_CACHE_HOME="$_ghapp_root/.tools/helm/cache"
export HELM_CONFIG_HOME="$_ghapp_root/.tools/helm/config"
export HELM_DATA_HOME="$_ghapp_root/.tools/helm/data"
# ct finds chart_schema.yaml and lintconf.yaml here (see ci/ct.yaml).
export CT_CONFIG_DIR="$_ghapp_root/.tools/ct-etc"
unset _ghapp_root
