"""Classification metrics agree with scikit-learn on the same data."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from mlops_core.classification_metrics import compute_metrics, roc_auc

pytestmark = pytest.mark.unit


def _random_case(seed: int, classes: int, n: int = 200) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, n)
    logits = rng.normal(size=(n, classes)) + 1.5 * np.eye(classes)[y]
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return y, proba


@pytest.mark.parametrize(("seed", "classes"), [(0, 2), (1, 3), (2, 5)])
def test_matches_sklearn(seed: int, classes: int) -> None:
    y, proba = _random_case(seed, classes)
    pred = proba.argmax(axis=1)
    got = compute_metrics(["accuracy", "precision", "recall", "f1", "roc_auc", "loss"], y, proba)
    assert got["accuracy"] == pytest.approx(skm.accuracy_score(y, pred))
    assert got["precision"] == pytest.approx(
        skm.precision_score(y, pred, average="macro", zero_division=0)
    )
    assert got["recall"] == pytest.approx(skm.recall_score(y, pred, average="macro"))
    assert got["f1"] == pytest.approx(skm.f1_score(y, pred, average="macro"))
    assert got["loss"] == pytest.approx(skm.log_loss(y, proba, labels=list(range(classes))))
    if classes == 2:
        assert got["roc_auc"] == pytest.approx(skm.roc_auc_score(y, proba[:, 1]))
    else:
        assert "roc_auc" not in got


def test_class_never_predicted_counts_as_zero_precision() -> None:
    y = np.array([0, 1, 2, 2])
    proba = np.eye(3)[[0, 1, 1, 1]]
    got = compute_metrics(["precision", "recall", "f1"], y, proba)
    pred = proba.argmax(axis=1)
    assert got["precision"] == pytest.approx(
        skm.precision_score(y, pred, average="macro", zero_division=0)
    )
    assert got["f1"] == pytest.approx(skm.f1_score(y, pred, average="macro", zero_division=0))


def test_roc_auc_handles_ties_and_one_class() -> None:
    y = np.array([0, 0, 1, 1, 1, 0])
    scores = np.array([0.1, 0.5, 0.5, 0.9, 0.5, 0.2])
    assert roc_auc(y, scores) == pytest.approx(skm.roc_auc_score(y, scores))
    assert roc_auc(np.array([1, 1]), np.array([0.2, 0.3])) is None


def test_prefix_and_given_loss() -> None:
    y, proba = _random_case(3, 2, n=20)
    got = compute_metrics(["accuracy", "loss"], y, proba, loss=0.25, prefix="val_")
    assert set(got) == {"val_accuracy", "val_loss"}
    assert got["val_loss"] == 0.25


def test_unknown_metric_is_an_error() -> None:
    y, proba = _random_case(4, 2, n=10)
    with pytest.raises(ValueError, match=r"unknown metric 'mse'"):
        compute_metrics(["mse"], y, proba)
