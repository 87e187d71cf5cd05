#!/usr/bin/env bash
# The base image of this project's images: Debian bookworm (Python 3.11) assembled with
# debootstrap from Debian packages, committed with buildah. No registry, no Docker daemon.
#
#   images/build-base.sh STORAGE_FLAGS...    # prints the image name; cached by this file's hash
set -euo pipefail

MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
PACKAGES="python3,ca-certificates,passwd"
bah() { buildah "$@"; }
store=("$@")

BASE="localhost/mlops-python:bookworm-$(sha256sum "$0" | cut -c1-16)"
if bah "${store[@]}" inspect --type image "$BASE" >/dev/null 2>&1; then
  echo "$BASE"
  exit 0
fi
echo "== base $BASE: debootstrap bookworm ($PACKAGES)" >&2
ctr="$(bah "${store[@]}" from scratch)"
mnt="$(bah "${store[@]}" mount "$ctr")"
debootstrap --variant=minbase --include="$PACKAGES" bookworm "$mnt" "$MIRROR" >&2
chroot "$mnt" apt-get clean
rm -rf "$mnt"/var/lib/apt/lists/* "$mnt"/var/cache/apt/* "$mnt"/usr/share/doc/* \
  "$mnt"/usr/share/man/* "$mnt"/usr/share/locale/* "$mnt"/var/log/*
bah "${store[@]}" umount "$ctr" >/dev/null
bah "${store[@]}" config --env LANG=C.UTF-8 --env PATH=/usr/local/bin:/usr/bin:/bin --cmd python3 "$ctr"
bah "${store[@]}" commit --rm "$ctr" "$BASE" >/dev/null
echo "$BASE"
