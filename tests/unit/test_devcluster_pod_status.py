"""Pod phase and status from the agent's view of its containers."""

from __future__ import annotations

from typing import Any

import pytest

from mlops_devcluster.agent.pod_status import ContainerRecord, PodView, build_pod_status, pod_phase

pytestmark = pytest.mark.unit


def running(name: str = "c", *, ready: bool = True) -> ContainerRecord:
    return ContainerRecord(
        name=name, image="i", state={"running": {"startedAt": "t"}}, ready=ready, started=True
    )


def exited(code: int, name: str = "c") -> ContainerRecord:
    return ContainerRecord(name=name, image="i", state={"terminated": {"exitCode": code}})


@pytest.mark.parametrize(
    ("records", "policy", "restarting", "phase"),
    [
        ([running()], "Always", set(), "Running"),
        ([exited(0)], "Never", set(), "Succeeded"),
        ([exited(0)], "OnFailure", set(), "Succeeded"),
        ([exited(2)], "Never", set(), "Failed"),
        ([exited(2)], "OnFailure", {"c"}, "Running"),
        ([exited(0), running("d")], "Never", set(), "Running"),
        ([exited(0), exited(1, "d")], "Never", set(), "Failed"),
        ([ContainerRecord(name="c", image="i")], "Never", set(), "Pending"),
    ],
)
def test_phase(
    records: list[ContainerRecord], policy: str, restarting: set[str], phase: str
) -> None:
    assert pod_phase(records, restart_policy=policy, will_restart=restarting) == phase


def view(**changes: Any) -> PodView:
    base: dict[str, Any] = {
        "phase": "Running",
        "pod_ip": "198.18.3.2",
        "host_ip": "127.0.0.1",
        "start_time": "t0",
        "containers": [running()],
    }
    return PodView(**{**base, **changes})


def conditions(status: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["type"]: c for c in status["conditions"]}


def test_ready_pod_keeps_the_scheduler_condition_and_reports_its_ip() -> None:
    pod = {
        "status": {
            "conditions": [{"type": "PodScheduled", "status": "True", "lastTransitionTime": "t-1"}]
        }
    }
    status = build_pod_status(pod, view(), now="t1")
    found = conditions(status)
    assert found["PodScheduled"]["status"] == "True"
    assert found["Ready"]["status"] == "True"
    assert status["podIP"] == "198.18.3.2"
    assert status["podIPs"] == [{"ip": "198.18.3.2"}]


def test_unready_container_makes_the_pod_unready_and_transitions_keep_their_time() -> None:
    first = build_pod_status({}, view(containers=[running(ready=False)]), now="t1")
    assert conditions(first)["Ready"]["reason"] == "ContainersNotReady"
    second = build_pod_status({"status": first}, view(containers=[running(ready=False)]), now="t2")
    assert conditions(second)["Ready"]["lastTransitionTime"] == "t1"
    third = build_pod_status({"status": second}, view(), now="t3")
    assert conditions(third)["Ready"]["lastTransitionTime"] == "t3"


def test_finished_pod_is_not_ready_and_carries_reason_and_message() -> None:
    status = build_pod_status(
        {},
        view(phase="Failed", containers=[exited(1)], reason="UnknownImage", message="m"),
        now="t",
    )
    assert conditions(status)["Ready"]["reason"] == "PodCompleted"
    assert (status["reason"], status["message"]) == ("UnknownImage", "m")
