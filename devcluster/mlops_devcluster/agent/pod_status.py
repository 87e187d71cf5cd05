"""A pod's status from what the agent knows about its containers (pure)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Object = dict[str, Any]
Phase = Literal["Pending", "Running", "Succeeded", "Failed"]
_MANAGED = ("PodReadyToStartContainers", "Initialized", "ContainersReady", "Ready")


@dataclass
class ContainerRecord:
    """What the agent reports for one container (``state``/``last_state`` in API form)."""

    name: str
    image: str
    state: Object = field(default_factory=lambda: {"waiting": {"reason": "ContainerCreating"}})
    last_state: Object = field(default_factory=dict)
    restart_count: int = 0
    ready: bool = False
    started: bool = False
    container_id: str = ""

    def to_api(self) -> Object:
        status: Object = {
            "name": self.name,
            "image": self.image,
            "imageID": f"mlops-devcluster://{self.image}",
            "state": self.state,
            "lastState": self.last_state,
            "ready": self.ready,
            "started": self.started,
            "restartCount": self.restart_count,
        }
        if self.container_id:
            status["containerID"] = self.container_id
        return status

    @property
    def running(self) -> bool:
        return "running" in self.state

    @property
    def exit_code(self) -> int | None:
        terminated = self.state.get("terminated")
        return None if terminated is None else int(terminated["exitCode"])


@dataclass
class PodView:
    """Everything :func:`build_pod_status` needs besides the observed pod."""

    phase: Phase
    pod_ip: str
    host_ip: str
    start_time: str
    containers: list[ContainerRecord]
    init_containers: list[ContainerRecord] = field(default_factory=list)
    initialized: bool = True
    sandbox_ready: bool = True
    reason: str | None = None
    message: str | None = None


def _condition(kind: str, ok: bool, reason: str | None, previous: Object, now: str) -> Object:
    status = "True" if ok else "False"
    old = previous.get(kind)
    since = old["lastTransitionTime"] if old and old.get("status") == status else now
    condition: Object = {"type": kind, "status": status, "lastTransitionTime": since}
    if not ok and reason:
        condition["reason"] = reason
    return condition


def build_pod_status(pod: Object, view: PodView, *, now: str) -> Object:
    """The full ``status`` to write (merge-patch replaces the lists, so they are complete)."""
    observed = pod.get("status", {}) or {}
    previous = {c["type"]: c for c in observed.get("conditions", []) or []}
    kept = [c for c in previous.values() if c["type"] not in _MANAGED]
    terminal = view.phase in ("Succeeded", "Failed")
    containers_ready = not terminal and all(c.ready for c in view.containers)
    not_ready_reason = "PodCompleted" if terminal else "ContainersNotReady"
    conditions = [
        *kept,
        _condition(
            "PodReadyToStartContainers", view.sandbox_ready and not terminal, None, previous, now
        ),
        _condition("Initialized", view.initialized, "ContainersNotInitialized", previous, now),
        _condition("ContainersReady", containers_ready, not_ready_reason, previous, now),
        _condition("Ready", containers_ready, not_ready_reason, previous, now),
    ]
    status: Object = {
        "phase": view.phase,
        "conditions": conditions,
        "hostIP": view.host_ip,
        "hostIPs": [{"ip": view.host_ip}],
        "startTime": view.start_time,
        "containerStatuses": [c.to_api() for c in view.containers],
        "qosClass": observed.get("qosClass", "BestEffort"),
    }
    if view.pod_ip:
        status["podIP"] = view.pod_ip
        status["podIPs"] = [{"ip": view.pod_ip}]
    if view.init_containers:
        status["initContainerStatuses"] = [c.to_api() for c in view.init_containers]
    if view.reason:
        status["reason"] = view.reason
    if view.message:
        status["message"] = view.message
    return status


def pod_phase(
    containers: list[ContainerRecord], *, restart_policy: str, will_restart: set[str]
) -> Phase:
    """Running while any container runs or will be restarted; else Succeeded when every
    container exited 0, Failed otherwise."""
    if any(c.running for c in containers) or will_restart:
        return "Running"
    codes = [c.exit_code for c in containers]
    if any(code is None for code in codes):
        return "Pending"
    if all(code == 0 for code in codes):
        return "Succeeded" if restart_policy != "Always" else "Running"
    return "Failed"
