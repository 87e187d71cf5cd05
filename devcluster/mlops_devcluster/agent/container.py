"""One container of a pod as a local process: start, watch, probe, stop."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from mlops_devcluster.agent.launch import BindMount, launch_argv, launch_script
from mlops_devcluster.agent.nodes import now
from mlops_devcluster.agent.pod_status import ContainerRecord
from mlops_devcluster.agent.probes import ProbeTracker, run_probe

Object = dict[str, Any]
MESSAGE_LIMIT: Final = 4096
FALLBACK_LOG_LINES: Final = 80
FALLBACK_LOG_BYTES: Final = 2048
DEFAULT_TERMINATION_PATH: Final = "/dev/termination-log"


def exit_code(returncode: int) -> int:
    """``Popen.returncode`` → a container exit code (a signal N becomes 128 + N)."""
    return 128 - returncode if returncode < 0 else returncode


def termination_message(*, message_file: Path, log_file: Path, policy: str, failed: bool) -> str:
    """The message file (≤ 4 KiB); with FallbackToLogsOnError an empty file on failure gives
    the tail of the log."""
    try:
        message = message_file.read_bytes()[:MESSAGE_LIMIT].decode(errors="replace")
    except OSError:
        message = ""
    if not message and failed and policy == "FallbackToLogsOnError":
        try:
            lines = log_file.read_bytes().splitlines()[-FALLBACK_LOG_LINES:]
        except OSError:
            return ""
        return b"\n".join(lines)[-FALLBACK_LOG_BYTES:].decode(errors="replace")
    return message


@dataclass
class ContainerRun:
    """Runtime state of one container (its API record is ``record``)."""

    spec: Object
    pod_dir: Path
    log_dir: Path
    pid_dir: Path
    pod_uid: str
    record: ContainerRecord = field(init=False)
    entrypoint: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None
    started_mono: float = 0.0
    restart_at: float | None = None
    backoff: float = 1.0
    readiness: ProbeTracker | None = None
    liveness: ProbeTracker | None = None
    startup: ProbeTracker | None = None
    stop_requested: bool = False

    def __post_init__(self) -> None:
        self.record = ContainerRecord(name=self.spec["name"], image=self.spec.get("image", ""))

    @property
    def name(self) -> str:
        return str(self.spec["name"])

    @property
    def message_file(self) -> Path:
        return self.pod_dir / "termination" / self.name

    @property
    def pid_file(self) -> Path:
        return self.pid_dir / f"{self.pod_uid}_{self.name}.pid"

    def log_file(self, restart: int | None = None) -> Path:
        count = self.record.restart_count if restart is None else restart
        return self.log_dir / self.name / f"{count}.log"

    def start(
        self,
        *,
        argv: list[str],
        env: dict[str, str],
        hostname: str,
        mounts: list[BindMount],
    ) -> None:
        self.message_file.parent.mkdir(parents=True, exist_ok=True)
        self.message_file.write_bytes(b"")
        message_path = self.spec.get("terminationMessagePath") or DEFAULT_TERMINATION_PATH
        all_mounts = [*mounts, BindMount(self.message_file, message_path, is_file=True)]
        script = launch_script(
            hostname=hostname, mounts=all_mounts, working_dir=self.spec.get("workingDir")
        )
        # the pid file exists while the run is live (log followers stop when it is gone), so
        # it is there before the log file is
        self.pid_file.parent.mkdir(parents=True, exist_ok=True)
        self.pid_file.write_text("0\nstarting\n")
        log_file = self.log_file()
        log_file.parent.mkdir(parents=True, exist_ok=True)
        work_dir = self.pod_dir / "work"
        work_dir.mkdir(parents=True, exist_ok=True)
        try:
            with log_file.open("ab") as log:
                self.process = subprocess.Popen(
                    launch_argv(script, argv),
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=env,
                    cwd=work_dir,
                    start_new_session=True,
                )
        except OSError:
            self.pid_file.unlink(missing_ok=True)
            raise
        self.pid_file.write_text(f"{self.process.pid}\n{argv[0] if argv else ''}\n")
        self.started_mono = time.monotonic()
        self.stop_requested = False
        self.restart_at = None
        startup = self.spec.get("startupProbe")
        readiness = self.spec.get("readinessProbe")
        liveness = self.spec.get("livenessProbe")
        self.startup = ProbeTracker(startup, self.started_mono) if startup else None
        self.readiness = ProbeTracker(readiness, self.started_mono) if readiness else None
        self.liveness = ProbeTracker(liveness, self.started_mono) if liveness else None
        self.record.state = {"running": {"startedAt": now()}}
        self.record.started = self.startup is None
        self.record.ready = self.readiness is None and self.startup is None
        self.record.container_id = (
            f"mlops-devcluster://{self.pod_uid}/{self.name}/{self.process.pid}"
        )

    def poll(self) -> bool:
        """Record the exit if the process has ended; True when it just ended."""
        if self.process is None or self.process.poll() is None:
            return False
        code = exit_code(int(self.process.returncode))
        failed = code != 0
        message = termination_message(
            message_file=self.message_file,
            log_file=self.log_file(),
            policy=self.spec.get("terminationMessagePolicy", "File"),
            failed=failed,
        )
        terminated: Object = {
            "exitCode": code,
            "reason": "Error" if failed else "Completed",
            "startedAt": self.record.state.get("running", {}).get("startedAt", now()),
            "finishedAt": now(),
            "containerID": self.record.container_id,
        }
        if message:
            terminated["message"] = message
        self.record.state = {"terminated": terminated}
        self.record.ready = False
        self.process = None
        self.pid_file.unlink(missing_ok=True)
        return True

    def _probe(self, tracker: ProbeTracker, pod_ip: str) -> None:
        pid = self.process.pid if self.process is not None else None
        ok, message = run_probe(
            tracker.probe, container=self.spec, pod_ip=pod_ip, env=self.env, pid=pid
        )
        tracker.record(ok, message, now=time.monotonic())

    def check_probes(self, pod_ip: str) -> str | None:
        """Run the probes that are due and update ``started``/``ready``; returns the kind of
        probe (startup or liveness) whose failure means the container must be restarted."""
        current = time.monotonic()
        if self.startup is not None and self.startup.result is not True:
            if self.startup.due(current):
                self._probe(self.startup, pod_ip)
            if self.startup.result is False:
                return "startup"
            if self.startup.result is not True:
                return None
            self.record.started = True
            if self.readiness is not None:
                self.readiness.next_at = current
            if self.liveness is not None:
                delay = float(self.liveness.probe.get("initialDelaySeconds", 0))
                self.liveness.next_at = current + delay
        if self.readiness is not None and self.readiness.due(current):
            self._probe(self.readiness, pod_ip)
            self.record.ready = self.readiness.result is True
        elif self.readiness is None:
            self.record.ready = self.record.started
        if self.liveness is not None and self.liveness.due(current):
            self._probe(self.liveness, pod_ip)
            if self.liveness.result is False:
                return "liveness"
        return None

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def signal(self, number: int) -> None:
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.process.pid, number)

    def stop(self, grace: float) -> None:
        """SIGTERM, then SIGKILL after ``grace`` seconds; waits for the exit and records it."""
        if self.process is None:
            return
        self.stop_requested = True
        self.signal(signal.SIGTERM)
        deadline = time.monotonic() + grace
        while self.alive and time.monotonic() < deadline:
            time.sleep(0.05)
        if self.alive:
            self.signal(signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                if self.process is not None:
                    self.process.wait(timeout=10)
        self.poll()
