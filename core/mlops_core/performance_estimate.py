"""A classifier's accuracy and macro F1 estimated from its calibrated probabilities alone.

Confidence-based performance estimation (CBPE): when the probabilities are calibrated, the
predicted class of a row is right with probability equal to its top probability, so without
a single label

- the expected accuracy of a window is the mean of its rows' top probabilities, and the
  realized accuracy varies around it as a sum of independent Bernoulli trials (a
  Poisson-binomial): its interval here is the normal one, ``± z·sqrt(Σ c(1-c))/n``;
- the expected confusion matrix puts each row's probabilities in the column of its predicted
  class; per-class F1 and their mean (macro F1) follow from it, and the interval of the
  realized macro F1 comes from labels drawn from the probabilities (seeded, so a window gives
  the same answer every time it is asked).

What it assumes: the calibration fitted on the validation split still holds, i.e. inputs may
shift (covariate shift) but ``P(label | input)`` does not (no concept shift). Pure numpy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

Probabilities = np.ndarray[Any, np.dtype[np.floating[Any]]]

#: the two-sided 95% normal quantile
Z_95 = 1.959963984540054
F1_DRAWS = 200
_SEED = 20


@dataclass(frozen=True)
class Estimate:
    """An estimated metric and the 95% interval of its realized value."""

    value: float
    lower: float
    upper: float


@dataclass(frozen=True)
class PerformanceEstimate:
    """The estimate of one window of predictions (macro F1 for more than two classes)."""

    samples: int
    accuracy: Estimate
    macro_f1: Estimate | None


def estimate_accuracy(proba: Probabilities) -> Estimate:
    """Expected accuracy of the rows of calibrated ``proba`` and its 95% interval."""
    confidence = np.asarray(proba, dtype=np.float64).max(axis=1)
    n = confidence.shape[0]
    if n == 0:
        raise ValueError("no predictions to estimate from")
    value = float(confidence.mean())
    spread = Z_95 * float(np.sqrt(np.sum(confidence * (1.0 - confidence)))) / n
    return Estimate(value, max(0.0, value - spread), min(1.0, value + spread))


def _macro_f1(confusion: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """Macro F1 of confusion matrices ``[..., true, predicted]`` (absent classes count 0)."""
    tp = np.diagonal(confusion, axis1=-2, axis2=-1)
    predicted = confusion.sum(axis=-2)
    actual = confusion.sum(axis=-1)
    denominator = predicted + actual
    f1 = np.divide(
        2 * tp, denominator, out=np.zeros_like(tp, dtype=np.float64), where=denominator > 0
    )
    return np.asarray(f1.mean(axis=-1))


def expected_confusion(proba: Probabilities) -> np.ndarray[Any, Any]:
    """``[true, predicted]`` expected counts: each row adds its probabilities to the column
    of its predicted class."""
    proba = np.asarray(proba, dtype=np.float64)
    k = proba.shape[1]
    predicted = proba.argmax(axis=1)
    confusion = np.zeros((k, k))
    np.add.at(confusion.T, predicted, proba)
    return confusion


def estimate_macro_f1(proba: Probabilities, *, draws: int = F1_DRAWS) -> Estimate:
    """Macro F1 from the expected confusion matrix, and the 95% interval of the realized
    value from ``draws`` label sets drawn from the probabilities."""
    proba = np.asarray(proba, dtype=np.float64)
    n, k = proba.shape
    if n == 0:
        raise ValueError("no predictions to estimate from")
    value = float(_macro_f1(expected_confusion(proba)))
    predicted = proba.argmax(axis=1)
    rng = np.random.default_rng(_SEED)
    cumulative = np.cumsum(proba, axis=1)
    cumulative[:, -1] = 1.0
    uniform = rng.random((draws, n, 1))
    labels = (uniform > cumulative[None, :, :]).sum(axis=2)  # [draws, n]
    cells = labels * k + predicted[None, :]
    offsets = (np.arange(draws) * k * k)[:, None]
    counts = np.bincount((cells + offsets).ravel(), minlength=draws * k * k)
    realized = _macro_f1(counts.reshape(draws, k, k).astype(np.float64))
    lower, upper = np.quantile(realized, [0.025, 0.975])
    return Estimate(value, float(min(lower, value)), float(max(upper, value)))


def estimate_performance(proba: Probabilities) -> PerformanceEstimate:
    """Accuracy (and macro F1 for more than two classes) of a window of calibrated rows."""
    proba = np.asarray(proba, dtype=np.float64)
    macro_f1 = estimate_macro_f1(proba) if proba.shape[1] > 2 else None
    return PerformanceEstimate(
        samples=int(proba.shape[0]), accuracy=estimate_accuracy(proba), macro_f1=macro_f1
    )
