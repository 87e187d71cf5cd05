"""The A/B test statistics against scipy, and the always-valid test's defining properties."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import chi2_contingency, chisquare, norm

from mlops_operator.abtest import fixed_horizon
from mlops_operator.abtest.sample_ratio import sample_ratio
from mlops_operator.statistics import always_valid

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("a", "n_a", "b", "n_b"), [(400, 500, 425, 500), (90, 120, 70, 130), (5, 1000, 9, 800)]
)
def test_z_test_is_the_chi_square_test_of_the_two_by_two_table(
    a: int, n_a: int, b: int, n_b: int
) -> None:
    table = [[a, n_a - a], [b, n_b - b]]
    expected = chi2_contingency(table, correction=False).pvalue
    got = fixed_horizon.z_test(successes_a=a, samples_a=n_a, successes_b=b, samples_b=n_b)
    assert got == pytest.approx(expected, rel=1e-9)


def test_z_test_of_identical_certain_arms_finds_nothing() -> None:
    assert fixed_horizon.z_test(successes_a=10, samples_a=10, successes_b=20, samples_b=20) == 1.0


def test_wald_interval_uses_the_normal_quantile() -> None:
    low, high = fixed_horizon.wald_interval(successes=80, samples=100, alpha=0.05)
    width = norm.ppf(0.975) * math.sqrt(0.8 * 0.2 / 100)
    assert (low, high) == pytest.approx((0.8 - width, 0.8 + width))


def test_sample_ratio_is_scipys_chi_square_goodness_of_fit() -> None:
    result = sample_ratio([480, 560, 960], [25, 25, 50])
    expected = chisquare([480, 560, 960], [500, 500, 1000]).pvalue
    assert result.p_value == pytest.approx(expected)
    assert not result.mismatch


def test_a_one_sided_split_is_a_mismatch() -> None:
    result = sample_ratio([600, 0], [50, 50])
    assert result.mismatch
    assert result.p_value < 1e-100


def test_samples_in_an_arm_of_weight_zero_are_a_mismatch_and_an_empty_one_is_ignored() -> None:
    assert sample_ratio([10, 10, 1], [50, 50, 0]).mismatch
    assert sample_ratio([100, 104, 0], [50, 50, 0]) == sample_ratio([100, 104], [50, 50])


def test_the_confidence_sequence_is_where_the_likelihood_ratio_stays_below_one_over_alpha() -> None:
    alpha, variance, r = 0.05, 0.0004, 7.5
    width = always_valid.half_width(variance, r, alpha=alpha)
    at_edge = always_valid.always_valid_p(width**2 / variance, r)
    assert at_edge == pytest.approx(alpha)
    inside = always_valid.always_valid_p((0.99 * width) ** 2 / variance, r)
    assert inside > alpha


def test_the_mixture_tuned_for_n_samples_gives_the_narrowest_sequence_at_n() -> None:
    alpha, tuned, variance = 0.05, 1000.0, 0.0003
    tuned_r = always_valid.mixing_rate(alpha=alpha, tuned_samples=tuned) * tuned
    other_r = tuned_r * np.geomspace(0.05, 20, 400)
    tuned_width = always_valid.half_width(variance, tuned_r, alpha=alpha)
    assert np.all(tuned_width <= always_valid.half_width(variance, other_r, alpha=alpha) * 1.002)
    # and at N* the boundary is z ≈ 3.04, far above 1.96: the price of looking at every interval
    assert tuned_width / math.sqrt(variance) == pytest.approx(3.04, abs=0.02)


def test_a_repeatedly_checked_msprt_keeps_its_level_where_the_z_test_does_not() -> None:
    rng = np.random.default_rng(7)
    tests, step, looks = 600, 50, 80
    n = np.arange(1, looks + 1, dtype=np.float64) * step
    a = np.cumsum(rng.binomial(step, 0.7, size=(tests, looks)), axis=1).astype(np.float64)
    b = np.cumsum(rng.binomial(step, 0.7, size=(tests, looks)), axis=1).astype(np.float64)
    keep = n >= 200
    nn = np.broadcast_to(n[keep], a[:, keep].shape)
    _, p, _ = always_valid.compare(
        successes_a=a[:, keep],
        samples_a=nn,
        successes_b=b[:, keep],
        samples_b=nn,
        alpha=0.05,
        tuned_samples=400.0,
    )
    msprt_false = (p <= 0.05).any(axis=1).mean()
    pooled = (a[:, keep] + b[:, keep]) / (2 * nn)
    z = (b[:, keep] - a[:, keep]) / nn / np.sqrt(pooled * (1 - pooled) * 2 / nn)
    z_false = (2 * norm.sf(np.abs(z)) <= 0.05).any(axis=1).mean()
    assert msprt_false <= 0.05
    assert z_false > 0.15


def test_proportion_interval_is_wider_than_walds_and_holds_the_estimate() -> None:
    low, high = always_valid.proportion_interval(
        successes=400, samples=500, alpha=0.05, tuned_samples=500
    )
    wald_low, wald_high = fixed_horizon.wald_interval(successes=400, samples=500, alpha=0.05)
    assert low < wald_low < 0.8 < wald_high < high
