"""Latency as a proportion: the share of requests slower than a bound read off the router's
cumulative latency histogram.

The bound is the lower edge of the histogram bucket that holds the stable version's
``quantile`` (its p99): a bucket bound, so the count of slower requests is exact (no
interpolation inside a bucket), and at or below the stable version's p99, so the stable version
has at least 1% of its requests beyond it and a slower new version moves that share clearly.
When the quantile falls in the first bucket its upper edge is taken (no lower edge above 0).

Works on one histogram (1-d counts) or on many at once (the last axis is the buckets).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

Counts = npt.NDArray[np.float64]


def bound_index(cumulative: Counts, *, quantile: float) -> npt.NDArray[np.intp]:
    """Index of the bucket bound used as the latency bound (``cumulative``: counts per upper
    bound, +Inf last, non-decreasing)."""
    counts = np.asarray(cumulative, dtype=np.float64)
    total = counts[..., -1:]
    holds = np.argmax(counts >= quantile * total, axis=-1)
    return np.maximum(holds - 1, 0)  # type: ignore[no-any-return]


def slower_than(cumulative: Counts, index: npt.NDArray[np.intp]) -> Counts:
    """Requests slower than the bound at ``index``: the total minus the count up to it."""
    counts = np.asarray(cumulative, dtype=np.float64)
    at = np.take_along_axis(counts, np.expand_dims(index, -1), axis=-1)[..., 0]
    return counts[..., -1] - at
