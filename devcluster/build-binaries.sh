#!/usr/bin/env bash
# Builds the pinned Kubernetes control-plane binaries (and etcd, and kubectl) from the
# k8s.io/kubernetes Go module through the Go module proxy, into a cache directory.
#
#   devcluster/build-binaries.sh [DEST_DIR]
#
# DEST_DIR defaults to ~/.cache/mlops-devcluster/kubernetes-$KUBE_VERSION/bin. A binary that is
# already there and reports the pinned version is not rebuilt, so a second run is instant.
# First build on 2 cores: about 6 minutes (etcd 50 s, kube-apiserver 3.5 min, the rest less).
set -euo pipefail

KUBE_VERSION="${KUBE_VERSION:-v1.36.3}"
ETCD_VERSION="${ETCD_VERSION:-v3.6.8}"
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/mlops-devcluster"
DEST="${1:-$CACHE/kubernetes-$KUBE_VERSION/bin}"
WORK="$CACHE/build/kubernetes-$KUBE_VERSION"

command -v go >/dev/null || { echo "error: 'go' is not on PATH; install Go >= 1.26 or set KUBEBUILDER_ASSETS to a folder with etcd, kube-apiserver, kube-controller-manager and kube-scheduler" >&2; exit 1; }

mkdir -p "$DEST" "$WORK"
# one build at a time: a second caller waits here and then finds the first one's result
exec 9>"$WORK.lock"
flock 9
staging_minor="v0.${KUBE_VERSION#v1.}"

if [ ! -f "$WORK/go.sum" ]; then
  cd "$WORK"
  rm -f go.mod
  go mod init mlops.dev/kube-binaries >/dev/null 2>&1
  modfile="$(go env GOMODCACHE)/cache/download/k8s.io/kubernetes/@v/$KUBE_VERSION.mod"
  go mod download "k8s.io/kubernetes@$KUBE_VERSION"
  {
    echo "require k8s.io/kubernetes $KUBE_VERSION"
    echo "require go.etcd.io/etcd/server/v3 $ETCD_VERSION"
    sed -n 's#^\s*\(k8s\.io/[a-z0-9-]*\) => \./staging/.*#replace \1 => \1 '"$staging_minor"'#p' "$modfile"
  } >> go.mod
  cat > tools.go <<'GO'
//go:build tools

package tools

import (
	_ "go.etcd.io/etcd/server/v3"
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
GO
  GOFLAGS=-mod=mod go mod tidy -e >/dev/null 2>&1 || true
  GOFLAGS=-mod=mod go mod download
fi

cd "$WORK"
# Stamp the Kubernetes version into the binaries as the release build does (else they report
# v0.0.0-master); a cached binary without the stamp is rebuilt (a relink, seconds).
minor="${KUBE_VERSION#v1.}"; minor="${minor%%.*}"
stamp=""
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  stamp="$stamp -X $pkg.gitVersion=$KUBE_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
  stamp="$stamp -X $pkg.gitTreeState=clean"
done
current() {  # current NAME: the binary is there and reports the pinned version
  [ -x "$DEST/$1" ] || return 1
  case "$1" in
    etcd) "$DEST/$1" --version 2>/dev/null | grep -q "etcd Version: ${ETCD_VERSION#v}" ;;
    kubectl) "$DEST/$1" version --client 2>/dev/null | grep -q "$KUBE_VERSION" ;;
    *) "$DEST/$1" --version 2>/dev/null | grep -q "$KUBE_VERSION" ;;
  esac
}
build() {  # build NAME PACKAGE
  if current "$1"; then return 0; fi
  echo "building $1 ($2)" >&2
  start=$(date +%s)
  CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -ldflags "-s -w $stamp" -o "$DEST/$1.tmp" "$2"
  mv "$DEST/$1.tmp" "$DEST/$1"
  echo "built $1 in $(( $(date +%s) - start ))s" >&2
}
build etcd go.etcd.io/etcd/server/v3
build kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver
build kube-controller-manager k8s.io/kubernetes/cmd/kube-controller-manager
build kube-scheduler k8s.io/kubernetes/cmd/kube-scheduler
build kubectl k8s.io/kubernetes/cmd/kubectl
echo "$DEST"
