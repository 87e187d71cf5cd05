"""A classifier's accuracy and macro F1 estimated from its calibrated probabilities alone.

Confidence-based performance estimation (CBPE): when the probabilities are calibrated, the
predicted class of a row is right with probability equal to its top probability, so without
a single label

- the expected accuracy of a window is the mean of its rows' top probabilities, and the
  realized accuracy varies around it as a sum of independent Bernoulli trials (a
  Poisson-binomial): its interval here is the normal one, ``± z·sqrt(Σ c(1-c))/n``;
- the expected confusion matrix puts each row's probabilities in the column of its predicted
  class; per-class F1 and their mean (macro F1) follow from it. The realized macro F1 is a
  smooth function of per-class counts that are sums of independent rows, so its interval is
  the normal one of its first-order (delta-method) expansion: each row adds to the counts of
  the class its label turns out to be, and the variance is the sum of the rows' own variances
  under their probabilities. One pass over the window, no sampling.

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


def estimate_macro_f1(proba: Probabilities) -> Estimate:
    """Macro F1 from the expected confusion matrix, with the 95% interval of the realized value.

    Per class ``c``: ``F1_c = 2·TP_c / (P_c + A_c)``, ``P_c`` the rows predicted ``c`` (fixed),
    ``TP_c`` and ``A_c`` the rows labelled ``c`` among them and in all (random). To first
    order, a row whose label is ``c`` moves macro F1 by ``(g_c·[c predicted] + h_c) / K`` with
    ``g_c = 2 / (P_c + A_c)`` and ``h_c = −2·TP_c / (P_c + A_c)²`` at the expected counts; the
    rows are independent, so the variance is the sum of each row's variance of that move.
    """
    proba = np.asarray(proba, dtype=np.float64)
    n, k = proba.shape
    if n == 0:
        raise ValueError("no predictions to estimate from")
    confusion = expected_confusion(proba)
    value = float(_macro_f1(confusion))
    true_positives = np.diagonal(confusion)
    denominator = confusion.sum(axis=0) + confusion.sum(axis=1)  # P_c + A_c
    safe = np.where(denominator > 0, denominator, 1.0)
    gain = np.where(denominator > 0, 2.0 / safe, 0.0)
    loss = np.where(denominator > 0, -2.0 * true_positives / safe**2, 0.0)
    move = np.broadcast_to(loss / k, (n, k)).copy()  # [row, label]: the move of macro F1
    predicted = proba.argmax(axis=1)
    rows = np.arange(n)
    move[rows, predicted] += gain[predicted] / k
    mean = np.einsum("ij,ij->i", proba, move)
    variance = np.einsum("ij,ij->i", proba, move * move) - mean * mean
    spread = Z_95 * float(np.sqrt(max(float(variance.sum()), 0.0)))
    return Estimate(value, max(0.0, value - spread), min(1.0, value + spread))


def estimate_performance(proba: Probabilities) -> PerformanceEstimate:
    """Accuracy (and macro F1 for more than two classes) of a window of calibrated rows."""
    proba = np.asarray(proba, dtype=np.float64)
    macro_f1 = estimate_macro_f1(proba) if proba.shape[1] > 2 else None
    return PerformanceEstimate(
        samples=int(proba.shape[0]), accuracy=estimate_accuracy(proba), macro_f1=macro_f1
    )
