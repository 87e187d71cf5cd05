"""Experiment status: a pure reducer from the observed trials and the search's verdict to the
typed status to write.

Conditions follow kstatus: a search in progress is ``Reconciling``; one that ended well has
``Succeeded`` and ``Ready`` True once its winner is registered; one that cannot go on (too many
failed trials, a search space the template rejects) is ``Stalled`` with the reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from mlops_operator.api.conditions import (
    READY,
    RECONCILING,
    STALLED,
    SUCCEEDED,
    ConditionStatus,
    set_conditions,
)
from mlops_operator.api.experiment import (
    FAILURES_MAX,
    BestTrial,
    Experiment,
    ExperimentPhase,
    ExperimentStatus,
    TrialFailure,
)
from mlops_operator.search.decisions import SearchVerdict, best_trial
from mlops_operator.search.record import TrialRecord

PARAM_TEXT_MAX = 256


@dataclass(frozen=True)
class Stage:
    """Where the search is, as the conditions say it."""

    phase: ExperimentPhase
    reason: str
    message: str
    ready: ConditionStatus
    reconciling: ConditionStatus
    stalled: ConditionStatus
    succeeded: ConditionStatus


def running_stage(reason: str, message: str, *, started: bool) -> Stage:
    return Stage(
        phase="Running" if started else "Pending",
        reason=reason,
        message=message,
        ready="False",
        reconciling="True",
        stalled="False",
        succeeded="Unknown",
    )


def stalled_stage(reason: str, message: str) -> Stage:
    return Stage(
        phase="Failed",
        reason=reason,
        message=message,
        ready="False",
        reconciling="False",
        stalled="True",
        succeeded="False",
    )


def succeeded_stage(reason: str, message: str) -> Stage:
    return Stage(
        phase="Succeeded",
        reason=reason,
        message=message,
        ready="True",
        reconciling="False",
        stalled="False",
        succeeded="True",
    )


def stage_of(verdict: SearchVerdict, *, started: bool, winner_pending: str | None = None) -> Stage:
    """The stage for ``verdict``; ``winner_pending``: why the winner is not registered yet."""
    if verdict.ended is None:
        return running_stage("SearchRunning", verdict.message, started=started)
    if not verdict.succeeded:
        return stalled_stage(verdict.ended, verdict.message)
    if winner_pending is not None:
        return running_stage("RegisteringWinner", winner_pending, started=True)
    return succeeded_stage(verdict.ended, verdict.message)


def _params_text(record: TrialRecord) -> dict[str, str]:
    return {name: str(value)[:PARAM_TEXT_MAX] for name, value in record.plan.params.items()}


def experiment_status(
    experiment: Experiment,
    records: Sequence[TrialRecord],
    stage: Stage,
    *,
    model_version: str | None,
    now: datetime,
    mlflow_run_id: str | None = None,
) -> ExperimentStatus:
    """The whole status, computed from what was observed (never patched key by key)."""
    current = experiment.status
    counts = dict.fromkeys(("running", "succeeded", "failed", "pruned", "stopped"), 0)
    for record in records:
        counts[record.state] += 1
    queued = sum(1 for record in records if record.queued)
    best = best_trial(records, experiment.spec.objective.direction)
    failures = [
        TrialFailure(training_job=record.name, reason=(record.reason or "failed")[:1024])
        for record in sorted(records, key=lambda item: item.number)
        if record.state == "failed"
    ][:FAILURES_MAX]
    conditions = set_conditions(
        current.conditions,
        [
            (READY, stage.ready, stage.reason),
            (RECONCILING, stage.reconciling, stage.reason),
            (STALLED, stage.stalled, stage.reason),
            (SUCCEEDED, stage.succeeded, stage.reason),
        ],
        message=stage.message,
        primary=SUCCEEDED,
        observed_generation=experiment.metadata.generation,
        now=now,
    )
    ended = stage.phase in ("Succeeded", "Failed")
    return ExperimentStatus(
        observed_generation=experiment.metadata.generation,
        conditions=conditions,
        phase=stage.phase,
        trials_created=len(records),
        trials_queued=queued,
        trials_running=counts["running"] - queued,
        trials_succeeded=counts["succeeded"],
        trials_failed=counts["failed"],
        trials_pruned=counts["pruned"],
        trials_stopped=counts["stopped"],
        trials_done=counts["succeeded"] + counts["failed"] + counts["pruned"],
        failures=failures,
        best_trial=(
            BestTrial(
                number=best.number,
                training_job=best.name,
                value=best.value if best.value is not None else 0.0,
                params=_params_text(best),
                model_version=model_version,
            )
            if best is not None
            else None
        ),
        mlflow_run_id=mlflow_run_id or current.mlflow_run_id,
        start_time=current.start_time or (now.replace(microsecond=0) if records else None),
        completion_time=(current.completion_time or now.replace(microsecond=0)) if ended else None,
    )
