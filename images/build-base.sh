#!/usr/bin/env bash
# The base image of this project's images: Debian bookworm (Python 3.11) assembled with
# debootstrap from Debian packages, committed with buildah. No registry, no Docker daemon.
#
#   images/build-base.sh STORAGE_FLAGS...    # prints the image name
#
# The root filesystem is cached by the package list; the image on top of it (its environment)
# by this file's hash, so changing the environment does not run debootstrap again.
set -euo pipefail

MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
SUITE=bookworm
PACKAGES="python3,ca-certificates,passwd"
store=("$@")
bah() { buildah "${store[@]}" "$@"; }
have() { bah inspect --type image "$1" >/dev/null 2>&1; }

ROOTFS="localhost/mlops-rootfs:$SUITE-$(printf '%s %s' "$SUITE" "$PACKAGES" | sha256sum | cut -c1-16)"
BASE="localhost/mlops-python:$SUITE-$(sha256sum "$0" | cut -c1-16)"
if have "$BASE"; then
  echo "$BASE"
  exit 0
fi
if ! have "$ROOTFS"; then
  echo "== $ROOTFS: debootstrap $SUITE ($PACKAGES)" >&2
  ctr="$(bah from scratch)"
  mnt="$(bah mount "$ctr")"
  debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$mnt" "$MIRROR" >&2
  chroot "$mnt" apt-get clean
  rm -rf "$mnt"/var/lib/apt/lists/* "$mnt"/var/cache/apt/* "$mnt"/usr/share/doc/* \
    "$mnt"/usr/share/man/* "$mnt"/usr/share/locale/* "$mnt"/var/log/*
  bah umount "$ctr" >/dev/null
  bah commit --rm "$ctr" "$ROOTFS" >/dev/null
fi
ctr="$(bah from "$ROOTFS")"
bah config --env LANG=C.UTF-8 \
  --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin --cmd python3 "$ctr"
bah commit --rm "$ctr" "$BASE" >/dev/null
echo "$BASE"
