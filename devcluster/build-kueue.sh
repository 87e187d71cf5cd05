#!/usr/bin/env bash
# Builds the pinned Kueue manager from the sigs.k8s.io/kueue Go module through the Go module
# proxy, into a cache directory, and copies Kueue's CRDs from the same module beside it.
#
#   devcluster/build-kueue.sh [DEST_DIR]
#
# DEST_DIR defaults to ~/.cache/mlops-devcluster/kueue-$KUEUE_VERSION; the binary goes to
# DEST_DIR/bin/kueue and the CRDs to DEST_DIR/crd/. A binary that is already there is not
# rebuilt, so a second run is instant. First build on 2 cores: about 3 to 6 minutes.
set -euo pipefail

KUEUE_VERSION="${KUEUE_VERSION:-v0.17.0}"
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/mlops-devcluster"
DEST="${1:-$CACHE/kueue-$KUEUE_VERSION}"

command -v go >/dev/null || { echo "error: 'go' is not on PATH; install Go >= 1.26 or set MLOPS_DEVCLUSTER_KUEUE to a kueue manager binary" >&2; exit 1; }

ready() { [ -x "$DEST/bin/kueue" ] && [ -n "$(ls "$DEST/crd/"*.yaml 2>/dev/null)" ]; }
if ready; then echo "$DEST"; exit 0; fi

mkdir -p "$DEST/bin" "$DEST/crd"
# one build at a time: a second caller waits here and then finds the first one's result
exec 9>"$DEST.lock"
flock 9
if ready; then echo "$DEST"; exit 0; fi

module_dir="$(GOFLAGS=-mod=mod go mod download -json "sigs.k8s.io/kueue@$KUEUE_VERSION" | sed -n 's/^\s*"Dir": "\(.*\)",$/\1/p')"
[ -d "$module_dir/config/components/crd/bases" ] || { echo "error: no CRDs in $module_dir" >&2; exit 1; }
cp "$module_dir"/config/components/crd/bases/*.yaml "$DEST/crd/"

echo "building kueue $KUEUE_VERSION" >&2
start=$(date +%s)
# the release build stamps the version the same way (else the manager reports v0.0.0)
CGO_ENABLED=0 GOBIN="$DEST/bin.tmp" go install -trimpath \
  -ldflags "-s -w -X sigs.k8s.io/kueue/pkg/version.GitVersion=$KUEUE_VERSION" \
  "sigs.k8s.io/kueue/cmd/kueue@$KUEUE_VERSION"
mv "$DEST/bin.tmp/kueue" "$DEST/bin/kueue"
rmdir "$DEST/bin.tmp"
echo "built kueue in $(( $(date +%s) - start ))s" >&2
echo "$DEST"
