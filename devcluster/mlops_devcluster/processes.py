"""Starting, finding and stopping the devcluster's background processes through pid files."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

#: processes this interpreter started and has not reaped yet (kept so that ``stop`` can collect
#: their exit status, and so that no Popen is dropped while its process still runs)
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


def start(
    argv: Sequence[str],
    *,
    pid_file: Path,
    log_file: Path,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> int:
    """Start ``argv`` in its own session (it outlives the caller), output appended to
    ``log_file``; record its pid. Returns the pid."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("ab") as log:
        process = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            start_new_session=True,
        )
    _CHILDREN[process.pid] = process
    pid_file.parent.mkdir(parents=True, exist_ok=True)
    pid_file.write_text(f"{process.pid}\n{argv[0]}\n")
    return process.pid


def _cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def _zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[-1].split()[0] == "Z"


def running_pid(pid_file: Path) -> int | None:
    """The pid recorded in ``pid_file`` if that process still runs the same program."""
    try:
        pid_text, program = pid_file.read_text().splitlines()[:2]
        pid = int(pid_text)
    except (OSError, ValueError):
        return None
    if not Path(f"/proc/{pid}").exists() or _zombie(pid):
        return None
    cmdline = _cmdline(pid)
    # an empty command line: the process is between exec and setting up its arguments
    if cmdline and cmdline[0] != program:
        return None
    return pid


def alive(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists() and not _zombie(pid)


def _reap(pid: int) -> None:
    """Collect a child's exit status (when it is our child) so it does not stay a zombie."""
    child = _CHILDREN.get(pid)
    if child is not None:
        if child.poll() is not None:
            del _CHILDREN[pid]
        return
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def reap_children() -> None:
    """Collect the exit status of every finished process this interpreter started."""
    for pid in list(_CHILDREN):
        _reap(pid)


def stop(pid_file: Path, *, grace: float = 10.0) -> bool:
    """SIGTERM the process group of the recorded process, SIGKILL after ``grace`` seconds.
    Returns whether something was running."""
    pid = running_pid(pid_file)
    pid_file.unlink(missing_ok=True)
    if pid is None:
        return False
    terminate_group(pid, grace=grace)
    return True


def terminate_group(pid: int, *, grace: float) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        _reap(pid)
        if not alive(pid):
            return
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
    for _ in range(50):
        _reap(pid)
        if not alive(pid):
            return
        time.sleep(0.1)
