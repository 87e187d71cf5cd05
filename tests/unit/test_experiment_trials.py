"""A trial TrainingJob read back as a search record: its plan from the annotation, its state and
objective values from the status, a recorded end winning over what the run did after it."""

from __future__ import annotations

from typing import Any

import pytest

from mlops_operator.api.training_job import TrainingJob
from mlops_operator.reconcile.experiment_trials import needs_stopping, trial_record
from mlops_operator.search.record import (
    ANNOTATION_END,
    ANNOTATION_PLAN,
    ANNOTATION_PRUNER,
    TrialEnd,
    TrialPlan,
)

pytestmark = pytest.mark.unit

PLAN = TrialPlan(number=4, params={"model.dropout": 0.25}, distributions={}, told_before=[1, 2])


def trial(
    phase: str | None, *, annotations: dict[str, str] | None = None, **status: Any
) -> TrainingJob:
    history = [
        {"epoch": epoch, "metrics": {"val_accuracy": value, "val_loss": 1 - value}}
        for epoch, value in enumerate([0.6, 0.7, 0.8], start=1)
    ]
    body = {
        "metadata": {
            "name": "s-t4",
            "namespace": "ml",
            "annotations": {ANNOTATION_PLAN: PLAN.to_annotation(), **(annotations or {})},
        },
        "spec": {
            "modelName": "m",
            "dataset": {"train": "s3://b/train.csv"},
            "model": {"architecture": "mlp"},
        },
        "status": {
            "phase": phase,
            "progress": {"epoch": 3, "totalEpochs": 5, "history": history},
            **status,
        },
    }
    return TrainingJob.from_body(body)


def test_a_running_trial_has_its_epoch_values() -> None:
    record = trial_record(trial("Running"), metric="val_accuracy")
    assert record is not None
    assert record.plan == PLAN
    assert record.state == "running"
    assert record.intermediate == {1: 0.6, 2: 0.7, 3: 0.8}
    assert record.epochs == 3


def test_a_succeeded_trial_is_valued_by_its_final_metric() -> None:
    record = trial_record(trial("Succeeded", metrics={"val_accuracy": 0.91}), metric="val_accuracy")
    assert record is not None
    assert (record.state, record.value) == ("succeeded", 0.91)
    missing = trial_record(trial("Succeeded", metrics={"val_loss": 0.2}), metric="val_accuracy")
    assert missing is not None
    assert missing.value is None  # the reconcile stops the search: MetricNotReported


def test_a_failed_trial_carries_its_reason() -> None:
    conditions = [
        {
            "type": "Succeeded",
            "status": "False",
            "reason": "OOMKilled",
            "message": "the trainer ran out of memory",
            "lastTransitionTime": "2026-01-01T00:00:00Z",
        }
    ]
    record = trial_record(trial("Failed", conditions=conditions), metric="val_accuracy")
    assert record is not None
    assert record.state == "failed"
    assert record.reason == "OOMKilled: the trainer ran out of memory"


def test_a_recorded_prune_wins_over_epochs_reported_after_it() -> None:
    end = TrialEnd(
        state="pruned", epoch=2, value=0.7, intermediate={"1": 0.6, "2": 0.7}, reason="p"
    )
    annotations = {
        ANNOTATION_END: end.to_annotation(),
        ANNOTATION_PRUNER: '{"completed_rung_0": 0.6}',
    }
    running = trial("Running", annotations=annotations)
    record = trial_record(running, metric="val_accuracy")
    assert record is not None
    assert (record.state, record.value) == ("pruned", 0.7)
    assert record.intermediate == {1: 0.6, 2: 0.7}
    assert record.pruner_attrs == {"completed_rung_0": 0.6}
    assert needs_stopping(running)
    assert not needs_stopping(trial("Stopped", annotations=annotations))


def test_a_training_job_without_a_plan_is_no_trial() -> None:
    body = trial("Running").model_copy(deep=True)
    body.metadata.annotations.clear()
    assert trial_record(body, metric="val_accuracy") is None
