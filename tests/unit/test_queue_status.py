"""Queued runs: the Job a queue gets, and what a Workload's state says about the run."""

from datetime import UTC, datetime
from typing import Any

import pytest

from mlops_operator.api.training_job import PREEMPTIONS_KEPT, QueueStatus, TrainingJob
from mlops_operator.builders.names import LABEL_KUEUE_PRIORITY, LABEL_KUEUE_QUEUE
from mlops_operator.builders.training_job import build_training_children, run_plan
from mlops_operator.reconcile.queue_status import preemption_count, queue_verdict
from mlops_operator.reconcile.training_status import differs, queued_status
from mlops_operator.settings import OperatorSettings

pytestmark = pytest.mark.unit

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
SETTINGS = OperatorSettings(MLOPS_TRAINER_IMAGE="ghcr.io/mlops-dev/mlops-trainer:9.9.9")


def _tj(**spec: Any) -> TrainingJob:
    return TrainingJob.from_body(
        {
            "apiVersion": "mlops.dev/v1alpha1",
            "kind": "TrainingJob",
            "metadata": {"name": "run-1", "namespace": "team-a", "uid": "u-1", "generation": 1},
            "spec": {
                "modelName": "m",
                "dataset": {"train": "s3://mlops/datasets/t/train.csv"},
                "model": {"architecture": "mlp"},
                **spec,
            },
        }
    )


def _jobs(tj: TrainingJob, queue: str | None) -> list[dict[str, Any]]:
    plan = run_plan(tj, version="1.0.0", settings=SETTINGS)
    return [
        m for m in build_training_children(tj, plan, SETTINGS, queue=queue) if m["kind"] == "Job"
    ]


def test_queued_job_is_created_suspended_with_queue_and_priority_labels() -> None:
    tj = _tj(queue="team-a", priorityClass="high")
    (job,) = _jobs(tj, "team-a")
    assert job["spec"]["suspend"] is True
    assert job["metadata"]["labels"][LABEL_KUEUE_QUEUE] == "team-a"
    assert job["metadata"]["labels"][LABEL_KUEUE_PRIORITY] == "high"
    # the pods carry neither: Kueue's Job integration reads the Job's labels
    assert LABEL_KUEUE_QUEUE not in job["spec"]["template"]["metadata"]["labels"]


def test_job_without_queue_runs_at_once_and_ignores_priority_class() -> None:
    (job,) = _jobs(_tj(priorityClass="high"), None)
    assert "suspend" not in job["spec"]
    assert LABEL_KUEUE_QUEUE not in job["metadata"]["labels"]
    assert LABEL_KUEUE_PRIORITY not in job["metadata"]["labels"]


def test_distributed_run_is_one_suspended_indexed_job_so_kueue_admits_all_workers() -> None:
    jobs = _jobs(_tj(queue="team-a", workers=2), "team-a")
    assert len(jobs) == 1
    spec = jobs[0]["spec"]
    assert (spec["completionMode"], spec["parallelism"], spec["suspend"]) == ("Indexed", 2, True)


def _workload(*conditions: dict[str, Any], **status: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "job-run-1-abc"},
        "status": {"conditions": list(conditions), **status},
    }


def _verdict(workload: dict[str, Any] | None, **kwargs: Any) -> Any:
    args: dict[str, Any] = {
        "queue": "team-a",
        "priority_class": None,
        "workload": workload,
        "missing": None,
        "previous": None,
        "now": NOW,
    }
    return queue_verdict(**{**args, **kwargs})


def test_waiting_for_quota_is_queued_with_kueues_reason_and_not_stalled() -> None:
    message = "couldn't assign flavors to pod set main: insufficient unused quota for cpu"
    verdict = _verdict(
        _workload(
            {"type": "QuotaReserved", "status": "False", "reason": "Pending", "message": message}
        )
    )
    assert (verdict.state, verdict.reason) == ("Waiting", "Queued")
    assert message in verdict.message
    patch = queued_status(_tj(queue="team-a"), verdict=verdict, attempts=0, now=NOW)
    conditions = {c["type"]: c["status"] for c in patch["conditions"]}
    assert patch["phase"] == "Queued"
    assert conditions == {
        "Ready": "False",
        "Reconciling": "True",
        "Stalled": "False",
        "Succeeded": "Unknown",
    }
    assert patch["queue"]["name"] == "team-a"
    assert patch["queue"]["reason"] == "Pending"


def test_a_request_over_the_whole_quota_is_stalled_with_what_to_change() -> None:
    message = (
        "couldn't assign flavors to pod set main: insufficient quota for cpu in flavor "
        "default, request > maximum capacity (8 > 2)"
    )
    verdict = _verdict(
        _workload(
            {"type": "QuotaReserved", "status": "False", "reason": "Pending", "message": message}
        )
    )
    assert (verdict.state, verdict.reason) == ("Stuck", "ExceedsQueueQuota")
    patch = queued_status(_tj(queue="team-a"), verdict=verdict, attempts=0, now=NOW)
    conditions = {c["type"]: c["status"] for c in patch["conditions"]}
    assert conditions["Stalled"] == "True"
    assert conditions["Reconciling"] == "False"
    assert patch["phase"] == "Queued"


@pytest.mark.parametrize(
    ("missing", "reason", "names"),
    [
        ("Kueue", "KueueNotInstalled", "install Kueue"),
        ("LocalQueue", "QueueNotFound", "LocalQueue 'team-a' does not exist"),
        ("WorkloadPriorityClass", "PriorityClassNotFound", "WorkloadPriorityClass 'urgent'"),
    ],
)
def test_something_missing_is_stalled_naming_it(missing: Any, reason: str, names: str) -> None:
    verdict = _verdict(None, missing=missing, priority_class="urgent")
    assert (verdict.state, verdict.reason) == ("Stuck", reason)
    assert names in verdict.message


def test_admitted_names_the_cluster_queue() -> None:
    verdict = _verdict(
        _workload(
            {"type": "QuotaReserved", "status": "True", "reason": "QuotaReserved"},
            {"type": "Admitted", "status": "True", "reason": "Admitted"},
            admission={"clusterQueue": "team-a-cq"},
        )
    )
    assert verdict.state == "Admitted"
    assert verdict.status.cluster_queue == "team-a-cq"
    assert verdict.status.admitted


def _preempted(count: int) -> dict[str, Any]:
    return _workload(
        {
            "type": "Evicted",
            "status": "True",
            "reason": "Preempted",
            "message": "Preempted to accommodate a workload (UID: x) due to prioritization",
            "lastTransitionTime": "2026-01-02T03:00:00Z",
        },
        schedulingStats={
            "evictions": [
                {"reason": "Preempted", "underlyingCause": "InClusterQueue", "count": count},
                {"reason": "PodsReadyTimeout", "count": 5},
            ]
        },
    )


def test_preemptions_are_counted_from_kueues_counter_once_each() -> None:
    assert preemption_count(_preempted(2)) == 2
    first = _verdict(_preempted(1))
    assert first.reason == "Queued"
    assert "preempted" in first.message
    assert first.status.preemptions == 1
    assert len(first.status.preemption_history) == 1
    # the same eviction seen again adds nothing
    again = _verdict(_preempted(1), previous=first.status)
    assert again.status.preemptions == 1
    assert len(again.status.preemption_history) == 1
    second = _verdict(_preempted(2), previous=again.status)
    assert second.status.preemptions == 2
    assert len(second.status.preemption_history) == 2


def test_preemption_history_is_bounded_but_the_count_is_not() -> None:
    previous = QueueStatus(name="team-a")
    verdict = _verdict(_preempted(PREEMPTIONS_KEPT + 5), previous=previous)
    assert verdict.status.preemptions == PREEMPTIONS_KEPT + 5
    assert len(verdict.status.preemption_history) == PREEMPTIONS_KEPT


def test_queue_and_priority_class_are_part_of_the_api() -> None:
    tj = _tj(queue="team-a", priorityClass="high")
    assert (tj.spec.queue, tj.spec.priority_class) == ("team-a", "high")
    with pytest.raises(ValueError, match="queue"):
        _tj(queue="Not A Name")


def test_a_trainer_stopped_by_sigterm_uses_up_no_retry() -> None:
    (job,) = _jobs(_tj(queue="team-a"), "team-a")
    (rule,) = job["spec"]["podFailurePolicy"]["rules"]
    assert rule["action"] == "Ignore"
    assert rule["onExitCodes"] == {"containerName": "trainer", "operator": "In", "values": [75]}


def test_a_waiting_run_shows_its_position_and_an_admitted_one_none() -> None:
    waiting = _workload({"type": "QuotaReserved", "status": "False", "reason": "Pending"})
    verdict = _verdict(waiting, position=3)
    assert verdict.status.position == 3
    assert "(position 3)" in verdict.message
    admitted = _workload(
        {"type": "QuotaReserved", "status": "True"},
        {"type": "Admitted", "status": "True"},
        admission={"clusterQueue": "cq"},
    )
    assert _verdict(admitted, position=3).status.position is None


def test_an_admitted_runs_status_patch_removes_the_position_it_had_while_waiting() -> None:
    waited = _tj(queue="team-a").model_copy(
        update={
            "status": _tj().status.model_copy(
                update={"queue": QueueStatus(name="team-a", position=2)}
            )
        }
    )
    admitted = _verdict(
        _workload(
            {"type": "QuotaReserved", "status": "True"},
            {"type": "Admitted", "status": "True"},
            admission={"clusterQueue": "cq"},
        )
    )
    patch = queued_status(waited, verdict=admitted, attempts=0, now=NOW)
    # a JSON merge patch leaves out what it does not name: the position must be named, as null
    assert "position" in patch["queue"]
    assert patch["queue"]["position"] is None
    assert differs(waited, patch)
    settled = waited.model_copy(
        update={"status": waited.status.model_copy(update={"queue": admitted.status})}
    )
    assert not differs(settled, {"queue": admitted.status.to_merge_patch()})
