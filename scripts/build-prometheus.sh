#!/usr/bin/env bash
# Builds Prometheus with its Kubernetes service discovery from the Go module proxy, into a cache
# folder, for the integration test that scrapes the local cluster. (Debian's prometheus package
# is built without Kubernetes discovery; promtool from it is enough for the rule tests.)
#
#   scripts/build-prometheus.sh [DEST_DIR]      # prints the folder holding `prometheus`
#
# Only the discoveries the test needs are compiled in (build tags remove_all_sd and
# enable_kubernetes_sd keep static, file, HTTP and Kubernetes). A second run is instant.
set -euo pipefail

PROMETHEUS_MODULE_VERSION="${PROMETHEUS_MODULE_VERSION:-v0.316.0}"
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/mlops-observability"
DEST="${1:-$CACHE/prometheus-$PROMETHEUS_MODULE_VERSION}"
WORK="$CACHE/build/prometheus-$PROMETHEUS_MODULE_VERSION"

command -v go >/dev/null || { echo "error: 'go' is not on PATH (Go >= 1.26 builds Prometheus)" >&2; exit 1; }
if [ -x "$DEST/prometheus" ]; then
  echo "$DEST"
  exit 0
fi
mkdir -p "$DEST" "$WORK"
cd "$WORK"
if [ ! -f go.mod ]; then
  go mod init mlops.dev/prometheus-binary >/dev/null 2>&1
  echo "require github.com/prometheus/prometheus $PROMETHEUS_MODULE_VERSION" >> go.mod
  cat > tools.go <<'GO'
//go:build tools

package tools

import _ "github.com/prometheus/prometheus/cmd/prometheus"
GO
fi
echo "building prometheus ($PROMETHEUS_MODULE_VERSION) with Kubernetes discovery" >&2
start=$(date +%s)
GOFLAGS=-mod=mod CGO_ENABLED=0 go build -tags "remove_all_sd,enable_kubernetes_sd" \
  -o "$DEST/prometheus.partial" github.com/prometheus/prometheus/cmd/prometheus
mv "$DEST/prometheus.partial" "$DEST/prometheus"
echo "built prometheus in $(( $(date +%s) - start ))s" >&2
echo "$DEST"
