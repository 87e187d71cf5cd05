"""The calibration map and the performance estimate, against simulated calibrated data."""

from __future__ import annotations

import numpy as np
import pytest

from mlops_core.calibration import (
    Calibration,
    CalibrationError,
    fit_temperature,
    temperature_scaled,
)
from mlops_core.performance_estimate import (
    estimate_accuracy,
    estimate_macro_f1,
    estimate_performance,
    expected_confusion,
)

pytestmark = pytest.mark.unit


def calibrated_window(rng: np.random.Generator, n: int, k: int, concentration: float = 0.6):
    """Probabilities and labels drawn from them: calibrated by construction."""
    proba = rng.dirichlet(np.full(k, concentration), size=n)
    cumulative = np.cumsum(proba, axis=1)
    labels = (rng.random((n, 1)) > cumulative).sum(axis=1).clip(max=k - 1)
    return proba, labels


def realized_macro_f1(labels: np.ndarray, predicted: np.ndarray, k: int) -> float:
    scores = []
    for c in range(k):
        tp = np.sum((labels == c) & (predicted == c))
        denominator = np.sum(labels == c) + np.sum(predicted == c)
        scores.append(2 * tp / denominator if denominator else 0.0)
    return float(np.mean(scores))


def test_the_temperature_that_distorted_calibrated_probabilities_is_found_again() -> None:
    rng = np.random.default_rng(1)
    proba, labels = calibrated_window(rng, 5000, 3)
    overconfident = temperature_scaled(proba, 0.5)
    fitted = fit_temperature(overconfident, labels)
    assert fitted.temperature == pytest.approx(2.0, rel=0.1)
    assert fitted.log_loss_after < fitted.log_loss_before
    restored = fitted.apply(overconfident)
    assert np.abs(restored - proba).max() < 0.05
    assert (restored.argmax(axis=1) == proba.argmax(axis=1)).all()  # same predicted class


def test_calibration_round_trips_as_json_and_bad_files_are_refused() -> None:
    rng = np.random.default_rng(2)
    proba, labels = calibrated_window(rng, 500, 2)
    fitted = fit_temperature(proba, labels)
    assert Calibration.from_json(fitted.to_json()) == fitted
    with pytest.raises(CalibrationError, match="temperature"):
        Calibration.from_json(
            b'{"temperature": -1, "samples": 3, "logLossBefore": 1, "logLossAfter": 1}'
        )
    with pytest.raises(CalibrationError, match="same number"):
        fit_temperature(proba, labels[:10])


def test_accuracy_estimate_covers_the_realized_accuracy_in_95_percent_of_windows() -> None:
    rng = np.random.default_rng(3)
    covered, errors = 0, []
    windows = 400
    for _ in range(windows):
        proba, labels = calibrated_window(rng, 500, 2)
        estimate = estimate_accuracy(proba)
        realized = float(np.mean(proba.argmax(axis=1) == labels))
        covered += estimate.lower <= realized <= estimate.upper
        errors.append(abs(estimate.value - realized))
    assert 0.92 <= covered / windows <= 0.98
    assert np.mean(errors) < 0.02


@pytest.mark.parametrize(("k", "n"), [(4, 600), (3, 150), (6, 1000)])
def test_macro_f1_interval_covers_the_realized_macro_f1_in_95_percent_of_windows(
    k: int, n: int
) -> None:
    rng = np.random.default_rng(4)
    covered, errors = 0, []
    windows = 400
    for _ in range(windows):
        proba, labels = calibrated_window(rng, n, k)
        estimate = estimate_macro_f1(proba)
        realized = realized_macro_f1(labels, proba.argmax(axis=1), k)
        covered += estimate.lower <= realized <= estimate.upper
        errors.append(abs(estimate.value - realized))
    assert 0.92 <= covered / windows <= 0.98
    assert np.mean(errors) < 0.03


def test_expected_confusion_puts_each_row_in_its_predicted_column() -> None:
    proba = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]])
    confusion = expected_confusion(proba)
    assert confusion[:, 0].tolist() == pytest.approx([0.7, 0.2, 0.1])
    assert confusion[:, 2].tolist() == pytest.approx([0.1, 0.1, 0.8])
    assert confusion[:, 1].tolist() == [0, 0, 0]


def test_binary_windows_estimate_accuracy_only_and_multiclass_add_macro_f1() -> None:
    rng = np.random.default_rng(5)
    binary, _ = calibrated_window(rng, 100, 2)
    multi, _ = calibrated_window(rng, 100, 3)
    assert estimate_performance(binary).macro_f1 is None
    estimate = estimate_performance(multi)
    assert estimate.samples == 100
    assert estimate.macro_f1 is not None
    assert estimate.accuracy.lower <= estimate.accuracy.value <= estimate.accuracy.upper
    with pytest.raises(ValueError, match="no predictions"):
        estimate_accuracy(np.zeros((0, 2)))
