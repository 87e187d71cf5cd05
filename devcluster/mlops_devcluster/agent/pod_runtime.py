"""This project's Python runtime inside every pod, at a fixed path that no volume can shadow.

An image would carry its virtual environment at ``/opt/venv``; the node agent runs pods from
the host's virtual environment instead, which lives wherever the checkout is (under ``/tmp``,
say, where a pod with a read-only root file system mounts an ``emptyDir``). So each container
sees, read-only, whatever its mounts may hide:

- ``/opt/mlops/python``: the base interpreter's installation (``sys.base_prefix``);
- ``/opt/mlops/venv``: the virtual environment, with its own ``pyvenv.cfg`` (``home`` →
  ``/opt/mlops/python/bin``), its own ``bin`` (``python`` → the interpreter under
  ``/opt/mlops/python``; scripts with the environment's path rewritten) and each ``.pth`` file
  that names the checkout rewritten to ``/opt/mlops/src`` (editable installs);
- ``/opt/mlops/src``: the checkout those ``.pth`` files name.

``PATH`` starts with ``/opt/mlops/venv/bin``, so ``python`` is this runtime. A volume mounted at
or under ``/opt/mlops`` is refused (see :func:`check_mount_path`).
"""

from __future__ import annotations

import logging
import os
import posixpath
import shutil
import site
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from mlops_devcluster.agent.launch import BindMount

RUNTIME_ROOT: Final = "/opt/mlops"
PYTHON_HOME: Final = f"{RUNTIME_ROOT}/python"
VENV: Final = f"{RUNTIME_ROOT}/venv"
SOURCE: Final = f"{RUNTIME_ROOT}/src"
BIN: Final = f"{VENV}/bin"
#: bin files bigger than this (compiled tools) are linked, not copied
COPY_LIMIT: Final = 1 << 20
log = logging.getLogger(__name__)


class RuntimeMountError(ValueError):
    """A volume would cover the runtime's fixed path."""


def check_mount_path(target: str) -> None:
    normal = posixpath.normpath(target)
    if normal == RUNTIME_ROOT or normal.startswith(RUNTIME_ROOT + "/"):
        raise RuntimeMountError(
            f"mountPath {target} would cover {RUNTIME_ROOT}, where every pod on the devcluster "
            f"finds this project's Python runtime (as an image's /opt/venv); mount it elsewhere"
        )


@dataclass(frozen=True)
class HostPython:
    """Where the agent's own Python lives on the host."""

    venv: Path
    base: Path
    site_packages: tuple[Path, ...]

    @classmethod
    def current(cls) -> HostPython:
        prefix = Path(sys.prefix)
        found = tuple(Path(p) for p in site.getsitepackages() if Path(p).is_relative_to(prefix))
        return cls(venv=prefix, base=Path(sys.base_prefix), site_packages=found)

    @property
    def is_venv(self) -> bool:
        return self.venv != self.base


def editable_paths(pth_text: str) -> list[str]:
    """The directories a ``.pth`` file adds (its absolute lines; not its ``import`` lines)."""
    return [
        line.strip()
        for line in pth_text.splitlines()
        if line.strip().startswith("/") and not line.startswith(("import ", "import\t"))
    ]


def source_root(paths: list[str], *, inside: list[Path]) -> str | None:
    """The folder that holds every editable path outside the environment itself (the
    checkout), or None when there is none or they share only ``/``."""
    outside = [p for p in paths if not any(Path(p).is_relative_to(i) for i in inside)]
    if not outside:
        return None
    root = os.path.commonpath(outside)
    return None if root == "/" else root


def relocate(text: str, moves: dict[str, str]) -> str:
    """Each host path in ``moves`` (longest first) → its place under the runtime root."""
    for old in sorted(moves, key=len, reverse=True):
        text = text.replace(old, moves[old])
    return text


def runtime_home(pyvenv_cfg: str, *, base: Path) -> str:
    """``pyvenv.cfg`` with ``home`` moved under ``/opt/mlops/python``."""
    lines = []
    for line in pyvenv_cfg.splitlines():
        key, _, value = line.partition("=")
        if key.strip() == "home" and Path(value.strip()).is_relative_to(base):
            relative = Path(value.strip()).relative_to(base)
            line = f"home = {PYTHON_HOME}" + ("" if relative == Path() else f"/{relative}")
        lines.append(line)
    return "\n".join(lines) + "\n"


class PodRuntime:
    """Prepared once by the agent (generated files under ``folder``); :attr:`mounts` are the
    bind mounts every container gets before its volumes."""

    def __init__(self, host: HostPython, folder: Path) -> None:
        self.host = host
        self.folder = folder
        self.mounts: list[BindMount] = []
        self.bin_dir = BIN

    def prepare(self) -> PodRuntime:
        shutil.rmtree(self.folder, ignore_errors=True)
        self.folder.mkdir(parents=True)
        host = self.host
        if not host.is_venv:
            self.bin_dir = str(Path(sys.executable).parent)
            log.warning(
                "the node agent runs outside a virtual environment, so pods use the Python in "
                "%s at its host path, where a volume can hide it; run the devcluster from the "
                "project's virtual environment",
                self.bin_dir,
            )
            return self
        mounts = [
            BindMount(host.base, PYTHON_HOME, read_only=True),
            BindMount(host.venv, VENV, read_only=True),
        ]
        moves = {str(host.venv): VENV}
        config = self.folder / "pyvenv.cfg"
        config.write_text(runtime_home((host.venv / "pyvenv.cfg").read_text(), base=host.base))
        mounts.append(BindMount(config, f"{VENV}/pyvenv.cfg", read_only=True, is_file=True))
        found = {p.resolve(): p for d in host.site_packages for p in sorted(d.glob("*.pth"))}
        pth_files = list(found.values())
        paths = [path for p in pth_files for path in editable_paths(p.read_text())]
        checkout = source_root(paths, inside=[host.venv, host.base])
        if checkout is not None:
            mounts.append(BindMount(Path(checkout), SOURCE, read_only=True))
            moves[checkout] = SOURCE
        mounts.append(BindMount(self._bin(moves), BIN, read_only=True))
        for index, pth in enumerate(pth_files):
            text = pth.read_text()
            moved = relocate(text, moves)
            if moved != text:
                copy = self.folder / "pth" / f"{index}-{pth.name}"
                copy.parent.mkdir(exist_ok=True)
                copy.write_text(moved)
                target = f"{VENV}/{pth.relative_to(host.venv)}"
                mounts.append(BindMount(copy, target, read_only=True, is_file=True))
        self.mounts = mounts
        log.info("pods run Python from %s (host: %s)", VENV, host.venv)
        return self

    def _bin(self, moves: dict[str, str]) -> Path:
        """The environment's ``bin`` as a pod sees it: links to the interpreter go to its
        place under ``/opt/mlops/python``, scripts name ``/opt/mlops/venv``."""
        host, folder = self.host, self.folder / "bin"
        folder.mkdir()
        byte_moves = {k.encode(): v.encode() for k, v in moves.items()}
        for entry in sorted((host.venv / "bin").iterdir()):
            target = folder / entry.name
            if entry.is_symlink():
                link = os.readlink(entry)
                resolved = entry.resolve()
                if Path(link).is_absolute() and resolved.is_relative_to(host.base):
                    link = f"{PYTHON_HOME}/{resolved.relative_to(host.base)}"
                target.symlink_to(link)
            elif entry.is_file() and entry.stat().st_size <= COPY_LIMIT:
                data = entry.read_bytes()
                for old in sorted(byte_moves, key=len, reverse=True):
                    data = data.replace(old, byte_moves[old])
                target.write_bytes(data)
                target.chmod(entry.stat().st_mode & 0o777)
            else:
                target.symlink_to(entry)
        return folder
