"""Early stopping: improvement by minDelta in the monitored direction, patience, best epoch."""

from __future__ import annotations

import pytest

from mlops_core.training_spec import EarlyStoppingSpec, TrainerConfig
from mlops_trainer.early_stopping import EarlyStoppingState, step
from mlops_trainer.errors import TrainerError
from mlops_trainer.training_loop import check_monitor

pytestmark = pytest.mark.unit


def _run(spec: EarlyStoppingSpec, values: list[float]) -> tuple[int | None, int]:
    state = EarlyStoppingState()
    for epoch, value in enumerate(values, start=1):
        state, _, stop = step(spec, state, epoch=epoch, metrics={spec.monitor: value})
        if stop:
            return state.best_epoch, epoch
    return state.best_epoch, len(values)


def test_min_mode_stops_after_patience_epochs_without_improvement() -> None:
    spec = EarlyStoppingSpec(monitor="val_loss", mode="min", patience=2)
    assert _run(spec, [1.0, 0.8, 0.9, 0.85, 0.5]) == (2, 4)


def test_max_mode_and_min_delta() -> None:
    spec = EarlyStoppingSpec(monitor="val_f1", mode="max", patience=2, min_delta=0.05)
    # 0.62 is not 0.05 better than 0.6, so it does not reset patience
    assert _run(spec, [0.6, 0.62, 0.64, 0.9]) == (1, 3)


def test_disabled_runs_every_epoch_but_still_tracks_the_best() -> None:
    spec = EarlyStoppingSpec(enabled=False, monitor="val_loss", patience=1)
    assert _run(spec, [0.5, 0.7, 0.4, 0.9]) == (3, 4)


def test_best_flag_is_true_only_on_improvement() -> None:
    spec = EarlyStoppingSpec(monitor="val_loss", patience=5)
    state, best, _ = step(spec, EarlyStoppingState(), epoch=1, metrics={"val_loss": 1.0})
    assert best
    state, best, _ = step(spec, state, epoch=2, metrics={"val_loss": 1.0})
    assert not best
    assert state.bad_epochs == 1


def test_unknown_monitor_lists_the_metrics() -> None:
    spec = EarlyStoppingSpec(monitor="val_auc")
    with pytest.raises(TrainerError, match=r"not a metric of this run \(available: val_loss\)"):
        step(spec, EarlyStoppingState(), epoch=1, metrics={"val_loss": 1.0})


def _config(monitor: str) -> TrainerConfig:
    return TrainerConfig.model_validate(
        {
            "dataset": {"train": "t.csv"},
            "model": {"architecture": "mlp", "metrics": ["accuracy", "roc_auc"]},
            "training": {"earlyStopping": {"monitor": monitor, "mode": "max"}},
            "output": {"modelName": "m", "version": "1.0.0", "artifactUri": "/tmp/m"},
        }
    )


def test_monitor_is_checked_before_training() -> None:
    names = ["accuracy", "roc_auc", "loss"]
    check_monitor(_config("val_roc_auc"), names, num_classes=2)
    check_monitor(_config("train_loss"), names, num_classes=3)
    with pytest.raises(TrainerError, match=r"'val_roc_auc' is not a metric .*needs two classes"):
        check_monitor(_config("val_roc_auc"), names, num_classes=3)
    with pytest.raises(TrainerError, match=r"use one of train_loss, val_accuracy, val_loss"):
        check_monitor(_config("val_f1"), names, num_classes=3)
