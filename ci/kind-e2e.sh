#!/usr/bin/env bash
# End to end on a kind cluster, as the CI job "kind" runs it (docs/delivery.md): the README's Quick
# start, step by step and with its own commands, plus `ct install` of ghapp-tokens. External Secrets
# and Argo Workflows from their Helm repositories (Quick start step 3), the image built from
# ./Dockerfile (step 4, loaded into kind instead of pushed), `helm install ghapp-tokens
# charts/ghapp-tokens -n workflows` (step 5) and `argo submit --from workflowtemplate/test-github-app
# -p github-app=rex --watch` (step 6), run to success:
#   - against a real GitHub App when GHAPP_TEST_APP_ID and GHAPP_TEST_PRIVATE_KEY are set
#     (GHAPP_TEST_OWNER picks the installation when there are several; GHAPP_TEST_API_URL for a
#     GitHub Enterprise Server), or else
#   - against the project's GitHub API simulator run in the cluster as a GitHub Enterprise Server
#     would be: https://github-sim.<namespace>.svc/api/v3, with a certificate from a private CA that
#     the chart hands to the generator and to gh through github.caConfigMap.
# Either way the app's credentials reach the chart through External Secrets' fake provider (in place
# of step 2's cloud store, which a CI job cannot have), as the one JSON secret github-apps/rex that
# step 2 stores on AWS (layout perApp), so the product's own path runs: SecretStore ->
# ExternalSecret -> Secret github-app-rex -> initContainer (the image built from ./Dockerfile) ->
# token file -> gh in the main container. The simulator's App is installed on two accounts, so the
# workflow adds the Quick start's `-p owner=acme-org`.
#
# Usage: bash ci/kind-e2e.sh [STAGE...]
#   image       docker build ./Dockerfile as $IMAGE and `kind load` it into $KIND_CLUSTER
#   operators   External Secrets (serving external-secrets.io/v1) and Argo Workflows v4, with the
#               Quick start's `helm repo add` and `helm install` (skipped when already installed)
#   ct-install  `ct install` of charts/ghapp-tokens with its default values (needs the operators' CRDs)
#   simulator   the GitHub API simulator in $NAMESPACE (skipped with a real App)
#   chart       `helm install ghapp-tokens charts/ghapp-tokens -n $NAMESPACE` with ci/kind-e2e.values.yaml
#               (`helm upgrade` when installed); waits for the ExternalSecrets as the Quick start does
#   workflow    `argo submit --from workflowtemplate/test-github-app ... --watch` (bash ci/argo-cli.sh
#               builds the CLI; without it, the same Workflow with kubectl), then `argo logs` and checks
#               what it printed
#   render      prints every object the other stages would apply, without a cluster (for tests)
# No stage: image operators ct-install simulator chart workflow. Each stage can run again on the
# same cluster. On failure it prints the state of the cluster (never a secret's content).
#
# Needs: kubectl on a kind context (kind-*; set E2E_ANY_CONTEXT=1 to allow another), helm and ct
# (bash ci/tools.sh), argo (bash ci/argo-cli.sh), bun (npm ci), openssl, and docker and kind for
# the image stage.
# Env: NAMESPACE (workflows, the Quick start's), IMAGE (ghapp-token:e2e), KIND_CLUSTER
# (chart-testing, kind-action's default), E2E_TIMEOUT (seconds to wait for the workflow, 300).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
# shellcheck source=ci/env.sh
source ci/env.sh

# ---- pins -----------------------------------------------------------------------------------
ESO_CHART_VERSION=2.9.0      # charts.external-secrets.io external-secrets: ESO v2.9.0 (chart = app version), the CRDs in shared/reference
ARGO_CHART_VERSION=2.0.1     # argoproj.github.io/argo-helm argo-workflows: appVersion v4.1.0 (its Chart.yaml)
# The simulator runs on the Bun the project pins (package.json), from Bun's official image.
BUN_VERSION=$(node -p 'require("./package.json").devDependencies.bun')
SIM_IMAGE=docker.io/oven/bun:$BUN_VERSION-slim

NAMESPACE=${NAMESPACE:-workflows}
IMAGE=${IMAGE:-ghapp-token:e2e}
KIND_CLUSTER=${KIND_CLUSTER:-chart-testing}
E2E_TIMEOUT=${E2E_TIMEOUT:-300}
STATE=$ROOT/.cache/kind-e2e
RELEASE=ghapp-tokens
APP=rex
SIM_HOST=github-sim.$NAMESPACE.svc

if [[ -n ${GHAPP_TEST_APP_ID:-} && -n ${GHAPP_TEST_PRIVATE_KEY:-} ]]; then
  MODE=real
  APP_ID=$GHAPP_TEST_APP_ID
  API_URL=${GHAPP_TEST_API_URL:-https://api.github.com}
  OWNER=${GHAPP_TEST_OWNER:-}
  CA_CONFIGMAP=""
else
  MODE=simulator
  APP_ID=424242
  API_URL=https://$SIM_HOST/api/v3
  # The simulator's world has two installations; the test picks the organization's.
  OWNER=acme-org
  CA_CONFIGMAP=ghes-ca
fi

# Bold only at a terminal; CI logs and files get plain text.
if [[ -t 2 && -z ${NO_COLOR:-} ]]; then
  say() { printf '\n\033[1m==> %s\033[0m\n' "$*" >&2; }
else
  say() { printf '\n==> %s\n' "$*" >&2; }
fi
die() { printf 'ci/kind-e2e.sh: %s\n' "$*" >&2; exit 1; }
group() { if [[ ${GITHUB_ACTIONS:-} == true ]]; then echo "::group::$*"; else printf -- '--- %s\n' "$*"; fi; }
endgroup() { if [[ ${GITHUB_ACTIONS:-} == true ]]; then echo "::endgroup::"; fi; }

# retry N SECONDS CMD...: for what settles on its own (a webhook that is not serving yet).
retry() {
  local tries=$1 pause=$2 i
  shift 2
  for ((i = 1; i <= tries; i++)); do
    if "$@"; then return 0; fi
    ((i < tries)) && { echo "  (attempt $i of $tries failed; again in ${pause}s)" >&2; sleep "$pause"; }
  done
  return 1
}

# `kubectl apply` that owns what it applies and needs no last-applied annotation (the simulator's
# bundle is larger than that annotation may be).
apply() { kubectl apply --server-side --force-conflicts --field-manager=ghapp-tokens-e2e -f -; }

require_cluster() {
  command -v kubectl >/dev/null || die "kubectl is required"
  local context
  context=$(kubectl config current-context 2>/dev/null) || die "no current kubectl context: create the cluster first (kind create cluster --name $KIND_CLUSTER)"
  # This script installs operators cluster-wide; refuse to do that to a cluster that is not a throwaway.
  [[ $context == kind-* || -n ${E2E_ANY_CONTEXT:-} ]] \
    || die "the current context is $context, not a kind cluster; set E2E_ANY_CONTEXT=1 if you mean it"
}

# ---- inputs the stages share: the app's key, the simulator's certificates and bundle -----------
# The app's private key, in a file for helm --set-file. A real App's key lives in a private temp
# folder removed on exit; the simulator's is generated once into .cache and reused, so a re-run
# keeps the key the cluster already holds.
# Beside it, APP_SECRET_FILE: the App's one JSON secret as the Quick start stores it on AWS
# ({"appId": ..., "privateKey": ...}, layout perApp), which the fake provider holds instead.
KEY_FILE=""
APP_SECRET_FILE=""
prepare_key() {
  [[ -n $KEY_FILE ]] && return
  local dir
  if [[ $MODE == real ]]; then
    dir=$(mktemp -d)
    TEMP_DIRS+=("$dir")
    KEY_FILE=$dir/app.pem
    # One final newline, whether or not the secret ends with one.
    (umask 077 && printf '%s\n' "${GHAPP_TEST_PRIVATE_KEY%$'\n'}" > "$KEY_FILE")
  else
    dir=$STATE
    KEY_FILE=$STATE/app.pem
    mkdir -p "$STATE"
    # PKCS#1, the shape GitHub hands out.
    [[ -s $KEY_FILE ]] || (umask 077 && openssl genrsa -traditional -out "$KEY_FILE" 2048 2>/dev/null)
  fi
  APP_SECRET_FILE=$dir/app-secret.json
  # shellcheck disable=SC2016 # JavaScript, not shell.
  (umask 077 && node -e 'process.stdout.write(JSON.stringify({ appId: process.argv[1], privateKey: require("fs").readFileSync(process.argv[2], "utf8") }))' \
    "$APP_ID" "$KEY_FILE" > "$APP_SECRET_FILE")
}

prepare_simulator_files() {
  mkdir -p "$STATE"
  bash ci/e2e-certs.sh "$STATE/certs" "$SIM_HOST" "$SIM_HOST.cluster.local" >&2
  # One file with every dependency inside (jsonwebtoken), so the pod needs no node_modules.
  bun build tests/simulator/cli.ts --target=bun --outfile "$STATE/github-sim.js" >/dev/null
}

# ---- manifests --------------------------------------------------------------------------------
simulator_manifests() {
  local inputs
  inputs=$(cat "$STATE/github-sim.js" "$STATE/certs/tls.crt" "$KEY_FILE" | sha256sum | cut -c1-16)
  kubectl create namespace "$NAMESPACE" --dry-run=client -o yaml
  echo ---
  kubectl create configmap github-sim-code -n "$NAMESPACE" --from-file=github-sim.js="$STATE/github-sim.js" --dry-run=client -o yaml
  echo ---
  kubectl create secret generic github-sim -n "$NAMESPACE" --dry-run=client -o yaml \
    --from-file=tls.crt="$STATE/certs/tls.crt" --from-file=tls.key="$STATE/certs/tls.key" --from-file=app.pem="$KEY_FILE"
  echo ---
  # What a GitHub Enterprise Server's users get from their admins: the CA, as the chart expects it.
  kubectl create configmap "$CA_CONFIGMAP" -n "$NAMESPACE" --from-file=ca.crt="$STATE/certs/ca.crt" --dry-run=client -o yaml
  cat <<EOF
---
apiVersion: v1
kind: Service
metadata:
  name: github-sim
  namespace: $NAMESPACE
  labels: {app.kubernetes.io/name: github-sim, app.kubernetes.io/part-of: ghapp-tokens-e2e}
spec:
  selector: {app.kubernetes.io/name: github-sim}
  # 443, so the API URL has no port, as a GitHub Enterprise Server's does.
  ports:
    - {name: https, port: 443, targetPort: https}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: github-sim
  namespace: $NAMESPACE
  labels: {app.kubernetes.io/name: github-sim, app.kubernetes.io/part-of: ghapp-tokens-e2e}
spec:
  replicas: 1
  selector:
    matchLabels: {app.kubernetes.io/name: github-sim}
  template:
    metadata:
      labels: {app.kubernetes.io/name: github-sim}
      annotations:
        # Changes when the code, certificate or key changes, so a re-run rolls the pod.
        ghapp-tokens.io/inputs: "$inputs"
    spec:
      automountServiceAccountToken: false
      securityContext:
        runAsNonRoot: true
        runAsUser: 65532
        runAsGroup: 65532
        fsGroup: 65532
        seccompProfile: {type: RuntimeDefault}
      containers:
        - name: simulator
          image: $SIM_IMAGE
          command: [bun, --no-install, /opt/github-sim/github-sim.js]
          args:
            - --state-dir=/tmp/state
            - --listen=0.0.0.0:8443
            - --prefix=/api/v3
            - --public-url=https://$SIM_HOST/api/v3
            - --tls-cert=/etc/github-sim/tls.crt
            - --tls-key=/etc/github-sim/tls.key
            - --app-id=$APP_ID
            - --app-key-file=/etc/github-sim/app.pem
          env:
            - {name: HOME, value: /tmp}
            # No transpiler cache to write: the root filesystem is read-only.
            - {name: BUN_RUNTIME_TRANSPILER_CACHE_PATH, value: "0"}
          ports:
            - {name: https, containerPort: 8443}
          readinessProbe:
            httpGet: {scheme: HTTPS, path: /api/v3/meta, port: https}
            periodSeconds: 2
          securityContext:
            allowPrivilegeEscalation: false
            readOnlyRootFilesystem: true
            capabilities: {drop: [ALL]}
          resources:
            requests: {cpu: 50m, memory: 64Mi}
            limits: {memory: 256Mi}
          volumeMounts:
            - {name: code, mountPath: /opt/github-sim, readOnly: true}
            - {name: inputs, mountPath: /etc/github-sim, readOnly: true}
            - {name: tmp, mountPath: /tmp}
      volumes:
        - name: code
          configMap: {name: github-sim-code}
        - name: inputs
          secret: {secretName: github-sim, defaultMode: 0440}
        - name: tmp
          emptyDir: {}
EOF
}

# helm arguments of the ghapp-tokens release: the values file, the app's JSON secret for the fake
# provider at the name the Quick start gives it (from a file, so the key is on no command line),
# the API and the image.
chart_args() {
  CHART_ARGS=(
    "$RELEASE" charts/ghapp-tokens -n "$NAMESPACE" -f ci/kind-e2e.values.yaml
    --set "secretStore.provider.fake.data[0].key=github-apps/$APP"
    --set-file "secretStore.provider.fake.data[0].value=$APP_SECRET_FILE"
    --set-string "github.apiUrl=$API_URL"
    --set-string "github.caConfigMap=$CA_CONFIGMAP"
    --set-string "image.repository=${IMAGE%:*}"
    --set-string "image.tag=${IMAGE##*:}"
  )
}

# What `argo submit --from workflowtemplate/test-github-app -p github-app=rex -p owner=...` creates.
workflow_manifest() {
  cat <<EOF
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata:
  generateName: test-github-app-
  namespace: $NAMESPACE
  labels: {app.kubernetes.io/part-of: ghapp-tokens-e2e}
spec:
  workflowTemplateRef: {name: test-github-app}
  arguments:
    parameters:
      - {name: github-app, value: $APP}
      - {name: owner, value: "$OWNER"}
EOF
}

# ---- stages -----------------------------------------------------------------------------------
stage_image() {
  command -v docker >/dev/null || die "docker is required for the image stage"
  command -v kind >/dev/null || die "kind is required for the image stage"
  [[ -f Dockerfile ]] || die "./Dockerfile is missing"
  say "image: docker build -t $IMAGE . and kind load into $KIND_CLUSTER"
  docker build -t "$IMAGE" .
  kind load docker-image "$IMAGE" --name "$KIND_CLUSTER"
  # test-github-app's gh: the Dockerfile's gh target, where the chart looks for it (<repository>-gh:<tag>).
  say "image: docker build --target gh -t ${IMAGE%:*}-gh:${IMAGE##*:} . and kind load into $KIND_CLUSTER"
  docker build --target gh -t "${IMAGE%:*}-gh:${IMAGE##*:}" .
  kind load docker-image "${IMAGE%:*}-gh:${IMAGE##*:}" --name "$KIND_CLUSTER"
}

# helm install RELEASE ... as the Quick start writes it, unless RELEASE is already installed there
# (a re-run of the stage): then it is left as it is.
install_once() {
  local release=$1 namespace=$2
  shift 2
  if helm status "$release" --namespace "$namespace" >/dev/null 2>&1; then
    echo "$release: already installed in $namespace"
  else
    echo "+ $*"
    "$@"
  fi
}

stage_operators() {
  require_cluster
  say "operators: External Secrets (chart $ESO_CHART_VERSION) and Argo Workflows (chart $ARGO_CHART_VERSION), Quick start step 3"
  # Quick start step 3, command for command.
  helm repo add external-secrets https://charts.external-secrets.io
  install_once external-secrets external-secrets \
    helm install external-secrets external-secrets/external-secrets --namespace external-secrets --create-namespace --version "$ESO_CHART_VERSION" --wait
  helm repo add argo https://argoproj.github.io/argo-helm
  install_once argo-workflows argo \
    helm install argo-workflows argo/argo-workflows --namespace argo --create-namespace --version "$ARGO_CHART_VERSION" --wait
  kubectl wait --for=condition=Established --timeout=60s \
    crd/secretstores.external-secrets.io crd/externalsecrets.external-secrets.io \
    crd/workflows.argoproj.io crd/workflowtemplates.argoproj.io
  kubectl get crd secretstores.external-secrets.io -o jsonpath='{.spec.versions[?(@.served==true)].name}' | grep -qw v1 \
    || die "this External Secrets does not serve external-secrets.io/v1, which the chart renders"
}

stage_ct_install() {
  require_cluster
  command -v ct >/dev/null || die "ct is required: bash ci/tools.sh"
  say "ct install: charts/ghapp-tokens with its default values (AWS store), installed, tested and removed"
  # ESO's admission webhook may still be getting its certificate right after install.
  retry 3 20 ct install --config ci/ct.yaml --charts charts/ghapp-tokens
}

stage_simulator() {
  if [[ $MODE == real ]]; then
    say "simulator: skipped, a real GitHub App is configured (GHAPP_TEST_APP_ID)"
    return
  fi
  require_cluster
  say "simulator: $SIM_IMAGE serving https://$SIM_HOST/api/v3 in namespace $NAMESPACE"
  prepare_key
  prepare_simulator_files
  simulator_manifests | apply
  kubectl -n "$NAMESPACE" rollout status deployment/github-sim --timeout=180s
  # Through the API server's service proxy: the Service answers and holds the app we gave it.
  local state
  state=$(kubectl get --raw "/api/v1/namespaces/$NAMESPACE/services/https:github-sim:https/proxy/_simulator/state")
  grep -q "\"appId\":${APP_ID}[,}]" <<<"$state" || die "the simulator answers with another app: $state"
  echo "simulator ready: app $APP_ID"
}

# A re-run (or a retry after a half-done install, while ESO's webhook gets its certificate)
# upgrades, since helm install refuses a release name in use.
chart_install() {
  if helm status "$RELEASE" --namespace "$NAMESPACE" >/dev/null 2>&1; then
    helm upgrade "${CHART_ARGS[@]}" --wait --timeout 3m
  else
    helm install "${CHART_ARGS[@]}" --create-namespace --wait --timeout 3m
  fi
}

stage_chart() {
  require_cluster
  say "chart: ghapp-tokens in $NAMESPACE, app $APP ($MODE), API $API_URL, Quick start step 5"
  prepare_key
  chart_args
  # Quick start step 5: helm install, then the wait.
  retry 3 20 chart_install
  kubectl -n "$NAMESPACE" wait externalsecret --all --for=condition=Ready --timeout=2m
  local synced_id key_bytes
  synced_id=$(kubectl -n "$NAMESPACE" get secret "github-app-$APP" -o jsonpath='{.data.appId}' | base64 -d)
  key_bytes=$(kubectl -n "$NAMESPACE" get secret "github-app-$APP" -o jsonpath='{.data.privateKey}' | base64 -d | wc -c)
  [[ $synced_id == "$APP_ID" ]] || die "Secret github-app-$APP holds app id $synced_id, expected $APP_ID"
  ((key_bytes > 0)) || die "Secret github-app-$APP has an empty privateKey"
  echo "Secret github-app-$APP synced by External Secrets: appId $synced_id, privateKey $key_bytes bytes"
}

stage_workflow() {
  require_cluster
  say "workflow: test-github-app -p github-app=$APP${OWNER:+ -p owner=$OWNER}, Quick start step 6"
  local name phase logs
  if command -v argo >/dev/null; then
    # Quick start step 6, bounded in time: --watch follows the workflow until it ends.
    timeout "$E2E_TIMEOUT" argo submit -n "$NAMESPACE" --from workflowtemplate/test-github-app \
      -p "github-app=$APP" ${OWNER:+-p "owner=$OWNER"} --watch \
      || echo "argo submit --watch ended with $? (the phase below decides)"
    name=workflow/$(argo get -n "$NAMESPACE" @latest -o name)
    phase=$(kubectl -n "$NAMESPACE" get "$name" -o jsonpath='{.status.phase}')
    logs=$(argo logs -n "$NAMESPACE" @latest 2>&1 || true)
  else
    echo "argo CLI not on PATH (bash ci/argo-cli.sh builds it): creating the same Workflow with kubectl"
    name=$(workflow_manifest | kubectl create -f - -o name)
    local deadline=$((SECONDS + E2E_TIMEOUT))
    while :; do
      # A transient API error is another poll, not a failure.
      phase=$(kubectl -n "$NAMESPACE" get "$name" -o jsonpath='{.status.phase}' 2>/dev/null || true)
      case $phase in Succeeded | Failed | Error) break ;; esac
      ((SECONDS < deadline)) || { phase="timed out (last phase: ${phase:-none})"; break; }
      sleep 5
    done
    logs=$(kubectl -n "$NAMESPACE" logs -l "workflows.argoproj.io/workflow=${name#*/}" -c main --prefix --tail=-1 2>&1 || true)
  fi
  group "logs of ${name#*/}"
  printf '%s\n' "$logs"
  endgroup
  [[ $phase == Succeeded ]] || die "$name: ${phase:-no phase}: $(kubectl -n "$NAMESPACE" get "$name" -o jsonpath='{.status.message}')"
  grep -q "token works: the installation grants access to" <<<"$logs" || die "$name succeeded but gh did not report the token working"
  if [[ $MODE == simulator ]]; then
    grep -q "acme-org/api" <<<"$logs" || die "gh did not list the installation's repositories"
    # The simulator issued the token the step used, for the organization's installation.
    kubectl get --raw "/api/v1/namespaces/$NAMESPACE/services/https:github-sim:https/proxy/_simulator/state" \
      | grep -q '"installationId":1001' || die "the simulator issued no token for installation 1001"
  fi
  echo "$name: Succeeded; the step minted a token and gh used it against $API_URL"
}

stage_render() {
  prepare_key
  if [[ $MODE == simulator ]]; then
    prepare_simulator_files
    simulator_manifests
    echo ---
  fi
  chart_args
  helm template "${CHART_ARGS[@]}"
  echo ---
  workflow_manifest
}

# ---- diagnostics ------------------------------------------------------------------------------
# The state of the cluster when a stage fails. It never prints a Secret's or a SecretStore's
# content (the fake provider holds the key): tables, conditions, events and logs only.
diagnose() {
  kubectl version >/dev/null 2>&1 || return 0
  say "failed: the cluster's state"
  group "pods"; kubectl get pods -A -o wide || true; endgroup
  group "ghapp-tokens objects in $NAMESPACE"
  kubectl -n "$NAMESPACE" get secretstores,externalsecrets,workflowtemplates,workflows,deployments,services || true
  kubectl -n "$NAMESPACE" describe externalsecrets || true
  kubectl -n "$NAMESPACE" get workflows -o jsonpath='{range .items[*]}{.metadata.name}: {.status.phase} {.status.message}{"\n"}{end}' || true
  endgroup
  group "events in $NAMESPACE"; kubectl -n "$NAMESPACE" get events --sort-by=.lastTimestamp | tail -60 || true; endgroup
  local ns
  for ns in "$NAMESPACE" argo external-secrets; do
    group "logs in $ns"
    kubectl -n "$ns" logs -l 'app.kubernetes.io/name' --all-containers --prefix --tail=80 --max-log-requests=20 2>&1 || true
    kubectl -n "$ns" logs -l 'workflows.argoproj.io/workflow' --all-containers --prefix --tail=80 --max-log-requests=20 2>&1 || true
    endgroup
  done
}

TEMP_DIRS=()
DIAGNOSE=1
on_exit() {
  local rc=$?
  if ((rc != 0 && DIAGNOSE)); then diagnose; fi
  ((${#TEMP_DIRS[@]} == 0)) || rm -rf "${TEMP_DIRS[@]}"
  exit "$rc"
}
trap on_exit EXIT

main() {
  local stages=("$@")
  ((${#stages[@]})) || stages=(image operators ct-install simulator chart workflow)
  local stage
  for stage in "${stages[@]}"; do
    case $stage in
      image | operators | ct-install | simulator | chart | workflow | render) ;;
      *) die "unknown stage $stage (image operators ct-install simulator chart workflow render)" ;;
    esac
  done
  # render runs without a cluster: nothing to diagnose.
  [[ " ${stages[*]} " != *" render "* ]] || DIAGNOSE=0
  for stage in "${stages[@]}"; do
    "stage_${stage//-/_}"
  done
}

main "$@"
