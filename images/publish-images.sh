#!/usr/bin/env bash
# Takes the three images `make images` built to where a real cluster can pull them.
#
#   images/publish-images.sh push REGISTRY        # buildah push to REGISTRY/mlops-<name>:<version>,
#                                                 # then print the chart values that use them
#   images/publish-images.sh archives DIR [KIND]  # DIR/mlops-<name>.tar (docker-archive, as
#                                                 # `kind load image-archive` takes); with KIND,
#                                                 # load them into that kind cluster
#   images/publish-images.sh check REGISTRY       # only check the argument (before a build)
#
# REGISTRY is a registry host with an optional path: registry.example.com:5000/ml,
# ghcr.io/my-org. Log in first (`buildah login REGISTRY`) when it needs credentials;
# PUSH_FLAGS adds buildah push flags (e.g. --tls-verify=false for a plain-HTTP registry).
# IMAGES_DRY_RUN=1 prints the buildah and kind commands instead of running them.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/mlops-images"
STORE=(--root "$CACHE/storage" --runroot "$CACHE/run" --storage-driver "${STORAGE_DRIVER:-overlay}")
VERSION="$(sed -n 's/^version = "\(.*\)"/\1/p' "$ROOT/pyproject.toml" | head -1)"
NAMES=(operator trainer serving)

fail() { printf 'error: %s\n' "$1" >&2; exit 2; }
run() {
  if [ -n "${IMAGES_DRY_RUN:-}" ]; then echo "+ $*"; else "$@"; fi
}
source_image() { echo "ghcr.io/mlops-dev/mlops-$1:$VERSION"; }

check_registry() {
  local registry="$1"
  [ -n "$registry" ] || fail "say where to push: make images-push REGISTRY=registry.example.com/team (a host with an optional path; buildah login to it first if it needs credentials)"
  [[ "$registry" =~ ^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]+)?(/[a-z0-9._-]+)*$ ]] \
    || fail "REGISTRY=$registry is not a registry host with an optional path in lowercase (e.g. registry.example.com:5000/ml, ghcr.io/my-org); no scheme, no tag, no trailing /"
}

need_buildah() {
  [ -n "${IMAGES_DRY_RUN:-}" ] || command -v buildah >/dev/null \
    || fail "buildah is missing (Debian: apt-get install buildah); build the images first with make images"
}

push() {
  local registry="$1" name
  check_registry "$registry"
  need_buildah
  for name in "${NAMES[@]}"; do
    # shellcheck disable=SC2086 # PUSH_FLAGS is a list of flags
    run buildah "${STORE[@]}" push ${PUSH_FLAGS:-} "$(source_image "$name")" \
      "docker://$registry/mlops-$name:$VERSION"
  done
  cat <<VALUES

Pushed. Install the chart with these images (the tag is the chart's appVersion, $VERSION):

  helm install mlops-operator helm/mlops-operator -n mlops-system --create-namespace \\
    --set image.repository=$registry/mlops-operator \\
    --set trainer.repository=$registry/mlops-trainer \\
    --set serving.repository=$registry/mlops-serving

or in a values file:

image:
  repository: $registry/mlops-operator
trainer:
  repository: $registry/mlops-trainer
serving:
  repository: $registry/mlops-serving
VALUES
}

archives() {
  local dir="$1" cluster="${2:-}" name archive
  [ -n "$dir" ] || fail "say where to write the archives: $0 archives DIR [KIND_CLUSTER]"
  need_buildah
  run mkdir -p "$dir"
  for name in "${NAMES[@]}"; do
    archive="$dir/mlops-$name.tar"
    run rm -f "$archive"
    run buildah "${STORE[@]}" push "$(source_image "$name")" \
      "docker-archive:$archive:$(source_image "$name")"
  done
  if [ -n "$cluster" ]; then
    [ -n "${IMAGES_DRY_RUN:-}" ] || command -v kind >/dev/null \
      || fail "kind is missing: install it (https://kind.sigs.k8s.io/docs/user/quick-start/#installation), or load the archives in $dir yourself"
    for name in "${NAMES[@]}"; do
      run kind load image-archive "$dir/mlops-$name.tar" --name "$cluster"
    done
    echo
    echo "Loaded into kind cluster $cluster. Install the chart as it is (its default images are these):"
  else
    echo
    echo "Archives in $dir. Load them into a kind cluster and install the chart as it is:"
    for name in "${NAMES[@]}"; do
      echo "  kind load image-archive $dir/mlops-$name.tar --name <cluster>"
    done
  fi
  echo "  helm install mlops-operator helm/mlops-operator -n mlops-system --create-namespace"
}

case "${1:-}" in
  push) push "${2:-}" ;;
  archives) archives "${2:-}" "${3:-}" ;;
  check) check_registry "${2:-}" ;;
  *) echo "usage: $0 push REGISTRY | archives DIR [KIND_CLUSTER] | check REGISTRY" >&2; exit 2 ;;
esac
