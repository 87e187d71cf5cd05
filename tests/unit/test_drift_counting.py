"""Counting into bins without sorting, and sorting large arrays as float32 where that is safe."""

from __future__ import annotations

import numpy as np
import pytest

from mlops_core.drift import (
    FLOAT32_SORT_MIN,
    FLOAT32_SORT_TOLERANCE,
    MAX_COUNTED_EDGES,
    bin_counts,
    range_counts,
    sorted_bin_counts,
    sorted_copy,
    sorted_finite,
)

pytestmark = pytest.mark.unit


def _by_sorting(values: np.ndarray, edges: np.ndarray) -> list[float]:
    """The counts as a sort and binary searches give them (``sorted_range_counts`` before)."""
    ordered = np.sort(values)
    first = int(np.searchsorted(ordered, edges[0], side="left"))
    last = int(np.searchsorted(ordered, edges[-1], side="right"))
    inside = sorted_bin_counts(ordered[first:last], edges)
    return [float(first), *inside.tolist(), float(len(ordered) - last)]


@pytest.mark.parametrize("edge_count", [2, 11, MAX_COUNTED_EDGES, MAX_COUNTED_EDGES + 1, 300])
def test_range_counts_equal_the_counts_of_a_sort_on_either_path(edge_count: int) -> None:
    rng = np.random.default_rng(edge_count)
    train = rng.integers(0, 40, 5000).astype(float)  # ties on the edges themselves
    edges = np.quantile(train, np.linspace(0, 1, edge_count))
    window = np.concatenate([rng.integers(-5, 50, 3000).astype(float), [np.nan, edges[-1]]])
    assert range_counts(window, edges).tolist() == _by_sorting(window, edges)
    assert bin_counts(window, edges).sum() == len(window)


def test_repeated_edges_leave_their_bin_empty_and_a_constant_feature_counts_its_value() -> None:
    edges = np.array([0.0, 1.0, 1.0, 2.0])
    assert range_counts([-1.0, 0.5, 1.0, 1.0, 2.0, 3.0], edges).tolist() == [1, 1, 0, 3, 1]
    assert range_counts([4.0, 5.0, 5.0, 6.0], [5.0, 5.0]).tolist() == [1, 2, 1]


@pytest.mark.parametrize("seed", range(6))
def test_a_large_array_sorts_within_the_tolerance_with_exact_ends(seed: int) -> None:
    rng = np.random.default_rng(seed)
    values = rng.normal(1000.0, 3.0, FLOAT32_SORT_MIN + 7)
    exact = np.sort(values)
    fast = sorted_copy(values, float(values.std()))
    assert not np.array_equal(fast, exact)  # the float32 path ran
    assert np.all(np.diff(fast) >= 0)
    assert (fast[0], fast[-1]) == (exact[0], exact[-1])
    assert np.max(np.abs(fast - exact)) <= FLOAT32_SORT_TOLERANCE * values.std()
    assert np.array_equal(sorted_finite(values), fast)


def test_a_range_too_wide_for_float32_or_a_small_array_sorts_exactly() -> None:
    rng = np.random.default_rng(2)
    heavy = np.concatenate([rng.normal(100.0, 1.0, FLOAT32_SORT_MIN), [1e9]])  # range ≫ std
    assert np.array_equal(sorted_copy(heavy, float(heavy.std())), np.sort(heavy))
    small = rng.normal(size=FLOAT32_SORT_MIN - 1)
    assert np.array_equal(sorted_copy(small, 1.0), np.sort(small))
    integers = rng.integers(0, 1000, FLOAT32_SORT_MIN).astype(float)  # exact in float32
    assert np.array_equal(sorted_copy(integers, float(integers.std())), np.sort(integers))


def test_sorting_leaves_the_input_as_it_is() -> None:
    values = np.random.default_rng(3).normal(size=FLOAT32_SORT_MIN)
    before = values.copy()
    sorted_copy(values, 1.0)
    sorted_finite(values)
    assert np.array_equal(values, before)
