"""Drift math against scipy on the same data, including empty bins and constant features."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from mlops_core.drift import (
    CategoricalReference,
    DriftError,
    NumericReference,
    bin_counts,
    category_counts,
    kl_divergence,
    numeric_wasserstein_inputs,
    proportions,
    psi,
    range_counts,
    score_categorical,
    score_numeric,
    total_variation,
    wasserstein_distance,
)

pytestmark = pytest.mark.unit


def _reference(train: np.ndarray, bins: int = 10) -> NumericReference:
    edges = np.quantile(train, np.linspace(0, 1, bins + 1))
    counts, _ = np.histogram(train, bins=edges)
    return NumericReference.build(edges=edges, counts=counts, std=float(train.std()))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_kl_matches_scipy_entropy(seed: int) -> None:
    rng = np.random.default_rng(seed)
    ref = rng.integers(0, 50, size=12).astype(float)
    cur = rng.integers(0, 50, size=12).astype(float)
    expected = stats.entropy(proportions(cur), proportions(ref))
    assert kl_divergence(ref, cur) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_psi_is_the_symmetric_kl_of_scipy(seed: int) -> None:
    rng = np.random.default_rng(seed)
    ref = rng.integers(1, 50, size=10).astype(float)
    cur = rng.integers(1, 50, size=10).astype(float)
    p, q = proportions(ref), proportions(cur)
    expected = stats.entropy(q, p) + stats.entropy(p, q)
    assert psi(ref, cur) == pytest.approx(expected, rel=1e-12)


def test_empty_bins_stay_finite_and_match_scipy_on_smoothed_proportions() -> None:
    ref = np.array([10.0, 0.0, 5.0, 0.0])
    cur = np.array([0.0, 7.0, 0.0, 3.0])
    # raw scipy is infinite here; the smoothed proportions are what the scores use
    assert np.isinf(stats.entropy(cur, ref))
    p, q = proportions(ref), proportions(cur)
    assert np.all(p > 0)
    assert p.sum() == pytest.approx(1.0)
    assert kl_divergence(ref, cur) == pytest.approx(stats.entropy(q, p), rel=1e-12)
    assert psi(ref, cur) == pytest.approx(stats.entropy(q, p) + stats.entropy(p, q), rel=1e-12)
    assert np.isfinite(psi(ref, cur))


def test_identical_histograms_score_zero() -> None:
    counts = np.array([3.0, 0.0, 9.0, 1.0])
    assert psi(counts, counts * 7) == pytest.approx(0.0, abs=1e-12)
    assert kl_divergence(counts, counts * 7) == pytest.approx(0.0, abs=1e-12)
    assert total_variation(counts, counts) == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_wasserstein_matches_scipy(seed: int) -> None:
    rng = np.random.default_rng(seed)
    u = rng.normal(0, 1, size=37)
    v = rng.normal(0.5, 2, size=23)
    uw = rng.integers(0, 5, size=37).astype(float)
    vw = rng.integers(0, 5, size=23).astype(float)
    uw[0] = vw[0] = 1.0
    assert wasserstein_distance(u, v) == pytest.approx(stats.wasserstein_distance(u, v))
    assert wasserstein_distance(u, v, uw, vw) == pytest.approx(
        stats.wasserstein_distance(u, v, uw, vw)
    )


def test_wasserstein_with_ties_and_single_points_matches_scipy() -> None:
    u = np.array([1.0, 1.0, 1.0, 2.0])
    v = np.array([5.0])
    assert wasserstein_distance(u, v) == pytest.approx(stats.wasserstein_distance(u, v))
    assert wasserstein_distance(v, v) == 0.0


def test_bin_counts_agree_with_numpy_histogram_in_range() -> None:
    rng = np.random.default_rng(4)
    train = rng.normal(size=500)
    edges = np.quantile(train, np.linspace(0, 1, 11))
    values = rng.normal(size=300).clip(edges[0], edges[-1])
    expected, _ = np.histogram(values, bins=edges)
    assert np.array_equal(bin_counts(values, edges), expected)


def test_bin_counts_clip_out_of_range_values_to_the_outer_bins() -> None:
    edges = np.array([0.0, 1.0, 2.0])
    assert bin_counts([-5.0, 0.5, 2.0, 9.0], edges).tolist() == [2.0, 2.0]


def test_range_counts_keep_out_of_range_values_apart() -> None:
    edges = np.array([0.0, 1.0, 2.0])
    assert range_counts([-5.0, 0.0, 0.5, 2.0, 9.0, 10.0], edges).tolist() == [1, 2, 1, 2]


def test_numeric_score_same_distribution_is_small_and_shift_is_large() -> None:
    rng = np.random.default_rng(5)
    ref = _reference(rng.normal(size=5000))
    same = rng.normal(size=1000)
    shifted = rng.normal(loc=1.5, size=1000)
    for method in ("psi", "kl", "wasserstein"):
        low = score_numeric(ref, same, method)
        high = score_numeric(ref, shifted, method)
        assert low < 0.1, method
        assert high > 5 * low, method
        assert high > 0.2, method


def test_numeric_psi_equals_scipy_on_the_same_binning() -> None:
    rng = np.random.default_rng(6)
    train = rng.exponential(size=2000)
    ref = _reference(train)
    window = rng.exponential(scale=1.3, size=400)
    cur = range_counts(window, ref.edges)
    assert cur.sum() == len(window)
    p, q = proportions(np.concatenate([[0.0], ref.counts, [0.0]])), proportions(cur)
    assert score_numeric(ref, window, "psi") == pytest.approx(
        stats.entropy(q, p) + stats.entropy(p, q)
    )
    assert score_numeric(ref, window, "kl") == pytest.approx(stats.entropy(q, p))


def test_numeric_wasserstein_equals_scipy_on_the_same_samples() -> None:
    rng = np.random.default_rng(7)
    train = rng.normal(10, 3, size=2000)
    ref = _reference(train)
    window = np.concatenate([rng.normal(11, 3, size=300), [40.0, -20.0]])  # two out of range
    u, uw, v, vw = numeric_wasserstein_inputs(ref, window)
    assert 40.0 in v
    assert -20.0 in v
    expected = stats.wasserstein_distance(u, v, uw, vw) / ref.std
    assert score_numeric(ref, window, "wasserstein") == pytest.approx(expected)


def test_constant_feature_in_training() -> None:
    train = np.full(100, 5.0)
    ref = _reference(train, bins=4)
    assert ref.std == 0.0
    for method in ("psi", "kl", "wasserstein"):
        assert score_numeric(ref, np.full(50, 5.0), method) == pytest.approx(0.0, abs=1e-9)
        assert score_numeric(ref, np.full(50, 9.0), method) > 0.1
    # scale falls back to |value| when std is 0: moving 5 → 9 is 4/5
    assert score_numeric(ref, np.full(50, 9.0), "wasserstein") == pytest.approx(0.8)
    assert score_numeric(ref, np.full(50, 9.0), "wasserstein") == pytest.approx(
        stats.wasserstein_distance([5.0], [9.0]) / 5.0
    )


def test_categorical_scores_count_unseen_categories() -> None:
    ref = CategoricalReference.build(categories=["a", "b", "c"], counts=[50, 30, 20])
    window = ["a"] * 5 + ["b"] * 3 + ["z"] * 2
    cur = category_counts(window, ref.categories)
    assert cur.tolist() == [5.0, 3.0, 0.0, 2.0]
    ref_full = np.array([50.0, 30.0, 20.0, 0.0])
    p, q = proportions(ref_full), proportions(cur)
    assert score_categorical(ref, window, "kl") == pytest.approx(stats.entropy(q, p))
    assert score_categorical(ref, window, "psi") == pytest.approx(
        stats.entropy(q, p) + stats.entropy(p, q)
    )
    assert score_categorical(ref, window, "wasserstein") == pytest.approx(0.5 * np.abs(p - q).sum())
    same = ["a"] * 50 + ["b"] * 30 + ["c"] * 20
    assert score_categorical(ref, same, "psi") == pytest.approx(0.0, abs=1e-6)


def test_bad_input_is_rejected_with_a_reason() -> None:
    with pytest.raises(DriftError, match="k \\+ 1 bin edges"):
        NumericReference.build(edges=[0, 1], counts=[1, 2], std=1.0)
    with pytest.raises(DriftError, match="non-decreasing"):
        NumericReference.build(edges=[0, 2, 1], counts=[1, 2], std=1.0)
    with pytest.raises(DriftError, match="no finite values"):
        score_numeric(_reference(np.arange(10.0)), [float("nan")], "psi")
    with pytest.raises(DriftError, match="differ in shape"):
        psi([1, 2], [1, 2, 3])
    with pytest.raises(DriftError, match="one count per category"):
        CategoricalReference.build(categories=["a"], counts=[1, 2])
