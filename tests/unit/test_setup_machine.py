"""``scripts/setup-machine.sh``, the set-up ``make test`` and ``make demo`` do themselves: on a
machine without promtool and lua5.4 it installs them with apt-get (here: its dry run), and where
it cannot, it stops with one message that says what to install."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "setup-machine.sh"
#: what the script runs besides the tools it looks for
BASICS = ("bash", "python3", "id", "cut", "env", "tee", "chmod", "rm", "go")


def bare_path(tmp_path: Path, *extra: str) -> str:
    """A PATH with only the basics (and ``extra``): no promtool, no lua5.4, no sudo."""
    folder = tmp_path / "bin"
    folder.mkdir()
    for tool in (*BASICS, *extra):
        (folder / tool).symlink_to(real(tool))
    return str(folder)


def real(tool: str) -> str:
    """The tool's executable itself (not a shim that needs its own PATH)."""
    if tool == "python3":
        return os.path.realpath(sys.executable)
    found = shutil.which(tool)
    assert found, f"{tool} is needed for this test"
    return os.path.realpath(found)


def setup(mode: str, path: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(SCRIPT), mode],
        capture_output=True,
        text=True,
        check=False,
        env={"PATH": path, "HOME": os.environ.get("HOME", "/root"), **env},
        timeout=60,
    )


def test_the_toolchain_check_passes_here_and_names_what_is_missing(tmp_path: Path) -> None:
    assert setup("toolchain", bare_path(tmp_path)).returncode == 0
    no_go = tmp_path / "no-go"
    no_go.mkdir()
    for tool in BASICS[:-1]:
        (no_go / tool).symlink_to(real(tool))
    result = setup("toolchain", str(no_go))
    assert result.returncode == 1
    assert "go (>= 1.26) is required" in result.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="the apt-get path runs as root")
def test_as_root_the_missing_packages_are_installed_with_apt_get(tmp_path: Path) -> None:
    result = setup("test", bare_path(tmp_path, "apt-get"), MLOPS_SETUP_DRY_RUN="1")
    assert result.returncode == 0, result.stderr
    assert "would run: env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq " in result.stdout
    assert result.stdout.rstrip().endswith("--no-install-recommends prometheus lua5.4")


@pytest.mark.skipif(os.geteuid() != 0, reason="switching to another user needs root")
def test_without_root_or_sudo_it_says_what_to_install() -> None:
    setpriv = shutil.which("setpriv")
    assert setpriv, "setpriv (util-linux) is needed for this test"
    with tempfile.TemporaryDirectory(dir="/tmp") as folder:  # readable by the other user
        Path(folder).chmod(0o755)
        path = bare_path(Path(folder), "apt-get")
        stub = Path(path) / "python3"  # the interpreter here may sit in root's home
        stub.unlink()
        stub.write_text("#!/bin/sh\nexit 0\n")
        stub.chmod(0o755)
        Path(path).chmod(0o755)
        as_nobody = [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups"]
        result = subprocess.run(
            [*as_nobody, "bash", str(SCRIPT), "test"],
            capture_output=True,
            text=True,
            check=False,
            env={"PATH": path, "HOME": "/tmp"},
            timeout=60,
        )
    assert result.returncode == 1, result.stderr
    assert result.stderr.count("\n") == 1  # one message
    assert "missing Debian packages: prometheus lua5.4" in result.stderr
    assert "sudo apt-get install prometheus lua5.4" in result.stderr


def test_with_both_tools_present_nothing_is_installed(tmp_path: Path) -> None:
    path = bare_path(tmp_path)
    for tool in ("promtool", "lua5.4"):
        (Path(path) / tool).write_text("#!/bin/sh\n")
        (Path(path) / tool).chmod(0o755)
    result = setup("test", path, MLOPS_SETUP_DRY_RUN="1")
    assert (result.returncode, result.stdout) == (0, "")
