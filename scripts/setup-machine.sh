#!/usr/bin/env bash
# What `make demo` and `make test` need on the machine besides the Python environment, checked
# and, where it can be, installed (the one place this happens: make and CI both call it).
#
#   scripts/setup-machine.sh toolchain   # python3 >= 3.11 and go (builds the Kubernetes binaries)
#   scripts/setup-machine.sh test        # + promtool (Debian's prometheus) and lua5.4, installed
#                                         #   with apt-get when missing (as root, or with sudo -n)
#
# Set MLOPS_SETUP_DRY_RUN=1 to print the apt-get commands instead of running them.
set -euo pipefail

mode="${1:-toolchain}"
case "$mode" in toolchain | test) ;; *) echo "usage: $0 toolchain|test" >&2; exit 2 ;; esac

fail() { printf 'setup: %s\n' "$1" >&2; exit 1; }

command -v python3 >/dev/null || fail "python3 (>= 3.11) is required: install it (Debian: apt-get install python3)"
python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
  || fail "python3 is $(python3 -V 2>&1 | cut -d' ' -f2); 3.11 or newer is required"
if ! command -v go >/dev/null && [ -z "${KUBEBUILDER_ASSETS:-}" ]; then
  fail "go (>= 1.26) is required to build the Kubernetes binaries once: install it from https://go.dev/dl/ and put it on PATH (or point KUBEBUILDER_ASSETS at prebuilt etcd and kube-apiserver)"
fi
[ "$mode" = toolchain ] && exit 0

# promtool checks the alert rules and the dashboard's queries; lua5.4 runs the Argo CD health
# checks. Their Debian packages, by the command each one provides:
declare -A package_of=([promtool]=prometheus [lua5.4]=lua5.4)
missing=()
for command in promtool lua5.4; do
  command -v "$command" >/dev/null || missing+=("${package_of[$command]}")
done
((${#missing[@]})) || exit 0

as_root=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then as_root=(sudo -n); else as_root=(none); fi
fi
if [ "${as_root[0]:-}" = none ] || ! command -v apt-get >/dev/null; then
  fail "missing Debian packages: ${missing[*]} (the tests need promtool and lua5.4). Install them: sudo apt-get install ${missing[*]} -- or run make test as root on Debian/Ubuntu, where it installs them itself"
fi

run() {
  if [ -n "${MLOPS_SETUP_DRY_RUN:-}" ]; then echo "would run: $*"; else "$@"; fi
}
echo "setup: installing ${missing[*]} with apt-get (promtool, lua5.4 for the tests)"
run "${as_root[@]}" apt-get update -qq
# The tests start their own Prometheus: keep the package from starting a system service.
policy=/usr/sbin/policy-rc.d
own_policy=0
if [ ! -e "$policy" ] && [ -z "${MLOPS_SETUP_DRY_RUN:-}" ]; then
  printf '#!/bin/sh\nexit 101\n' | "${as_root[@]}" tee "$policy" >/dev/null
  "${as_root[@]}" chmod +x "$policy"
  own_policy=1
fi
status=0
run "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
  apt-get install -y -qq --no-install-recommends "${missing[@]}" || status=$?
if [ "$own_policy" -eq 1 ]; then "${as_root[@]}" rm -f "$policy"; fi
((status == 0)) || fail "apt-get install ${missing[*]} failed (exit $status): install them by hand and run make test again"
