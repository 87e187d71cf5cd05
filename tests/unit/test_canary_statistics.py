"""The sequential canary's statistics against seeded simulation: an increase within the tolerance
is shown worse at most α of the time however often it is looked at, a real one is found, and the
latency bound is read off the router's histogram exactly."""

from __future__ import annotations

import numpy as np
import pytest

from mlops_operator.statistics import non_inferiority, slow_share

pytestmark = pytest.mark.unit

ALPHA = 0.05
LOOKS = np.arange(100, 5001, 100, dtype=np.float64)  # samples per version at every look


def ever_worse(
    rng: np.random.Generator, *, stable: float, new: float, tolerance: float, tests: int = 2000
) -> np.ndarray:
    """Per simulated comparison: was the new version ever shown worse over the looks?"""
    step = int(LOOKS[0])
    events_stable = np.cumsum(rng.binomial(step, stable, size=(tests, LOOKS.size)), axis=1)
    events_new = np.cumsum(rng.binomial(step, new, size=(tests, LOOKS.size)), axis=1)
    n = np.broadcast_to(LOOKS, events_new.shape)
    _, lower, _ = non_inferiority.increase_interval(
        events_stable=events_stable.astype(np.float64),
        samples_stable=n,
        events_new=events_new.astype(np.float64),
        samples_new=n,
        alpha=ALPHA,
        tuned_samples=1000.0,
    )
    return non_inferiority.shown_worse(lower, tolerance=tolerance).any(axis=1)  # type: ignore[no-any-return]


@pytest.mark.parametrize(("new", "tolerance"), [(0.01, 0.0), (0.03, 0.02), (0.10, 0.0)])
def test_an_increase_within_the_tolerance_is_shown_worse_at_most_alpha_under_peeking(
    new: float, tolerance: float
) -> None:
    stable = new - tolerance
    rate = ever_worse(np.random.default_rng(7), stable=stable, new=new, tolerance=tolerance).mean()
    assert rate <= ALPHA


def test_a_real_increase_is_shown_worse_and_never_non_inferior() -> None:
    rng = np.random.default_rng(8)
    assert ever_worse(rng, stable=0.01, new=0.03, tolerance=0.0).mean() >= 0.95
    assert ever_worse(rng, stable=0.01, new=0.03, tolerance=0.005).mean() >= 0.90


def test_non_inferiority_needs_the_whole_interval_within_the_tolerance() -> None:
    estimate, lower, upper = non_inferiority.increase_interval(
        events_stable=100.0,
        samples_stable=10_000.0,
        events_new=100.0,
        samples_new=10_000.0,
        alpha=ALPHA,
        tuned_samples=1000.0,
    )
    assert estimate == 0.0
    assert lower < 0 < upper
    assert bool(non_inferiority.shown_non_inferior(upper, tolerance=0.01))
    assert not bool(non_inferiority.shown_non_inferior(upper, tolerance=0.0))
    assert not bool(non_inferiority.shown_worse(lower, tolerance=0.0))


def test_the_interval_stays_within_what_a_difference_of_proportions_can_be() -> None:
    """A new version slow on every request against a stable one slow on 2%: the sequence's
    half-width reaches past 100 points at a hundred requests; the interval stops there."""
    estimate, lower, upper = non_inferiority.increase_interval(
        events_stable=2.0,
        samples_stable=100.0,
        events_new=100.0,
        samples_new=100.0,
        alpha=ALPHA,
        tuned_samples=400.0,
    )
    assert estimate == pytest.approx(0.98)
    assert 0.02 < lower < estimate < upper == 1.0
    assert bool(non_inferiority.shown_worse(lower, tolerance=0.02))
    arrays = non_inferiority.increase_interval(
        events_stable=np.array([2.0, 100.0]),
        samples_stable=np.array([100.0, 100.0]),
        events_new=np.array([100.0, 2.0]),
        samples_new=np.array([100.0, 100.0]),
        alpha=ALPHA,
        tuned_samples=400.0,
    )
    assert arrays[2][0] == 1.0
    assert arrays[1][1] == -1.0


def test_the_latency_bound_is_the_bucket_edge_below_the_stable_p99() -> None:
    # bounds 10 ms, 25 ms, 50 ms, 100 ms, +Inf; 1000 requests, 980 by 25 ms, 995 by 50 ms
    stable = np.array([500.0, 980.0, 995.0, 1000.0, 1000.0])
    index = slow_share.bound_index(stable, quantile=0.99)
    assert int(index) == 1  # p99 (rank 990) lies in the 25–50 ms bucket: its lower edge, 25 ms
    assert float(slow_share.slower_than(stable, index)) == 20.0
    slower = np.array([100.0, 700.0, 900.0, 1000.0, 1000.0])
    assert float(slow_share.slower_than(slower, index)) == 300.0


def test_a_p99_sharing_the_medians_bucket_takes_its_upper_edge_leaving_room_to_be_worse() -> None:
    # bounds 1 ms, 2.5 ms, 5 ms, +Inf: a fast stable version answering in 1–2.5 ms, 91.5% of it
    # beyond 1 ms, so a lower-edge bound would leave a slower version 8.5 points to move
    stable = np.array([20.0, 235.0, 236.0, 236.0])
    index = slow_share.bound_index(stable, quantile=0.99)
    assert int(index) == 1  # 2.5 ms: the upper edge of the bucket holding the p99 and the median
    assert float(slow_share.slower_than(stable, index)) == 1.0
    slower = np.array([0.0, 0.0, 10.0, 243.0])
    assert float(slow_share.slower_than(slower, index)) == 243.0


def test_a_p99_in_the_first_bucket_takes_its_upper_edge_and_many_histograms_work_at_once() -> None:
    histograms = np.array([[1000.0, 1000.0, 1000.0], [600.0, 990.0, 1000.0], [10.0, 990.0, 1000.0]])
    index = slow_share.bound_index(histograms, quantile=0.99)
    assert index.tolist() == [0, 0, 1]
    assert slow_share.slower_than(histograms, index).tolist() == [0.0, 400.0, 10.0]
