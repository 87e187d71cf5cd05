"""``calibration.json``: the temperature that makes a version's probabilities calibrated.

The trainer fits it on the validation split and publishes it with the artifact (listed in the
manifest, verified like every other file); the server applies it to the probabilities it keeps
for the performance estimate (``performance_estimate``). Plain JSON, never pickle.

Temperature scaling (Guo et al., 2017) rather than isotonic regression, because:

- one parameter fitted by minimising the validation log-loss: it does not overfit the few
  hundred rows a validation split often has, where isotonic steps do;
- it keeps every row's ranking of classes, so a calibrated prediction names the same class;
- it is one map for any number of classes (isotonic needs one map per class and a
  renormalisation that breaks its own calibration);
- applying it costs one power and one sum per row.

With probabilities ``p`` the calibrated ones are ``softmax(log p / T)`` (for a binary sigmoid
that is ``sigmoid(z / T)``): ``T > 1`` softens an over-confident network, ``T < 1`` sharpens it.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import numpy as np
from pydantic import Field, ValidationError

from mlops_core.wire import WireModel

Probabilities = np.ndarray[Any, np.dtype[np.floating[Any]]]

#: the range searched for ``log T``: temperatures from about 0.02 to 55
_LOG_T_RANGE = (-4.0, 4.0)
_SEARCH_STEPS = 60
_FLOOR = 1e-12


class CalibrationError(ValueError):
    """A calibration file that cannot be used, or data a calibration cannot be fitted on."""


class Calibration(WireModel):
    """The calibration map of one model version."""

    method: Literal["temperature"] = Field(
        default="temperature", description="How probabilities are calibrated."
    )
    temperature: float = Field(gt=0, le=1000, description="Divides the log-probabilities.")
    samples: int = Field(ge=1, description="Validation rows the temperature was fitted on.")
    log_loss_before: float = Field(ge=0, description="Validation log-loss of the raw model.")
    log_loss_after: float = Field(ge=0, description="Validation log-loss once calibrated.")

    def apply(self, proba: Probabilities) -> Probabilities:
        """Calibrated probabilities of the rows of ``proba`` (float64)."""
        return temperature_scaled(proba, self.temperature)

    def to_json(self) -> bytes:
        return self.model_dump_json(by_alias=True, indent=2).encode() + b"\n"

    @classmethod
    def from_json(cls, data: bytes) -> Calibration:
        try:
            return cls.model_validate_json(data)
        except ValidationError as exc:
            raise CalibrationError(f"calibration.json is not a valid calibration: {exc}") from exc


def temperature_scaled(proba: Probabilities, temperature: float) -> Probabilities:
    """``softmax(log p / T)`` per row, computed stably."""
    logs = np.log(np.maximum(np.asarray(proba, dtype=np.float64), _FLOOR)) / temperature
    logs -= logs.max(axis=1, keepdims=True)
    scaled = np.exp(logs)
    scaled /= scaled.sum(axis=1, keepdims=True)
    return scaled


def log_loss(proba: Probabilities, targets: np.ndarray[Any, Any]) -> float:
    """Mean negative log-likelihood of the true classes ``targets`` (class indices)."""
    picked = np.asarray(proba, dtype=np.float64)[np.arange(len(targets)), targets]
    return float(-np.mean(np.log(np.maximum(picked, _FLOOR))))


def fit_temperature(proba: Probabilities, targets: np.ndarray[Any, Any]) -> Calibration:
    """The temperature minimising the log-loss of ``proba`` (rows) against ``targets``.

    The log-loss is convex in ``1/T``, so a golden-section search over ``log T`` finds its
    minimum; CalibrationError when there are no rows or the shapes disagree.
    """
    proba = np.asarray(proba, dtype=np.float64)
    targets = np.asarray(targets, dtype=np.int64)
    if proba.ndim != 2 or proba.shape[0] == 0 or proba.shape[0] != targets.shape[0]:
        raise CalibrationError(
            f"cannot fit a temperature on {proba.shape} probabilities and "
            f"{targets.shape} targets: both need the same number (>0) of rows"
        )
    if targets.min() < 0 or targets.max() >= proba.shape[1]:
        raise CalibrationError("targets must be class indices below the number of classes")

    def loss(log_t: float) -> float:
        return log_loss(temperature_scaled(proba, math.exp(log_t)), targets)

    ratio = (math.sqrt(5) - 1) / 2
    low, high = _LOG_T_RANGE
    a, b = high - ratio * (high - low), low + ratio * (high - low)
    loss_a, loss_b = loss(a), loss(b)
    for _ in range(_SEARCH_STEPS):
        if loss_a < loss_b:
            high, b, loss_b = b, a, loss_a
            a = high - ratio * (high - low)
            loss_a = loss(a)
        else:
            low, a, loss_a = a, b, loss_b
            b = low + ratio * (high - low)
            loss_b = loss(b)
    best = (low + high) / 2
    before = log_loss(proba, targets)
    after = loss(best)
    temperature = math.exp(best)
    if after > before:  # never worse than leaving the network as it is
        temperature, after = 1.0, before
    return Calibration(
        temperature=temperature,
        samples=int(proba.shape[0]),
        log_loss_before=before,
        log_loss_after=after,
    )
