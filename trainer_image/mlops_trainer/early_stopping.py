"""Early stopping as a small state machine: feed it each epoch's metrics, it says what to do."""

from __future__ import annotations

import math

from pydantic import Field

from mlops_core.training_spec import EarlyStoppingSpec
from mlops_core.wire import WireModel
from mlops_trainer.errors import TrainerError


class EarlyStoppingState(WireModel):
    """What early stopping remembers between epochs (saved in every checkpoint)."""

    best_value: float | None = Field(default=None, description="Best monitored value so far.")
    best_epoch: int | None = Field(default=None, description="Epoch of the best value.")
    bad_epochs: int = Field(default=0, description="Epochs since the last improvement.")


def improved(spec: EarlyStoppingSpec, value: float, best: float | None) -> bool:
    if best is None:
        return True
    if spec.mode == "min":
        return value < best - spec.min_delta
    return value > best + spec.min_delta


def monitored_value(spec: EarlyStoppingSpec, metrics: dict[str, float]) -> float:
    try:
        value = metrics[spec.monitor]
    except KeyError:
        raise TrainerError(
            f"training.earlyStopping.monitor {spec.monitor!r} is not a metric of this run "
            f"(available: {', '.join(sorted(metrics))}); add it to model.metrics or pick another"
        ) from None
    if math.isnan(value):
        raise TrainerError(f"monitored metric {spec.monitor} is NaN")
    return value


def step(
    spec: EarlyStoppingSpec, state: EarlyStoppingState, *, epoch: int, metrics: dict[str, float]
) -> tuple[EarlyStoppingState, bool, bool]:
    """``(new state, is this the best epoch, should training stop)`` after ``epoch``.

    The best epoch is tracked even when early stopping is disabled, so the published weights are
    always those of the best epoch by ``monitor``.
    """
    value = monitored_value(spec, metrics)
    if improved(spec, value, state.best_value):
        return EarlyStoppingState(best_value=value, best_epoch=epoch, bad_epochs=0), True, False
    bad = state.bad_epochs + 1
    stop = spec.enabled and bad >= spec.patience
    return state.model_copy(update={"bad_epochs": bad}), False, stop
