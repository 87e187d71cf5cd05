"""How a container becomes a local process: a private mount (and UTS) namespace in which the
pod's volumes, its termination-message file and its hosts file are bind-mounted, then ``exec``.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class BindMount:
    source: Path
    target: str
    read_only: bool = False
    is_file: bool = False


def launch_script(*, hostname: str, mounts: list[BindMount], working_dir: str | None) -> str:
    """The shell script run inside ``unshare``; the container's argv follows as ``"$@"``."""
    lines = ["set -e", f"hostname {shlex.quote(hostname)} 2>/dev/null || true"]
    for mount in mounts:
        target = shlex.quote(mount.target)
        source = shlex.quote(str(mount.source))
        if mount.is_file:
            lines.append(f'mkdir -p "$(dirname {target})"; [ -e {target} ] || : > {target}')
        else:
            lines.append(f"mkdir -p {target}")
        lines.append(f"mount --bind {source} {target}")
        if mount.read_only:
            lines.append(f"mount -o remount,bind,ro {target}")
    if working_dir:
        lines.append(f"mkdir -p {shlex.quote(working_dir)}")
        lines.append(f"cd {shlex.quote(working_dir)}")
    lines.append('exec "$@"')
    return "\n".join(lines)


def launch_argv(script: str, argv: list[str]) -> list[str]:
    """``unshare`` (new mount and UTS namespaces, private propagation) → ``sh -c script``."""
    return [
        "unshare",
        "--mount",
        "--uts",
        "--propagation",
        "private",
        "--",
        "/bin/sh",
        "-c",
        script,
        "container",
        *argv,
    ]
