import json
from typing import Any

import pytest

from mlops_operator.reconcile.job_outcome import job_outcome, parse_result

pytestmark = pytest.mark.unit


def _job(**status: Any) -> dict[str, Any]:
    return {"metadata": {"name": "run-1"}, "status": status}


def _cond(kind: str, reason: str = "", message: str = "") -> dict[str, str]:
    return {"type": kind, "status": "True", "reason": reason, "message": message}


def _pod(
    name: str,
    *,
    phase: str,
    reason: str,
    exit_code: int,
    message: str = "",
    finished: str = "2026-01-01T00:00:00Z",
    index: int = 0,
) -> dict[str, Any]:
    return {
        "metadata": {
            "name": name,
            "annotations": {"batch.kubernetes.io/job-completion-index": str(index)},
        },
        "status": {
            "phase": phase,
            "containerStatuses": [
                {
                    "name": "trainer",
                    "state": {
                        "terminated": {
                            "reason": reason,
                            "exitCode": exit_code,
                            "message": message,
                            "finishedAt": finished,
                        }
                    },
                }
            ],
        },
    }


RESULT_OK = json.dumps(
    {
        "succeeded": True,
        "artifactUri": "s3://mlops/models/ns/m/1.0.0",
        "digest": "sha256:" + "a" * 64,
        "metrics": {"val_accuracy": 0.9},
    }
)
RESULT_FAIL = json.dumps(
    {"succeeded": False, "reason": "dataset s3://x/train.csv has no column 'label'"}
)


def test_no_job_yet_is_pending() -> None:
    assert job_outcome(None, []).state == "Pending"


def test_running_job_counts_attempts_and_mentions_the_last_failure() -> None:
    pods = [_pod("p1", phase="Failed", reason="Error", exit_code=3, message=RESULT_FAIL)]
    outcome = job_outcome(_job(active=1, failed=1), pods)
    assert outcome.state == "Running"
    assert outcome.attempts == 2
    assert "exit code 3: dataset s3://x/train.csv has no column 'label'" in outcome.message


def test_complete_job_carries_the_trainer_result_of_index_zero() -> None:
    pods = [
        _pod("p1", phase="Succeeded", reason="Completed", exit_code=0, message="", index=1),
        _pod("p0", phase="Succeeded", reason="Completed", exit_code=0, message=RESULT_OK),
    ]
    outcome = job_outcome(_job(succeeded=1, conditions=[_cond("Complete")]), pods)
    assert outcome.state == "Succeeded"
    assert outcome.result is not None
    assert outcome.result.metrics == {"val_accuracy": 0.9}


def test_oom_killed_wins_over_backoff_limit() -> None:
    pods = [_pod("p1", phase="Failed", reason="OOMKilled", exit_code=137)]
    job = _job(
        failed=1,
        conditions=[
            _cond("Failed", "BackoffLimitExceeded", "Job has reached the specified backoff limit")
        ],
    )
    outcome = job_outcome(job, pods)
    assert (outcome.state, outcome.reason) == ("Failed", "OOMKilled")
    assert "memory limit" in outcome.message


def test_deadline_exceeded() -> None:
    job = _job(
        failed=1,
        conditions=[
            _cond("Failed", "DeadlineExceeded", "Job was active longer than specified deadline")
        ],
    )
    outcome = job_outcome(job, [])
    assert (outcome.state, outcome.reason) == ("Failed", "DeadlineExceeded")
    assert "activeDeadlineSeconds" in outcome.message


def test_backoff_limit_names_exit_code_and_trainer_reason() -> None:
    pods = [
        _pod(
            "p1",
            phase="Failed",
            reason="Error",
            exit_code=1,
            message="Traceback\nValueError: old",
            finished="2026-01-01T00:00:00Z",
        ),
        _pod(
            "p2",
            phase="Failed",
            reason="Error",
            exit_code=2,
            message=RESULT_FAIL,
            finished="2026-01-01T00:01:00Z",
        ),
    ]
    job = _job(
        failed=2,
        conditions=[
            _cond("Failed", "BackoffLimitExceeded", "Job has reached the specified backoff limit")
        ],
    )
    outcome = job_outcome(job, pods)
    assert outcome.reason == "BackoffLimitExceeded"
    assert "pod p2" in outcome.message
    assert "exit code 2: dataset s3://x/train.csv has no column 'label'" in outcome.message


def test_unstructured_termination_message_uses_its_last_line() -> None:
    pods = [
        _pod(
            "p1",
            phase="Failed",
            reason="Error",
            exit_code=1,
            message="Traceback\nRuntimeError: boom",
        )
    ]
    job = _job(failed=1, conditions=[_cond("Failed", "BackoffLimitExceeded", "limit")])
    assert "exit code 1: RuntimeError: boom" in job_outcome(job, pods).message


def test_parse_result_ignores_garbage() -> None:
    assert parse_result("not json") is None
    assert parse_result("") is None
    assert parse_result(RESULT_OK) is not None


def test_the_pod_of_a_one_pod_job_decides_before_the_job_is_marked_complete() -> None:
    job = {**_job(active=1), "spec": {"completions": 1, "completionMode": "NonIndexed"}}
    pods = [_pod("p0", phase="Succeeded", reason="Completed", exit_code=0, message=RESULT_OK)]
    outcome = job_outcome(job, pods)
    assert (outcome.state, outcome.reason, outcome.attempts) == (
        "Succeeded",
        "TrainerSucceeded",
        1,
    )
    assert outcome.result is not None
    assert outcome.result.digest == "sha256:" + "a" * 64


def test_a_succeeded_pod_without_a_published_artifact_waits_for_the_job() -> None:
    job = {**_job(active=1), "spec": {"completions": 1}}
    for message in ("", RESULT_FAIL):
        pods = [_pod("p0", phase="Succeeded", reason="Completed", exit_code=0, message=message)]
        assert job_outcome(job, pods).state == "Running"


def test_one_worker_of_several_ending_does_not_end_the_run() -> None:
    job = {**_job(active=1), "spec": {"completions": 2, "completionMode": "Indexed"}}
    pods = [_pod("p0", phase="Succeeded", reason="Completed", exit_code=0, message=RESULT_OK)]
    assert job_outcome(job, pods).state == "Running"
