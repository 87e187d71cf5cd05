"""HTTP, TCP and exec probes, with the thresholds and timing of the probe spec."""

from __future__ import annotations

import http.client
import socket
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

Object = dict[str, Any]


def resolve_port(port: int | str, container: Object) -> int:
    """A probe's port: a number, or the name of one of the container's ports."""
    if isinstance(port, int) or str(port).isdigit():
        return int(port)
    for declared in container.get("ports", []) or []:
        if declared.get("name") == port:
            return int(declared["containerPort"])
    raise ValueError(f"probe port {port!r} is not a named port of container {container['name']}")


def exec_argv(command: list[str], *, pid: int | None) -> list[str]:
    """An exec probe's command, run in the mount namespace of the container's process ``pid``
    (so it sees the container's volumes and runtime, as ``kubectl exec`` would)."""
    if pid is None:
        return list(command)
    return ["nsenter", f"--target={pid}", "--mount", "--uts", "--", *command]


def run_probe(
    probe: Object,
    *,
    container: Object,
    pod_ip: str,
    env: Mapping[str, str],
    pid: int | None = None,
) -> tuple[bool, str]:
    """One probe attempt → (success, message on failure)."""
    timeout = float(probe.get("timeoutSeconds", 1))
    try:
        if "httpGet" in probe:
            action = probe["httpGet"]
            host = action.get("host") or pod_ip
            port = resolve_port(action["port"], container)
            path = action.get("path", "/") or "/"
            connection_class = (
                http.client.HTTPSConnection
                if action.get("scheme", "HTTP").upper() == "HTTPS"
                else http.client.HTTPConnection
            )
            connection = connection_class(host, port, timeout=timeout)
            try:
                headers = {h["name"]: h["value"] for h in action.get("httpHeaders", []) or []}
                connection.request("GET", path, headers=headers)
                response = connection.getresponse()
                response.read(1024)
            finally:
                connection.close()
            if 200 <= response.status < 400:
                return True, ""
            return False, f"HTTP probe failed with statuscode: {response.status}"
        if "tcpSocket" in probe:
            action = probe["tcpSocket"]
            port = resolve_port(action["port"], container)
            with socket.create_connection((action.get("host") or pod_ip, port), timeout=timeout):
                return True, ""
        if "exec" in probe:
            result = subprocess.run(
                exec_argv(probe["exec"]["command"], pid=pid),
                env=dict(env),
                capture_output=True,
                timeout=timeout,
                check=False,
            )
            if result.returncode == 0:
                return True, ""
            return False, f"command exited {result.returncode}: {result.stdout[-200:]!r}"
    except (OSError, http.client.HTTPException, subprocess.TimeoutExpired, ValueError) as exc:
        return False, f"probe failed: {exc}"
    return False, "probe has no httpGet, tcpSocket or exec action"


@dataclass
class ProbeTracker:
    """Schedules one probe of one container and applies its thresholds."""

    probe: Object
    started_at: float
    successes: int = 0
    failures: int = 0
    result: bool | None = None
    message: str = ""
    next_at: float = field(default=0.0)

    def __post_init__(self) -> None:
        self.next_at = self.started_at + float(self.probe.get("initialDelaySeconds", 0))

    def due(self, now: float) -> bool:
        return now >= self.next_at

    def record(self, ok: bool, message: str, *, now: float) -> None:
        self.next_at = now + float(self.probe.get("periodSeconds", 10))
        if ok:
            self.successes += 1
            self.failures = 0
            if self.successes >= int(self.probe.get("successThreshold", 1)):
                self.result = True
        else:
            self.failures += 1
            self.successes = 0
            self.message = message
            if self.failures >= int(self.probe.get("failureThreshold", 3)):
                self.result = False


def now() -> float:
    return time.monotonic()
