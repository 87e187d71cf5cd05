"""An Experiment's trials as the search sees them, read from their TrainingJobs, and the two
writes the search makes to a running trial: its pruner attributes, and stopping it."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from mlops_operator.api.conditions import SUCCEEDED
from mlops_operator.api.experiment import Experiment
from mlops_operator.api.meta import API_VERSION
from mlops_operator.api.training_job import TrainingJob
from mlops_operator.builders.experiment_trial import trial_selector
from mlops_operator.context import OperatorContext
from mlops_operator.kube import NotFoundError
from mlops_operator.reconcile.training_status import is_finished, stopped_status
from mlops_operator.search.record import (
    ANNOTATION_END,
    ANNOTATION_PLAN,
    ANNOTATION_PRUNER,
    AttrValue,
    TrialEnd,
    TrialPlan,
    TrialRecord,
    TrialState,
    pruner_attrs_annotation,
    pruner_attrs_from_annotation,
)

log = logging.getLogger(__name__)


def _parse(body: Mapping[str, Any]) -> TrainingJob:
    metadata = {k: v for k, v in (body.get("metadata") or {}).items() if k != "managedFields"}
    return TrainingJob.from_body({**body, "metadata": metadata})


def _failure_reason(tj: TrainingJob) -> str:
    for condition in tj.status.conditions:
        if condition.type == SUCCEEDED:
            return (
                f"{condition.reason}: {condition.message}"
                if condition.message
                else condition.reason
            )
    return "failed"


def trial_record(tj: TrainingJob, *, metric: str) -> TrialRecord | None:
    """The trial ``tj`` as a search record; None when it carries no trial plan."""
    text = tj.metadata.annotations.get(ANNOTATION_PLAN)
    if not text:
        return None
    try:
        plan = TrialPlan.from_annotation(text)
        end_text = tj.metadata.annotations.get(ANNOTATION_END)
        end = TrialEnd.from_annotation(end_text) if end_text else None
    except (ValidationError, ValueError):
        log.warning("TrainingJob %s has an unreadable trial annotation", tj.metadata.name)
        return None
    progress = tj.status.progress
    history = progress.history if progress else []
    intermediate = {item.epoch: item.metrics[metric] for item in history if metric in item.metrics}
    value: float | None = None
    reason: str | None = None
    state: TrialState
    if end is not None:
        state, value, reason = end.state, end.value, end.reason
        intermediate = end.intermediate_values()
    elif tj.status.phase == "Succeeded":
        state, value = "succeeded", tj.status.metrics.get(metric)
    elif tj.status.phase == "Failed":
        state, reason = "failed", _failure_reason(tj)
    elif tj.status.phase == "Stopped":
        state, reason = "stopped", _failure_reason(tj)
    else:
        state = "running"
    return TrialRecord(
        plan=plan,
        state=state,
        name=tj.metadata.name,
        value=value,
        intermediate=intermediate,
        pruner_attrs=pruner_attrs_from_annotation(tj.metadata.annotations.get(ANNOTATION_PRUNER)),
        reason=reason,
        epochs=progress.epoch if progress else 0,
        started=tj.status.start_time or tj.metadata.creation_timestamp,
        finished=tj.status.completion_time,
        queued=state == "running" and tj.status.phase == "Queued",
    )


def list_trials(ctx: OperatorContext, experiment: Experiment) -> dict[int, TrainingJob]:
    """The Experiment's trial TrainingJobs by trial number (those it owns)."""
    bodies = ctx.kube.list(
        API_VERSION,
        "TrainingJob",
        experiment.metadata.namespace,
        label_selector=trial_selector(experiment.metadata.name),
    )
    trials: dict[int, TrainingJob] = {}
    for body in bodies:
        tj = _parse(body)
        owners = tj.metadata.owner_references
        if not any(owner.uid == experiment.metadata.uid for owner in owners):
            continue
        text = tj.metadata.annotations.get(ANNOTATION_PLAN)
        if text:
            try:
                trials[TrialPlan.from_annotation(text).number] = tj
            except (ValidationError, ValueError):
                continue
    return trials


def annotate(ctx: OperatorContext, tj: TrainingJob, annotations: dict[str, str]) -> None:
    ctx.kube.merge_patch(
        API_VERSION,
        "TrainingJob",
        tj.metadata.name,
        tj.metadata.namespace,
        {"metadata": {"annotations": annotations}},
    )


def save_pruner_attrs(ctx: OperatorContext, tj: TrainingJob, attrs: dict[str, AttrValue]) -> None:
    annotate(ctx, tj, {ANNOTATION_PRUNER: pruner_attrs_annotation(attrs)})


def stop_trial(ctx: OperatorContext, tj: TrainingJob, end: TrialEnd, *, reason: str) -> None:
    """Record why the trial ends, mark its run Stopped, then suspend its Job (the Job
    controller ends its pods; the Job stays, owned by the TrainingJob, with its history).

    In this order, a crash half-way leaves a trial whose end is recorded but whose run is not
    marked Stopped; the next reconcile sees that and stops it again.
    """
    if ANNOTATION_END not in tj.metadata.annotations:
        annotate(ctx, tj, {ANNOTATION_END: end.to_annotation()})
    namespace = tj.metadata.namespace or "default"
    # under the run's lock, so the TrainingJob reconcile never sees the suspended Job's
    # ended pods before the run is marked Stopped
    with ctx.lock(f"trainingjob/{namespace}/{tj.metadata.name}"):
        body = ctx.kube.get(API_VERSION, "TrainingJob", tj.metadata.name, namespace)
        if body is None:
            return
        current = _parse(body)
        if is_finished(current):
            return
        if current.status.job_name:
            # a Job not created yet, or gone, runs nothing
            with contextlib.suppress(NotFoundError):
                ctx.kube.merge_patch(
                    "batch/v1",
                    "Job",
                    current.status.job_name,
                    namespace,
                    {"spec": {"suspend": True}},
                )
        ctx.kube.merge_patch(
            API_VERSION,
            "TrainingJob",
            current.metadata.name,
            namespace,
            {
                "status": stopped_status(
                    current, reason=reason, message=end.reason, now=datetime.now(UTC)
                )
            },
            subresource="status",
        )


def needs_stopping(tj: TrainingJob) -> bool:
    """A trial whose end is recorded but whose run was not marked Stopped yet."""
    return ANNOTATION_END in tj.metadata.annotations and not is_finished(tj)
