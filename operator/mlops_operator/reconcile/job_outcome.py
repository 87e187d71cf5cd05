"""What a training Job's status and its pods say about the run: running, done, or why not.

Kubernetes spreads the story over several places: the Job's conditions (``Complete``,
``Failed`` with reason ``BackoffLimitExceeded`` or ``DeadlineExceeded``), and each pod's
container status (terminated with reason ``OOMKilled`` or ``Error``, an exit code, and the
termination message the trainer wrote: a ``TrainingResult``). This module reads all of it and
returns one verdict.

A run of one pod has succeeded as soon as that pod has: its trainer exited 0 and reported a
published artifact. The Job controller marks the Job ``Complete`` about a second later (it
batches the pod updates of a Job), and waiting for that would add the second to every run; a
Job of several workers is judged by its conditions only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import ValidationError

from mlops_core.progress import TrainingResult

JobState = Literal["Pending", "Running", "Succeeded", "Failed"]
TRAINER_CONTAINER = "trainer"


@dataclass(frozen=True)
class Termination:
    """How the trainer container of one pod ended."""

    pod: str
    reason: str
    exit_code: int
    finished_at: str
    result: TrainingResult | None
    raw_message: str


@dataclass(frozen=True)
class JobOutcome:
    state: JobState
    reason: str
    message: str
    attempts: int
    result: TrainingResult | None = None


def parse_result(message: str | None) -> TrainingResult | None:
    """The trainer's TrainingResult from a termination message, or None if it wrote none."""
    if not message:
        return None
    try:
        return TrainingResult.model_validate_json(message.strip())
    except (ValidationError, ValueError):
        return None


def _trainer_termination(pod: dict[str, Any]) -> Termination | None:
    statuses = pod.get("status", {}).get("containerStatuses") or []
    for status in statuses:
        if status.get("name") != TRAINER_CONTAINER and len(statuses) > 1:
            continue
        terminated = (status.get("state") or {}).get("terminated") or (
            status.get("lastState") or {}
        ).get("terminated")
        if not terminated:
            continue
        message = terminated.get("message") or ""
        return Termination(
            pod=pod["metadata"]["name"],
            reason=terminated.get("reason") or "",
            exit_code=int(terminated.get("exitCode", 0)),
            finished_at=terminated.get("finishedAt") or "",
            result=parse_result(message),
            raw_message=message,
        )
    return None


def _condition(job: dict[str, Any], kind: str) -> dict[str, Any] | None:
    for condition in job.get("status", {}).get("conditions") or []:
        if condition.get("type") == kind and condition.get("status") == "True":
            return dict(condition)
    return None


def _index(pod: dict[str, Any]) -> int:
    annotations = pod.get("metadata", {}).get("annotations") or {}
    value = annotations.get("batch.kubernetes.io/job-completion-index", "0")
    return int(value) if str(value).isdigit() else 0


def _headline(message: str) -> str:
    """The line of an unstructured message that says what happened: the last unindented one
    (a Python traceback's exception line, a tool's error line), at most 300 characters."""
    lines = [line for line in message.strip().splitlines() if line.strip()]
    unindented = [line for line in lines if not line[:1].isspace()]
    return (unindented or lines or [""])[-1].strip()[:300]


def _failure_text(term: Termination) -> str:
    text = f"exit code {term.exit_code}"
    detail = term.result.reason if term.result and term.result.reason else None
    if detail is None and term.raw_message and term.result is None:
        detail = _headline(term.raw_message)
    return f"{text}: {detail}" if detail else text


def pods_matter(job: Mapping[str, Any]) -> bool:
    """Whether the verdict on ``job`` needs its pods: only once one of them has ended."""
    status = job.get("status") or {}
    return bool(status.get("failed") or status.get("succeeded") or status.get("conditions"))


def _single_pod(job: Mapping[str, Any]) -> bool:
    spec = job.get("spec") or {}
    return int(spec.get("completions") or 1) == 1 and spec.get("completionMode") != "Indexed"


def _published(pod: dict[str, Any]) -> TrainingResult | None:
    """The trainer's result when ``pod`` succeeded and its trainer published an artifact."""
    if (pod.get("status") or {}).get("phase") != "Succeeded":
        return None
    term = _trainer_termination(pod)
    if term is None or term.exit_code != 0 or term.result is None:
        return None
    return term.result if term.result.succeeded else None


def job_outcome(job: dict[str, Any] | None, pods: list[dict[str, Any]]) -> JobOutcome:
    """The verdict on a training Job from its status and its pods."""
    if job is None:
        return JobOutcome("Pending", "JobNotCreated", "the training Job does not exist yet", 0)
    status = job.get("status", {})
    failed = int(status.get("failed", 0))
    active = int(status.get("active", 0))
    attempts = failed + int(status.get("succeeded", 0)) + active
    terminations = sorted(
        (t for t in map(_trainer_termination, pods) if t is not None),
        key=lambda t: t.finished_at,
    )
    complete = _condition(job, "Complete") or _condition(job, "SuccessCriteriaMet")
    if complete:
        succeeded = sorted(
            (p for p in pods if p.get("status", {}).get("phase") == "Succeeded"), key=_index
        )
        result = None
        for pod in succeeded:
            term = _trainer_termination(pod)
            if term and term.result:
                result = term.result
                break
        return JobOutcome(
            "Succeeded", "JobComplete", "the training Job completed", attempts, result
        )

    failure = _condition(job, "Failed") or _condition(job, "FailureTarget")
    failed_terms = [t for t in terminations if t.exit_code != 0 or t.reason == "OOMKilled"]
    last = failed_terms[-1] if failed_terms else None
    if failure:
        job_reason = failure.get("reason") or "JobFailed"
        job_message = failure.get("message") or "the training Job failed"
        if last is not None and last.reason == "OOMKilled":
            return JobOutcome(
                "Failed",
                "OOMKilled",
                f"the trainer in pod {last.pod} was killed for exceeding its memory limit "
                f"(exit code {last.exit_code}); raise resources.memory",
                attempts,
                last.result,
            )
        if job_reason == "DeadlineExceeded":
            return JobOutcome(
                "Failed",
                "DeadlineExceeded",
                f"{job_message}; raise activeDeadlineSeconds or shorten the training",
                attempts,
                last.result if last else None,
            )
        if last is not None:
            return JobOutcome(
                "Failed",
                job_reason,
                f"{job_message}; last attempt (pod {last.pod}) ended with {_failure_text(last)}",
                attempts,
                last.result,
            )
        return JobOutcome("Failed", job_reason, job_message, attempts)

    if _single_pod(job):
        for pod in pods:
            published = _published(pod)
            if published is not None:
                return JobOutcome(
                    "Succeeded",
                    "TrainerSucceeded",
                    f"the trainer in pod {pod['metadata']['name']} published its artifact",
                    max(attempts, 1),
                    published,
                )
    if active:
        message = f"training (attempt {attempts})"
        if last is not None:
            message += f"; the previous attempt ended with {_failure_text(last)}"
        return JobOutcome("Running", "Training", message, attempts)
    return JobOutcome("Pending", "JobPending", "waiting for the trainer pod to start", attempts)
