"""Latency as a proportion: the share of requests slower than a bound read off the router's
cumulative latency histogram.

The bound is a bucket bound, so the count of slower requests is exact (no interpolation inside
a bucket). It is the lower edge of the bucket that holds the stable version's ``quantile`` (its
p99): at or below that p99, so at least 1% of the stable version's requests lie beyond it and a
slower new version moves that share clearly. When the same bucket also holds the stable
version's median, most of its requests would lie beyond that lower edge (a fast version whose
latency sits just above a bucket bound: the share can near 100%), leaving a slower version no
room to be shown worse; the bound is then the bucket's upper edge, with at most 1% beyond it.
The first bucket has no lower edge above 0, so there too its upper edge is taken.

Works on one histogram (1-d counts) or on many at once (the last axis is the buckets).
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt

Counts = npt.NDArray[np.float64]

#: the bound is never below the bucket holding this quantile of the stable version's requests
MEDIAN: Final = 0.5


def bound_index(cumulative: Counts, *, quantile: float) -> npt.NDArray[np.intp]:
    """Index of the bucket bound used as the latency bound (``cumulative``: counts per upper
    bound, +Inf last, non-decreasing)."""
    counts = np.asarray(cumulative, dtype=np.float64)
    total = counts[..., -1:]
    holds_quantile = np.argmax(counts >= quantile * total, axis=-1)
    holds_median = np.argmax(counts >= MEDIAN * total, axis=-1)
    return np.maximum(holds_quantile - 1, holds_median)  # type: ignore[no-any-return]


def slower_than(cumulative: Counts, index: npt.NDArray[np.intp]) -> Counts:
    """Requests slower than the bound at ``index``: the total minus the count up to it."""
    counts = np.asarray(cumulative, dtype=np.float64)
    at = np.take_along_axis(counts, np.expand_dims(index, -1), axis=-1)[..., 0]
    return counts[..., -1] - at
