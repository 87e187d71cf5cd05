"""Classification metrics in plain numpy, shared by trainer (validation/test) and anyone else.

Precision, recall and F1 are macro averages over the classes present in the labels or the
predictions (a class with no predictions has precision 0). ROC AUC is for binary labels only:
the probability that a random positive scores above a random negative (ties count half); it is
left out when the labels hold one class only.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

MetricValues = dict[str, float]


def confusion_matrix(
    y_true: np.ndarray[Any, Any], y_pred: np.ndarray[Any, Any], num_classes: int
) -> np.ndarray[Any, np.dtype[np.int64]]:
    """``[true, predicted]`` counts."""
    index = y_true.astype(np.int64) * num_classes + y_pred.astype(np.int64)
    counts = np.bincount(index, minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes)


def accuracy(y_true: np.ndarray[Any, Any], y_pred: np.ndarray[Any, Any]) -> float:
    return float(np.mean(y_true == y_pred)) if y_true.size else 0.0


def precision_recall_f1(
    y_true: np.ndarray[Any, Any], y_pred: np.ndarray[Any, Any], num_classes: int
) -> tuple[float, float, float]:
    """Macro precision, recall and F1 over the classes seen in labels or predictions."""
    matrix = confusion_matrix(y_true, y_pred, num_classes).astype(np.float64)
    true_positive = np.diag(matrix)
    predicted = matrix.sum(axis=0)
    actual = matrix.sum(axis=1)
    present = (predicted + actual) > 0
    if not present.any():
        return 0.0, 0.0, 0.0
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(predicted > 0, true_positive / predicted, 0.0)
        recall = np.where(actual > 0, true_positive / actual, 0.0)
        denominator = precision + recall
        f1 = np.where(denominator > 0, 2 * precision * recall / denominator, 0.0)
    return (
        float(precision[present].mean()),
        float(recall[present].mean()),
        float(f1[present].mean()),
    )


def roc_auc(y_true: np.ndarray[Any, Any], scores: np.ndarray[Any, Any]) -> float | None:
    """Binary ROC AUC via average ranks (Mann-Whitney U); None when one class only."""
    positives = int(np.sum(y_true == 1))
    negatives = int(y_true.size - positives)
    if positives == 0 or negatives == 0:
        return None
    # average rank of each distinct score (1-based), ties sharing the mean of their positions
    _, inverse, counts = np.unique(scores, return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    average = ends - (counts - 1) / 2.0
    ranks = average[inverse.reshape(-1)]
    rank_sum = float(ranks[y_true == 1].sum())
    return (rank_sum - positives * (positives + 1) / 2) / (positives * negatives)


def log_loss(y_true: np.ndarray[Any, Any], proba: np.ndarray[Any, Any]) -> float:
    """Mean negative log-likelihood of the true class."""
    if y_true.size == 0:
        return 0.0
    picked = proba[np.arange(y_true.size), y_true.astype(np.int64)]
    return float(-np.mean(np.log(np.clip(picked, 1e-12, 1.0))))


def compute_metrics(
    names: Iterable[str],
    y_true: np.ndarray[Any, Any],
    proba: np.ndarray[Any, Any],
    *,
    loss: float | None = None,
    prefix: str = "",
) -> MetricValues:
    """The asked ``names`` (accuracy, precision, recall, f1, roc_auc, loss) as ``prefix+name``.

    ``proba`` is ``[n, num_classes]``; ``loss`` defaults to the log loss of ``proba``.
    """
    num_classes = proba.shape[1]
    y_pred = np.argmax(proba, axis=1)
    wanted = list(dict.fromkeys(names))
    out: MetricValues = {}
    if {"precision", "recall", "f1"} & set(wanted):
        precision, recall, f1 = precision_recall_f1(y_true, y_pred, num_classes)
        values = {"precision": precision, "recall": recall, "f1": f1}
    else:
        values = {}
    for name in wanted:
        if name == "accuracy":
            out[prefix + name] = accuracy(y_true, y_pred)
        elif name in values:
            out[prefix + name] = values[name]
        elif name == "roc_auc":
            if num_classes == 2:
                auc = roc_auc(y_true, proba[:, 1])
                if auc is not None:
                    out[prefix + name] = auc
        elif name == "loss":
            out[prefix + name] = log_loss(y_true, proba) if loss is None else loss
        else:
            raise ValueError(
                f"unknown metric {name!r}: use accuracy, precision, recall, f1, roc_auc or loss"
            )
    return out
