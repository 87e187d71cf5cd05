#!/usr/bin/env bash
# Builds the pinned helm binary from the helm.sh/helm/v3 Go module through the Go module proxy,
# into a cache directory.
#
#   devcluster/build-helm.sh [DEST_DIR]
#
# DEST_DIR defaults to ~/.cache/mlops-devcluster/helm-$HELM_VERSION/bin. A helm that is already
# there and reports the pinned version is not rebuilt, so a second run is instant.
set -euo pipefail

HELM_VERSION="${HELM_VERSION:-v3.22.0}"
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/mlops-devcluster"
DEST="${1:-$CACHE/helm-$HELM_VERSION/bin}"
WORK="$CACHE/build/helm-$HELM_VERSION"

command -v go >/dev/null || { echo "error: 'go' is not on PATH; install Go >= 1.26 or put helm $HELM_VERSION on PATH" >&2; exit 1; }

if [ -x "$DEST/helm" ] && "$DEST/helm" version --template '{{.Version}}' 2>/dev/null | grep -qx "$HELM_VERSION"; then
  echo "$DEST"
  exit 0
fi

mkdir -p "$DEST" "$WORK"
# one build at a time: a second caller waits here and then finds the first one's result
exec 9>"$WORK.lock"
flock 9
if [ -x "$DEST/helm" ] && "$DEST/helm" version --template '{{.Version}}' 2>/dev/null | grep -qx "$HELM_VERSION"; then
  echo "$DEST"
  exit 0
fi
cd "$WORK"
if [ ! -f go.sum ]; then
  rm -f go.mod
  go mod init mlops.dev/helm-binary >/dev/null 2>&1
  echo "require helm.sh/helm/v3 $HELM_VERSION" >> go.mod
  cat > tools.go <<'GO'
//go:build tools

package tools

import _ "helm.sh/helm/v3/cmd/helm"
GO
  GOFLAGS=-mod=mod go mod download helm.sh/helm/v3
  GOFLAGS=-mod=mod go mod tidy -e >/dev/null 2>&1 || true
fi

echo "building helm $HELM_VERSION" >&2
start=$(date +%s)
# the release build stamps the version the same way (else `helm version` says v3.x-dev)
CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath \
  -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION -X helm.sh/helm/v3/internal/version.gitTreeState=clean" \
  -o "$DEST/helm.tmp" helm.sh/helm/v3/cmd/helm
mv "$DEST/helm.tmp" "$DEST/helm"
echo "built helm in $(( $(date +%s) - start ))s" >&2
echo "$DEST"
