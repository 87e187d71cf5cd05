#!/usr/bin/env bash
# Lints the GitHub workflows with actionlint, which is built once from the Go module proxy into
# ~/.cache/mlops-tools (like the other Go builds, a second run is instant).
#
#   scripts/actionlint.sh VERSION [WORKFLOW...]   # default: every .github/workflows/*.yml
set -euo pipefail
cd "$(dirname "$0")/.."

version="${1:?usage: $0 VERSION [WORKFLOW...]}"
shift
dest="${XDG_CACHE_HOME:-$HOME/.cache}/mlops-tools/actionlint-$version"
if [ ! -x "$dest/actionlint" ]; then
  command -v go >/dev/null || { echo "error: 'go' is not on PATH (Go builds actionlint $version once)" >&2; exit 1; }
  echo "building actionlint $version from the Go module proxy into $dest (once)" >&2
  mkdir -p "$dest"
  GOBIN="$dest" GOFLAGS=-mod=mod go install "github.com/rhysd/actionlint/cmd/actionlint@$version"
fi
if (($# == 0)); then set -- .github/workflows/*.yml; fi
exec "$dest/actionlint" -no-color "$@"
