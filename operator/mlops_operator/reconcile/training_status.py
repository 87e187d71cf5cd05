"""TrainingJob status: pure reducers from what was observed to the status patch to write.

The conditions follow kstatus: a running job is ``Reconciling``; a finished one has
``Succeeded`` True or False; a failed one is ``Stalled`` with the failure's reason (so
``kubectl wait --for=condition=Succeeded`` and Flux/Argo CD health checks both work).
The patch names only the fields the operator owns, never ``progress`` (the trainer's).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mlops_operator.api.conditions import (
    READY,
    RECONCILING,
    STALLED,
    SUCCEEDED,
    Condition,
    ConditionStatus,
    set_conditions,
)
from mlops_operator.api.training_job import FINISHED_PHASES, TrainingJob, TrainingPhase
from mlops_operator.reconcile.queue_status import QueueVerdict

StatusPatch = dict[str, Any]


@dataclass(frozen=True)
class ConditionSet:
    ready: tuple[ConditionStatus, str]
    reconciling: tuple[ConditionStatus, str]
    stalled: tuple[ConditionStatus, str]
    succeeded: tuple[ConditionStatus, str]


def _conditions(
    tj: TrainingJob, wanted: ConditionSet, *, message: str, now: datetime
) -> list[Condition]:
    return set_conditions(
        tj.status.conditions,
        [
            (READY, *wanted.ready),
            (RECONCILING, *wanted.reconciling),
            (STALLED, *wanted.stalled),
            (SUCCEEDED, *wanted.succeeded),
        ],
        message=message,
        primary=SUCCEEDED,
        observed_generation=tj.metadata.generation,
        now=now,
    )


def _patch(tj: TrainingJob, phase: TrainingPhase, conditions: list[Condition]) -> StatusPatch:
    return {
        "observedGeneration": tj.metadata.generation,
        "phase": phase,
        "conditions": [c.to_wire() for c in conditions],
    }


def started_status(
    tj: TrainingJob,
    *,
    version: str,
    artifact_uri: str,
    job_name: str,
    now: datetime,
) -> StatusPatch:
    """The run's version and artifact location, recorded before any child is created."""
    message = f"starting the run that publishes version {version}"
    wanted = ConditionSet(
        ready=("False", "Starting"),
        reconciling=("True", "Starting"),
        stalled=("False", "Starting"),
        succeeded=("Unknown", "Starting"),
    )
    patch = _patch(tj, "Pending", _conditions(tj, wanted, message=message, now=now))
    patch.update(
        version=version,
        jobName=job_name,
        artifact={"uri": artifact_uri},
        startTime=now.strftime("%Y-%m-%dT%H:%M:%SZ"),
    )
    return patch


def progress_status(
    tj: TrainingJob,
    *,
    phase: TrainingPhase,
    reason: str,
    message: str,
    attempts: int,
    now: datetime,
) -> StatusPatch:
    """Pending, Running or Registering: the run is in progress."""
    wanted = ConditionSet(
        ready=("False", reason),
        reconciling=("True", reason),
        stalled=("False", reason),
        succeeded=("Unknown", reason),
    )
    patch = _patch(tj, phase, _conditions(tj, wanted, message=message, now=now))
    patch["attempts"] = max(attempts, tj.status.attempts)
    return patch


def queued_status(
    tj: TrainingJob, *, verdict: QueueVerdict, attempts: int, now: datetime
) -> StatusPatch:
    """Waiting in a Kueue queue: ``Reconciling`` while waiting can end by itself, ``Stalled``
    (with what to fix) when it cannot. Either way the Job stays suspended in the queue."""
    stuck = verdict.state == "Stuck"
    reason = verdict.reason
    wanted = ConditionSet(
        ready=("False", reason),
        reconciling=("False" if stuck else "True", reason),
        stalled=("True" if stuck else "False", reason),
        succeeded=("Unknown", reason),
    )
    patch = _patch(tj, "Queued", _conditions(tj, wanted, message=verdict.message, now=now))
    patch["attempts"] = max(attempts, tj.status.attempts)
    patch["queue"] = verdict.status.to_merge_patch()
    return patch


def failed_status(
    tj: TrainingJob, *, reason: str, message: str, attempts: int, now: datetime
) -> StatusPatch:
    """The run failed for ``reason``; nothing will change unless a new run is created."""
    wanted = ConditionSet(
        ready=("False", reason),
        reconciling=("False", reason),
        stalled=("True", reason),
        succeeded=("False", reason),
    )
    patch = _patch(tj, "Failed", _conditions(tj, wanted, message=message, now=now))
    patch["attempts"] = max(attempts, tj.status.attempts)
    patch["completionTime"] = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    return patch


def succeeded_status(
    tj: TrainingJob,
    *,
    model_version: str | None,
    version: str,
    artifact_uri: str,
    digest: str,
    metrics: dict[str, float],
    attempts: int,
    now: datetime,
) -> StatusPatch:
    """The artifact verified and (unless registration is off) the ModelVersion created."""
    if model_version:
        reason = "ModelVersionCreated"
        message = f"registered ModelVersion {model_version} (version {version})"
    else:
        reason = "ArtifactPublished"
        message = f"published and verified {artifact_uri} (registration is off)"
    wanted = ConditionSet(
        ready=("True", reason),
        reconciling=("False", reason),
        stalled=("False", reason),
        succeeded=("True", reason),
    )
    patch = _patch(tj, "Succeeded", _conditions(tj, wanted, message=message, now=now))
    patch.update(
        attempts=max(attempts, tj.status.attempts),
        metrics=metrics,
        artifact={"uri": artifact_uri, "digest": digest},
        modelVersion=model_version,
        completionTime=now.strftime("%Y-%m-%dT%H:%M:%SZ"),
    )
    return patch


def stopped_status(tj: TrainingJob, *, reason: str, message: str, now: datetime) -> StatusPatch:
    """The run was stopped on purpose (an Experiment pruned its trial, or its search ended):
    not a failure, and nothing will change."""
    wanted = ConditionSet(
        ready=("False", reason),
        reconciling=("False", reason),
        stalled=("False", reason),
        succeeded=("False", reason),
    )
    patch = _patch(tj, "Stopped", _conditions(tj, wanted, message=message, now=now))
    patch["completionTime"] = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    return patch


def is_finished(tj: TrainingJob) -> bool:
    return tj.status.phase in FINISHED_PHASES


def differs(tj: TrainingJob, patch: StatusPatch) -> bool:
    """Whether writing ``patch`` would change anything a reader sees (times aside)."""
    current = tj.status.to_wire()
    for key, value in patch.items():
        if key == "conditions":
            old = {(c["type"], c["status"], c["reason"], c.get("message", "")) for c in value}
            new = {(c.type, c.status, c.reason, c.message) for c in tj.status.conditions}
            if old != new:
                return True
        elif key not in ("startTime", "completionTime") and current.get(key) != _set(value):
            return True
    return False


def _set(value: object) -> object:
    """``value`` as the object reads once patched: the nulls of a merge patch remove fields."""
    if isinstance(value, dict):
        return {k: _set(v) for k, v in value.items() if v is not None}
    return value
