#!/usr/bin/env bash
# Packages the published charts (ghapp-tokens, the ghapp-token-sidecar library and
# ghapp-runner-broker; the library's example chart is not published) at the project's one version,
# after proving that each, as packaged, runs exactly the image this release pushed:
# IMAGE_REPOSITORY:<version>, and for the broker's chart ghapp-runner-broker:<version> beside it. With --push it
# pushes them to an OCI registry, refusing to overwrite a version that is already there, and signs
# each pushed chart by digest with cosign (keyless in GitHub Actions).
#
# Usage: bash ci/release-chart.sh --dry-run IMAGE_REPOSITORY
#        bash ci/release-chart.sh --push IMAGE_REPOSITORY oci://REGISTRY/NAMESPACE
# e.g.   bash ci/release-chart.sh --push ghcr.io/acme/ghapp-token oci://ghcr.io/acme/charts
# Env (--push): REGISTRY_USER and REGISTRY_PASSWORD for `helm registry login` (cosign uses the
# docker login), GITHUB_STEP_SUMMARY (set by GitHub Actions) to record what was published,
# REGISTRY_PLAIN_HTTP=1 to rehearse against a local registry without TLS (docs/delivery.md).
# Needs helm3 (bash ci/tools.sh) and, for --push, cosign.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=ci/env.sh
source ci/env.sh

usage() { echo "usage: bash ci/release-chart.sh --dry-run IMAGE_REPOSITORY | --push IMAGE_REPOSITORY oci://REGISTRY/NAMESPACE" >&2; exit 2; }
die() { echo "ci/release-chart.sh: $*" >&2; exit 1; }

mode=${1:-}
image_repository=${2:-}
oci_repo=${3:-}
case $mode in
  --dry-run) [[ -n $image_repository && -z $oci_repo ]] || usage ;;
  --push) [[ -n $image_repository && $oci_repo == oci://* ]] || usage ;;
  *) usage ;;
esac
command -v helm3 >/dev/null || die "helm3 is missing: run 'bash ci/tools.sh'"

bash ci/version.sh --check >/dev/null || { bash ci/version.sh --check; exit 1; }
version=$(bash ci/version.sh)

# Chart directory -> the chart that renders its image (a library renders nothing on its own, so
# its example chart, which includes it with defaults, shows what the library's users get).
declare -A renders=(
  [charts/ghapp-tokens]=charts/ghapp-tokens
  [charts/ghapp-token-sidecar]=charts/ghapp-token-sidecar-example
  [charts/ghapp-runner-broker]=charts/ghapp-runner-broker
)
# The runner broker's image is the Dockerfile's second target, pushed beside ghapp-token in the
# same registry namespace (the release workflow's broker-image job): REGISTRY/NAMESPACE/ghapp-runner-broker.
declare -A image_of=(
  [charts/ghapp-tokens]=$image_repository
  [charts/ghapp-token-sidecar]=$image_repository
  [charts/ghapp-runner-broker]=${image_repository%/*}/ghapp-runner-broker
)
# The broker's chart has required values (no defaults exist for an organisation or an issuer);
# its ct values file is what a user gives, with the default image.
declare -A values_of=(
  [charts/ghapp-runner-broker]=charts/ghapp-runner-broker/ci/sqlite-values.yaml
)
published=(charts/ghapp-tokens charts/ghapp-token-sidecar charts/ghapp-runner-broker)
bash ci/chart-deps.sh >/dev/null

dist=$(mktemp -d)
trap 'rm -rf "$dist"' EXIT
for chart in "${published[@]}"; do
  name=$(basename "$chart")
  want=${image_of[$chart]}:$version
  image_name=${image_of[$chart]##*/}
  values=()
  [[ -z ${values_of[$chart]:-} ]] || values=(-f "${values_of[$chart]}")
  # Every image of ours the chart would run, as a user installing it with defaults gets it.
  images=$(helm3 template release "${renders[$chart]}" "${values[@]}" | sed -n 's/^[[:space:]]*image:[[:space:]]*"\{0,1\}\([^"{}]*\)"\{0,1\}[[:space:]]*$/\1/p' | grep "/$image_name:" | sort -u)
  [[ -n $images ]] || die "$chart: rendering ${renders[$chart]} shows no $image_name image"
  if [[ $images != "$want" ]]; then
    die "$chart runs $(echo "$images" | paste -sd, -) by default, but this release pushes $want: set the chart's default image repository to ${image_of[$chart]}"
  fi
  helm3 package "$chart" --destination "$dist" >/dev/null
  [[ -f $dist/$name-$version.tgz ]] || die "$chart did not package as $name-$version.tgz"
  echo "packaged $name-$version.tgz (runs $want)"
done

if [[ $mode == --dry-run ]]; then
  echo "dry run: nothing pushed"
  exit 0
fi

command -v cosign >/dev/null || die "cosign is missing (sigstore/cosign-installer in the release workflow)"
registry=${oci_repo#oci://}
registry=${registry%%/*}
plain_http=()
[[ -z ${REGISTRY_PLAIN_HTTP:-} ]] || plain_http=(--plain-http)
if [[ -n ${REGISTRY_USER:-} && -n ${REGISTRY_PASSWORD:-} ]]; then
  printf '%s' "$REGISTRY_PASSWORD" | helm3 registry login "$registry" --username "$REGISTRY_USER" --password-stdin
fi
for chart in "${published[@]}"; do
  name=$(basename "$chart")
  ref=${oci_repo#oci://}/$name
  # An OCI tag can be overwritten; a published chart version must not be.
  if helm3 show chart "oci://$ref" --version "$version" "${plain_http[@]}" >/dev/null 2>&1; then
    die "$ref:$version is already published; release a new version (bash ci/version.sh --set X.Y.Z)"
  fi
  out=$(helm3 push "$dist/$name-$version.tgz" "$oci_repo" "${plain_http[@]}" 2>&1) || die "helm push $name failed: $out"
  echo "$out"
  digest=$(sed -n 's/^Digest:[[:space:]]*\(sha256:[0-9a-f]\{64\}\)$/\1/p' <<<"$out")
  [[ -n $digest ]] || die "no digest in helm push's output for $name"
  cosign sign --yes "$ref@$digest"
  echo "published and signed $ref:$version ($ref@$digest)"
  if [[ -n ${GITHUB_STEP_SUMMARY:-} ]]; then
    echo "- chart \`$ref:$version\` (\`$digest\`), signed" >> "$GITHUB_STEP_SUMMARY"
  fi
done
