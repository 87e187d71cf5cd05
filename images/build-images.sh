#!/usr/bin/env bash
# Builds the three images (operator, trainer, serving) without a Docker daemon and without a
# registry: buildah builds the Dockerfiles on a Debian bookworm base (Python 3.11) that
# debootstrap assembles from Debian packages, and uv comes from the uv binary on this machine.
#
#   images/build-images.sh                # build what is missing, print each image's size
#   SERVING_TORCH=1 images/build-images.sh  # also the torch flavour of the serving image
#   IMAGES=serving images/build-images.sh   # only the images named (operator trainer serving)
#   images/build-images.sh --cached-only  # exit 0 when all three are cached, 3 when not (no build)
#
# Everything lives under ~/.cache/mlops-images (containers storage, build cache). Each image is
# also tagged localhost/mlops-<name>:inputs-<hash of its inputs> (Dockerfile, lock, sources,
# base): with that tag present, nothing is rebuilt. torch (with its CUDA libraries) is one layer
# that the trainer and serving images share, below this project's own layers. Python packages
# come from this machine's uv cache (mounted; `uv sync --all-extras` fills it), so a build
# fetches little more than index pages; this machine's CA bundle is mounted during the build (not
# kept in the images) for a registry behind a TLS-inspecting proxy.
# Needs root, buildah and debootstrap (Debian packages).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/mlops-images"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
UV_CACHE="${UV_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/uv}"
STORE=(--root "$CACHE/storage" --runroot "$CACHE/run" --storage-driver "${STORAGE_DRIVER:-overlay}")

for tool in buildah debootstrap uv; do
  command -v "$tool" >/dev/null || { echo "error: $tool is missing (apt-get install buildah debootstrap; uv: pip install uv)" >&2; exit 1; }
done
bah() { buildah "${STORE[@]}" "$@"; }
have() { bah inspect --type image "$1" >/dev/null 2>&1; }
hash_of() { sha256sum "$@" | sha256sum | cut -c1-16; }
say() { printf '== %s\n' "$*" >&2; }

CACHED_ONLY=0
[ "${1:-}" = "--cached-only" ] && CACHED_ONLY=1
MISSING=0

VERSION="$(sed -n 's/^version = "\(.*\)"/\1/p' "$ROOT/pyproject.toml" | head -1)"
TORCH_VERSION="$(awk '/^name = "torch"$/ {getline; gsub(/"/, "", $3); print $3; exit}' "$ROOT/uv.lock")"
mkdir -p "$CACHE"

# ---- the base: Debian bookworm from debootstrap, with Python 3.11 ------------------------------
if [ "$CACHED_ONLY" -eq 1 ]; then
  BASE="localhost/mlops-python:bookworm-$(sha256sum "$(dirname "$0")/build-base.sh" | cut -c1-16)"
  have "$BASE" || { say "not cached: $BASE"; exit 3; }
else
  BASE="$("$(dirname "$0")/build-base.sh" "${STORE[@]}")"
fi
say "base $BASE"

# ---- uv, as the image the Dockerfiles copy it from ----------------------------------------------
UV_BIN="$(command -v uv)"
UV_IMAGE="localhost/mlops-uv:$(hash_of "$UV_BIN")"
if ! have "$UV_IMAGE" && [ "$CACHED_ONLY" -eq 1 ]; then
  say "not cached: $UV_IMAGE"
  exit 3
elif ! have "$UV_IMAGE"; then
  ctr="$(bah from scratch)"
  bah copy "$ctr" "$UV_BIN" /uv >/dev/null
  bah commit --rm "$ctr" "$UV_IMAGE" >/dev/null
fi

# ---- the images -------------------------------------------------------------------------------
CA_MOUNT=()
if [ -f /etc/ssl/certs/ca-certificates.crt ]; then
  CA_MOUNT=(--volume /etc/ssl/certs/ca-certificates.crt:/etc/ssl/certs/ca-certificates.crt:ro)
fi

build() {  # name dockerfile package-dir [build target]
  local name="$1" dockerfile="$2" package="$3" target="${4:-}"
  local inputs key image cached
  inputs=("$ROOT/$dockerfile" "$ROOT/uv.lock" "$ROOT/pyproject.toml" "$ROOT/README.md")
  while IFS= read -r file; do inputs+=("$ROOT/$file"); done < <(cd "$ROOT" && git ls-files core/mlops_core "$package")
  key="$(printf '%s\n' "$BASE" "$UV_IMAGE" "$TORCH_VERSION" ${target:+"$target"} | cat - "${inputs[@]}" | sha256sum | cut -c1-16)"
  image="ghcr.io/mlops-dev/mlops-$name:$VERSION"
  cached="localhost/mlops-$name:inputs-$key"
  if have "$cached"; then
    say "$image (cached: $cached)"
    bah tag "$cached" "$image"
    return
  fi
  if [ "$CACHED_ONLY" -eq 1 ]; then
    say "not cached: $image ($cached)"
    MISSING=1
    return
  fi
  say "$image: buildah bud -f $dockerfile ${target:+--target $target}"
  local target_args=()
  [ -n "$target" ] && target_args=(--target "$target")
  bah bud "${target_args[@]}" --layers --quiet --isolation "${BUILDAH_ISOLATION:-chroot}" \
    --build-arg "PYTHON_IMAGE=$BASE" --build-arg "UV_IMAGE=$UV_IMAGE" \
    --build-arg "TORCH_VERSION=$TORCH_VERSION" --build-arg "UV_CACHE_DIR=/uv-cache" \
    --build-arg "UV_FLAGS=${IMAGES_UV_FLAGS---system-certs}" \
    --volume "$UV_CACHE:/uv-cache" "${CA_MOUNT[@]}" \
    -f "$ROOT/$dockerfile" -t "$image" -t "$cached" "$ROOT" >&2
}

IMAGES="${IMAGES:-operator trainer serving}"
for name in $IMAGES; do
  case "$name" in
    operator) build operator operator/Dockerfile operator/mlops_operator ;;
    trainer) build trainer trainer_image/Dockerfile trainer_image/mlops_trainer ;;
    serving) build serving serving_image/Dockerfile serving_image/mlops_serving ;;
    *) echo "error: IMAGES names $name; the images are operator, trainer and serving" >&2; exit 2 ;;
  esac
done
# the torch flavour (several GB) only when asked: Deployments with serving.runtime: torch
if [ "${SERVING_TORCH:-0}" = 1 ]; then
  build serving-torch serving_image/Dockerfile serving_image/mlops_serving serving-torch
fi

[ "$MISSING" -eq 0 ] || exit 3
bah images --format '{{.Name}}:{{.Tag}} {{.Size}}' | grep 'ghcr.io/mlops-dev/' | sort
