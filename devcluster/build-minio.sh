#!/usr/bin/env bash
# Builds the pinned MinIO server from the github.com/minio/minio Go module through the Go module
# proxy, into a cache directory (a throwaway module, so the build never touches this repository).
#
#   devcluster/build-minio.sh [DEST_DIR]          # build (a second run is instant)
#   devcluster/build-minio.sh --download-only     # fetch the sources only
#
# DEST_DIR defaults to ~/.cache/mlops-devcluster/minio-$MINIO_VERSION/bin.
set -euo pipefail

MINIO_VERSION="${MINIO_VERSION:-v0.0.0-20260212201848-7aac2a2c5b7c}"
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/mlops-devcluster"
download_only=false
if [ "${1:-}" = "--download-only" ]; then download_only=true; shift; fi
DEST="${1:-$CACHE/minio-$MINIO_VERSION/bin}"
WORK="$CACHE/build/minio-$MINIO_VERSION"

command -v go >/dev/null || { echo "error: 'go' is not on PATH; install Go >= 1.24 or put a 'minio' binary on PATH (or set MLOPS_DEVCLUSTER_MINIO)" >&2; exit 1; }

if [ -x "$DEST/minio" ]; then echo "$DEST"; exit 0; fi
mkdir -p "$DEST" "$WORK"
# one build at a time: a second caller waits here and then finds the first one's result
exec 9>"$WORK.lock"
flock 9
if [ -x "$DEST/minio" ]; then echo "$DEST"; exit 0; fi
cd "$WORK"
if [ ! -f go.sum ]; then
  rm -f go.mod
  go mod init mlops.dev/minio-binary >/dev/null 2>&1
  echo "require github.com/minio/minio $MINIO_VERSION" >> go.mod
  cat > tools.go <<'GO'
//go:build tools

package tools

import _ "github.com/minio/minio"
GO
  GOFLAGS=-mod=mod go mod tidy -e >/dev/null 2>&1 || true
  GOFLAGS=-mod=mod go mod download
fi
if $download_only; then exit 0; fi
echo "building minio $MINIO_VERSION" >&2
start=$(date +%s)
CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -ldflags "-s -w" -o "$DEST/minio.tmp" github.com/minio/minio
mv "$DEST/minio.tmp" "$DEST/minio"
echo "built minio in $(( $(date +%s) - start ))s" >&2
echo "$DEST"
