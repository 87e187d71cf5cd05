"""A queued run's position in its LocalQueue, and which Workload changes wake its run."""

from typing import Any

import pytest

from mlops_operator.reconcile.queue_position import queue_head, queue_position, queued_workload
from mlops_operator.reconcile.queue_status import WORKLOAD_JOB_UID_LABEL, admission_state

pytestmark = pytest.mark.unit


def _workload(
    job_uid: str,
    *,
    created: str,
    priority: int = 0,
    reserved: bool = False,
    queue: str = "team",
    namespace: str = "ns",
    **extra: Any,
) -> dict[str, Any]:
    conditions = [{"type": "QuotaReserved", "status": "True" if reserved else "False"}]
    body: dict[str, Any] = {
        "metadata": {
            "name": f"job-{job_uid}",
            "namespace": namespace,
            "creationTimestamp": created,
            "labels": {WORKLOAD_JOB_UID_LABEL: job_uid},
        },
        "spec": {"queueName": queue, "priority": priority},
        "status": {"conditions": conditions},
    }
    for key, value in extra.items():
        body[key].update(value)
    return body


def _entries(*workloads: dict[str, Any]) -> list[Any]:
    return [queued_workload(w)[1] for w in workloads]


def test_position_orders_by_priority_then_creation_and_skips_admitted_runs() -> None:
    entries = _entries(
        _workload("running", created="2026-01-01T00:00:00Z", reserved=True),
        _workload("old-low", created="2026-01-01T00:00:01Z"),
        _workload("new-low", created="2026-01-01T00:00:05Z"),
        _workload("new-high", created="2026-01-01T00:00:09Z", priority=1000),
    )
    places = {uid: queue_position(entries, uid) for uid in ("running", "old-low", "new-low")}
    assert places == {"running": None, "old-low": 2, "new-low": 3}
    assert queue_position(entries, "new-high") == 1
    assert queue_position(entries, "unknown") is None
    assert queue_head(entries, 2) == ["new-high", "old-low"]


def test_finished_and_deactivated_workloads_do_not_hold_a_place() -> None:
    finished = _workload("done", created="2026-01-01T00:00:00Z")
    finished["status"]["conditions"].append({"type": "Finished", "status": "True"})
    inactive = _workload("off", created="2026-01-01T00:00:01Z", spec={"active": False})
    waiting = _workload("next", created="2026-01-01T00:00:02Z")
    entries = _entries(finished, inactive, waiting)
    assert queue_position(entries, "next") == 1
    assert queue_position(entries, "done") is None
    assert queue_position(entries, "off") is None


def _evicted(job_uid: str, *, created: str, reason: str, at: str) -> dict[str, Any]:
    body = _workload(job_uid, created=created)
    body["status"]["conditions"].append(
        {"type": "Evicted", "status": "True", "reason": reason, "lastTransitionTime": at}
    )
    body["status"]["schedulingStats"] = {"evictions": [{"reason": reason, "count": 1}]}
    return body


def test_a_preempted_run_keeps_its_place_ahead_of_runs_queued_after_it() -> None:
    preempted = _evicted(
        "preempted", created="2026-01-01T00:00:00Z", reason="Preempted", at="2026-01-01T00:10:00Z"
    )
    entries = _entries(preempted, _workload("queued", created="2026-01-01T00:05:00Z"))
    assert queue_position(entries, "preempted") == 1
    assert queue_position(entries, "queued") == 2


@pytest.mark.parametrize("reason", ["PodsReadyTimeout", "AdmissionCheck"])
def test_a_run_evicted_by_a_timeout_or_a_check_waits_behind_runs_queued_before(
    reason: str,
) -> None:
    evicted = _evicted(
        "evicted", created="2026-01-01T00:00:00Z", reason=reason, at="2026-01-01T00:10:00Z"
    )
    entries = _entries(evicted, _workload("queued", created="2026-01-01T00:05:00Z"))
    assert queue_position(entries, "queued") == 1
    assert queue_position(entries, "evicted") == 2


def test_runs_created_in_the_same_second_are_ordered_by_workload_uid() -> None:
    second = "2026-01-01T00:00:00Z"
    entries = _entries(
        _workload("a", created=second, metadata={"uid": "2222"}),
        _workload("b", created=second, metadata={"uid": "1111"}),
    )
    assert [queue_position(entries, uid) for uid in ("b", "a")] == [1, 2]


def test_the_index_key_is_the_namespace_and_local_queue() -> None:
    key, _ = queued_workload(
        _workload("a", created="2026-01-01T00:00:00Z", queue="gpu", namespace="team-b")
    )
    assert key == ("team-b", "gpu")


def test_admission_changes_wake_the_run_but_a_new_waiting_message_does_not() -> None:
    waiting = _workload("a", created="2026-01-01T00:00:00Z")
    reworded = _workload("a", created="2026-01-01T00:00:00Z")
    reworded["status"]["conditions"][0]["message"] = "insufficient unused quota, 1 more needed"
    admitted = _workload("a", created="2026-01-01T00:00:00Z", reserved=True)
    admitted["status"]["conditions"].append({"type": "Admitted", "status": "True"})
    preempted = _workload("a", created="2026-01-01T00:00:00Z")
    preempted["status"]["schedulingStats"] = {"evictions": [{"reason": "Preempted", "count": 1}]}
    assert admission_state(waiting) == admission_state(reworded)
    assert admission_state(waiting) != admission_state(admitted)
    assert admission_state(waiting) != admission_state(preempted)
