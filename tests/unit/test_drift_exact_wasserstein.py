"""The exact Wasserstein score from the reference's quantile sketch, and old statistics files."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import stats

from mlops_core.drift import (
    NumericReference,
    quantile_sketch,
    quantile_sketch_wasserstein,
    range_counts,
    score_numeric,
    sorted_quantiles,
)
from mlops_core.reference_stats import (
    FORMAT_VERSION,
    QUANTILE_SKETCH_SIZE,
    ReferenceStats,
    numeric_stats,
)

pytestmark = pytest.mark.unit


def _reference(train: np.ndarray) -> NumericReference:
    s = numeric_stats("x", train)
    return NumericReference.build(
        edges=s.bin_edges,
        counts=s.counts,
        std=s.std,
        probabilities=s.quantile_probabilities,
        quantiles=s.quantiles,
    )


def test_sorted_quantiles_are_numpys_linear_quantiles() -> None:
    values = np.random.default_rng(0).exponential(size=1001)
    probabilities = np.linspace(0, 1, 37)
    assert sorted_quantiles(np.sort(values), probabilities) == pytest.approx(
        np.quantile(values, probabilities)
    )


def test_the_sketch_scores_within_two_percent_of_scipy_on_the_raw_samples() -> None:
    rng = np.random.default_rng(2026)
    train = rng.normal(0.0, 1.0, 200_000)
    window = rng.normal(0.1, 1.1, 200_000)
    exact = stats.wasserstein_distance(train, window) / train.std()
    score = score_numeric(_reference(train), window, "wasserstein")
    assert exact == pytest.approx(0.117, abs=0.003)
    assert score == pytest.approx(exact, rel=0.02)


def test_the_sketch_keeps_its_size_and_the_exact_ends() -> None:
    values = np.sort(np.random.default_rng(8).exponential(size=5000))
    p, q = quantile_sketch(values, 64)
    assert len(p) == len(q) == 65
    assert (p[0], p[-1], q[0], q[-1]) == (0.0, 1.0, values[0], values[-1])
    assert q == pytest.approx(np.quantile(values, p))
    few = np.array([1.0, 2.0, 2.0, 3.0])  # pieces narrower than one value are not split
    assert len(quantile_sketch(few, 64)[0]) == 33  # the even start only


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_sketch_score_is_close_to_scipy_on_skewed_and_discrete_data(seed: int) -> None:
    rng = np.random.default_rng(seed)
    for train, window in [
        (rng.exponential(1.0, 50_000), rng.exponential(1.3, 5_000)),
        (rng.integers(0, 5, 50_000).astype(float), rng.integers(0, 7, 5_000).astype(float)),
        (rng.lognormal(0, 1, 50_000), rng.lognormal(0.2, 1, 2_000)),
    ]:
        exact = stats.wasserstein_distance(train, window) / train.std()
        assert score_numeric(_reference(train), window, "wasserstein") == pytest.approx(
            exact, rel=0.02, abs=2e-3
        )


def test_the_piecewise_integral_is_exact_for_the_sketch() -> None:
    """Against a brute-force midpoint rule on a fine grid of probabilities."""
    rng = np.random.default_rng(3)
    quantiles = np.sort(rng.normal(size=9))
    window = np.sort(rng.normal(0.3, 1.2, size=13))
    u = (np.arange(2_000_000) + 0.5) / 2_000_000
    q_ref = np.interp(u, np.linspace(0, 1, len(quantiles)), quantiles)
    q_cur = window[np.minimum((u * len(window)).astype(int), len(window) - 1)]
    brute = float(np.mean(np.abs(q_ref - q_cur)))
    knots = np.linspace(0, 1, len(quantiles))
    assert quantile_sketch_wasserstein(knots, quantiles, window) == pytest.approx(brute, rel=1e-5)


def test_an_unchanged_distribution_scores_near_zero_and_a_constant_one_exactly() -> None:
    rng = np.random.default_rng(4)
    ref = _reference(rng.normal(5, 2, 20_000))
    assert score_numeric(ref, rng.normal(5, 2, 5000), "wasserstein") < 0.05
    constant = _reference(np.full(100, 5.0))
    assert score_numeric(constant, np.full(10, 5.0), "wasserstein") == 0.0
    assert score_numeric(constant, np.full(10, 9.0), "wasserstein") == pytest.approx(0.8)


def test_psi_and_kl_stay_on_the_bins_and_match_scipy() -> None:
    rng = np.random.default_rng(5)
    train, window = rng.normal(size=20_000), rng.normal(0.4, 1, size=3000)
    ref = _reference(train)
    p = np.concatenate([[0.0], ref.counts, [0.0]])
    q = range_counts(window, ref.edges)
    p, q = (np.maximum(a / a.sum(), 1e-4) for a in (p, q))
    p, q = p / p.sum(), q / q.sum()
    assert score_numeric(ref, window, "kl") == pytest.approx(stats.entropy(q, p))
    assert score_numeric(ref, window, "psi") == pytest.approx(
        stats.entropy(q, p) + stats.entropy(p, q)
    )


def test_statistics_of_format_one_still_load_and_score_on_the_bins() -> None:
    old = {
        "features": [
            {
                "name": "x",
                "kind": "numeric",
                "binEdges": [0.0, 1.0, 2.0, 3.0],
                "counts": [10, 10, 10],
                "mean": 1.5,
                "std": 0.87,
                "min": 0.0,
                "max": 3.0,
                "count": 30,
            }
        ]
    }
    stats_v1 = ReferenceStats.from_json(json.dumps(old))
    assert stats_v1.format_version == 1
    feature = stats_v1.numeric()[0]
    assert feature.quantiles is None
    assert feature.quantile_probabilities is None
    ref = NumericReference.build(edges=feature.bin_edges, counts=feature.counts, std=feature.std)
    assert score_numeric(ref, [0.5, 1.5, 2.5], "wasserstein") == pytest.approx(0.0, abs=1e-9)


def test_new_statistics_carry_the_sketch_and_a_newer_format_is_refused_with_a_reason() -> None:
    feature = numeric_stats("x", np.random.default_rng(6).lognormal(size=10_000))
    assert feature.quantiles is not None
    assert feature.quantile_probabilities is not None
    assert len(feature.quantiles) == QUANTILE_SKETCH_SIZE + 1
    assert (feature.quantiles[0], feature.quantiles[-1]) == (feature.min, feature.max)
    assert (feature.quantile_probabilities[0], feature.quantile_probabilities[-1]) == (0.0, 1.0)
    # the knots gather in the long right tail
    assert sum(p > 0.9 for p in feature.quantile_probabilities) > 0.2 * QUANTILE_SKETCH_SIZE
    newer = {"formatVersion": FORMAT_VERSION + 1, "features": []}
    with pytest.raises(ValueError, match="newer than this code reads"):
        ReferenceStats.from_json(json.dumps(newer))
