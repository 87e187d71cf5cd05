"""How a container becomes a local process: a private mount (and UTS) namespace in which the
pod's volumes, its termination-message file and its hosts file are bind-mounted, then ``exec``.

The sources live in the devcluster's state folder, which may lie under a mount target (the state
folder of a test devcluster is under ``/tmp``, and a pod with a read-only root file system mounts
an ``emptyDir`` at ``/tmp``). So the script first opens every source as a file descriptor, and
mounts from ``/proc/self/fd/N``: the kernel follows that link to the source itself, which no
earlier mount can hide. Targets are mounted parents first (by path depth, as container runtimes
do), so ``/tmp`` and then ``/tmp/cache`` nest instead of the first hiding the second.
"""

from __future__ import annotations

import posixpath
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Final

#: the first file descriptor a source is opened on (0-2 are the standard streams)
FIRST_SOURCE_FD: Final = 3


@dataclass(frozen=True)
class BindMount:
    source: Path
    target: str
    read_only: bool = False
    is_file: bool = False


def _depth(target: str) -> int:
    return len([part for part in posixpath.normpath(target).split("/") if part])


def mount_order(mounts: list[BindMount]) -> list[BindMount]:
    """Parents before children; mounts at the same depth keep their order (stable sort)."""
    return sorted(mounts, key=lambda mount: _depth(mount.target))


def launch_script(*, hostname: str, mounts: list[BindMount], working_dir: str | None) -> str:
    """The bash script run inside ``unshare``; the container's argv follows as ``"$@"``."""
    numbered = list(enumerate(mount_order(mounts), start=FIRST_SOURCE_FD))
    lines = ["set -e", f"hostname {shlex.quote(hostname)} 2>/dev/null || true"]
    if numbered:
        opens = " ".join(f"{fd}<{shlex.quote(str(m.source))}" for fd, m in numbered)
        lines.append(f"exec {opens}")
    for fd, mount in numbered:
        target = shlex.quote(mount.target)
        if mount.is_file:
            lines.append(f'mkdir -p "$(dirname {target})"; [ -e {target} ] || : > {target}')
        else:
            lines.append(f"mkdir -p {target}")
        # --no-canonicalize: mount(2) must get the magic link, not the path it names
        lines.append(f"mount --no-canonicalize --bind /proc/self/fd/{fd} {target}")
        if mount.read_only:
            lines.append(f"mount -o remount,bind,ro {target}")
    if numbered:
        lines.append("exec " + " ".join(f"{fd}<&-" for fd, _ in numbered))
    if working_dir:
        lines.append(f"mkdir -p {shlex.quote(working_dir)}")
        lines.append(f"cd {shlex.quote(working_dir)}")
    lines.append('exec "$@"')
    return "\n".join(lines)


def launch_argv(script: str, argv: list[str]) -> list[str]:
    """``unshare`` (new mount and UTS namespaces, private propagation) → ``bash -c script``
    (bash, because a pod may have more volumes than the single-digit descriptors of sh)."""
    return [
        "unshare",
        "--mount",
        "--uts",
        "--propagation",
        "private",
        "--",
        "/bin/bash",
        "-c",
        script,
        "container",
        *argv,
    ]
