"""Drift scores: how far a window of recent inputs is from the training distribution.

The reference side of every score is what the trainer stores in ``reference_stats.json``:
for a numeric feature, quantile bin edges and the training counts per bin (plus mean and std);
for a categorical feature, the categories and their counts. The current side is a window of
raw values seen by a model server. Three methods:

- ``psi``: population stability index over the reference bins (plus one bin below and one
  above the training range, empty in training),
  ``Σ (p_cur - p_ref) · ln(p_cur / p_ref)`` (equal to the symmetric KL divergence).
- ``kl``: ``KL(current ‖ reference) = Σ p_cur · ln(p_cur / p_ref)`` over the same bins.
- ``wasserstein``: the 1-Wasserstein (earth mover's) distance between the two distributions,
  divided by the reference standard deviation so that one threshold fits every feature.
  In-range values are placed at the midpoint of their reference bin (so an unchanged
  distribution scores about 0); values outside the training range count at their real value.
  For a categorical feature it is the total variation distance, which is the 1-Wasserstein
  distance under the discrete metric.

Empty bins are smoothed: proportions below ``EPSILON`` are raised to it and renormalised, so
scores stay finite when a bin is empty on one side. A feature that was constant in training
(``min == max``) still has well defined scores: every in-range value lands in one bin.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

DriftMethod = Literal["psi", "kl", "wasserstein"]
DRIFT_METHODS: tuple[DriftMethod, ...] = ("psi", "kl", "wasserstein")
EPSILON = 1e-4

FloatArray = npt.NDArray[np.float64]


class DriftError(ValueError):
    """Reference statistics or a window that cannot be scored; the message says why."""


@dataclass(frozen=True)
class NumericReference:
    """A numeric feature's training distribution: ``len(edges) == len(counts) + 1``."""

    edges: FloatArray
    counts: FloatArray
    std: float

    @classmethod
    def build(
        cls, *, edges: Sequence[float], counts: Sequence[float], std: float
    ) -> NumericReference:
        e = np.asarray(edges, dtype=np.float64)
        c = np.asarray(counts, dtype=np.float64)
        if e.ndim != 1 or c.ndim != 1 or len(c) < 1 or len(e) != len(c) + 1:
            raise DriftError(
                f"a numeric reference needs k >= 1 counts and k + 1 bin edges, "
                f"got {len(c)} counts and {len(e)} edges"
            )
        if np.any(np.diff(e) < 0) or not np.all(np.isfinite(e)):
            raise DriftError("bin edges must be finite and non-decreasing")
        if np.any(c < 0) or c.sum() <= 0:
            raise DriftError("bin counts must be non-negative with a positive total")
        if not np.isfinite(std) or std < 0:
            raise DriftError(f"std must be a finite non-negative number, got {std}")
        return cls(edges=e, counts=c, std=float(std))


@dataclass(frozen=True)
class CategoricalReference:
    """A categorical feature's training counts per category."""

    categories: tuple[str, ...]
    counts: FloatArray

    @classmethod
    def build(cls, *, categories: Sequence[str], counts: Sequence[float]) -> CategoricalReference:
        c = np.asarray(counts, dtype=np.float64)
        if len(categories) == 0 or len(categories) != len(c):
            raise DriftError(
                f"a categorical reference needs one count per category, "
                f"got {len(categories)} categories and {len(c)} counts"
            )
        if np.any(c < 0) or c.sum() <= 0:
            raise DriftError("category counts must be non-negative with a positive total")
        return cls(categories=tuple(categories), counts=c)


FeatureReference = NumericReference | CategoricalReference


def proportions(counts: npt.ArrayLike, *, epsilon: float = EPSILON) -> FloatArray:
    """Counts → probabilities, with every probability at least ``epsilon`` (renormalised)."""
    c = np.asarray(counts, dtype=np.float64)
    total = c.sum()
    if total <= 0:
        raise DriftError("cannot turn an empty histogram into proportions")
    p = np.maximum(c / total, epsilon)
    return np.asarray(p / p.sum(), dtype=np.float64)


def psi(reference: npt.ArrayLike, current: npt.ArrayLike, *, epsilon: float = EPSILON) -> float:
    """Population stability index of two histograms over the same bins."""
    p_ref, p_cur = _pair(reference, current, epsilon)
    return float(np.sum((p_cur - p_ref) * np.log(p_cur / p_ref)))


def kl_divergence(
    reference: npt.ArrayLike, current: npt.ArrayLike, *, epsilon: float = EPSILON
) -> float:
    """``KL(current ‖ reference)`` in nats over the same bins."""
    p_ref, p_cur = _pair(reference, current, epsilon)
    return float(np.sum(p_cur * np.log(p_cur / p_ref)))


def total_variation(
    reference: npt.ArrayLike, current: npt.ArrayLike, *, epsilon: float = EPSILON
) -> float:
    """Half the L1 distance between the two smoothed distributions, in [0, 1]."""
    p_ref, p_cur = _pair(reference, current, epsilon)
    return float(0.5 * np.sum(np.abs(p_cur - p_ref)))


def _pair(
    reference: npt.ArrayLike, current: npt.ArrayLike, epsilon: float
) -> tuple[FloatArray, FloatArray]:
    ref = np.asarray(reference, dtype=np.float64)
    cur = np.asarray(current, dtype=np.float64)
    if ref.shape != cur.shape or ref.ndim != 1:
        raise DriftError(f"histograms differ in shape: {ref.shape} and {cur.shape}")
    return proportions(ref, epsilon=epsilon), proportions(cur, epsilon=epsilon)


def wasserstein_distance(
    u_values: npt.ArrayLike,
    v_values: npt.ArrayLike,
    u_weights: npt.ArrayLike | None = None,
    v_weights: npt.ArrayLike | None = None,
) -> float:
    """1-Wasserstein distance of two weighted 1-D samples: ``∫ |F_u(x) - F_v(x)| dx``."""
    u = np.asarray(u_values, dtype=np.float64)
    v = np.asarray(v_values, dtype=np.float64)
    uw = np.ones_like(u) if u_weights is None else np.asarray(u_weights, dtype=np.float64)
    vw = np.ones_like(v) if v_weights is None else np.asarray(v_weights, dtype=np.float64)
    if len(u) == 0 or len(v) == 0 or uw.sum() <= 0 or vw.sum() <= 0:
        raise DriftError("both samples need at least one value with positive weight")
    if uw.shape != u.shape or vw.shape != v.shape or np.any(uw < 0) or np.any(vw < 0):
        raise DriftError("weights must be non-negative, one per value")
    u_order, v_order = np.argsort(u, kind="stable"), np.argsort(v, kind="stable")
    support = np.sort(np.concatenate([u, v]))
    deltas = np.diff(support)
    u_cum = np.concatenate([[0.0], np.cumsum(uw[u_order])])
    v_cum = np.concatenate([[0.0], np.cumsum(vw[v_order])])
    u_cdf = u_cum[np.searchsorted(u[u_order], support[:-1], "right")] / u_cum[-1]
    v_cdf = v_cum[np.searchsorted(v[v_order], support[:-1], "right")] / v_cum[-1]
    return float(np.sum(np.abs(u_cdf - v_cdf) * deltas))


def bin_counts(values: npt.ArrayLike, edges: npt.ArrayLike) -> FloatArray:
    """Counts of ``values`` in the bins of ``edges``, as ``numpy.histogram`` counts them.

    Bins are ``[e_i, e_{i+1})`` with the last one closed; values below the first edge go to
    the first bin and values above the last edge to the last bin.
    """
    x = np.asarray(values, dtype=np.float64)
    e = np.asarray(edges, dtype=np.float64)
    k = len(e) - 1
    index = np.searchsorted(e, x, side="right") - 1
    index = np.where(x == e[-1], k - 1, index)
    index = np.clip(index, 0, k - 1)
    return np.bincount(index, minlength=k).astype(np.float64)


def range_counts(values: npt.ArrayLike, edges: npt.ArrayLike) -> FloatArray:
    """``[below the first edge, *in-range bin counts, above the last edge]`` (k + 2 slots)."""
    x = np.asarray(values, dtype=np.float64)
    e = np.asarray(edges, dtype=np.float64)
    inside = (x >= e[0]) & (x <= e[-1])
    below = float(np.sum(x < e[0]))
    above = float(np.sum(x > e[-1]))
    return np.concatenate([[below], bin_counts(x[inside], e), [above]])


def category_counts(values: Sequence[str], categories: Sequence[str]) -> FloatArray:
    """Counts per category, plus one last slot for values not seen in training."""
    slot = {name: i for i, name in enumerate(categories)}
    counts = np.zeros(len(categories) + 1, dtype=np.float64)
    for value in values:
        counts[slot.get(value, len(categories))] += 1
    return counts


def numeric_wasserstein_inputs(
    reference: NumericReference, values: npt.ArrayLike
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """The two weighted samples the numeric Wasserstein score compares.

    Reference: bin midpoints weighted by training counts. Current: in-range values quantised to
    their bin's midpoint, out-of-range values as they are.
    """
    x = np.asarray(values, dtype=np.float64)
    e = reference.edges
    mids = (e[:-1] + e[1:]) / 2.0
    inside = (x >= e[0]) & (x <= e[-1])
    outside = x[~inside]
    cur_values = np.concatenate([mids, outside])
    cur_weights = np.concatenate([bin_counts(x[inside], e), np.ones(len(outside))])
    return mids, reference.counts, cur_values, cur_weights


def wasserstein_scale(reference: NumericReference) -> float:
    """What the numeric Wasserstein distance is divided by: the reference std, or, for a
    feature that was constant in training, the magnitude of its value (at least 1)."""
    if reference.std > 0:
        return reference.std
    return max(abs(float(reference.edges[0])), 1.0)


def score_numeric(reference: NumericReference, values: npt.ArrayLike, method: DriftMethod) -> float:
    """Drift of a window of numeric values against a numeric reference."""
    x = np.asarray(values, dtype=np.float64)
    x = x[np.isfinite(x)]
    if len(x) == 0:
        raise DriftError("the window holds no finite values")
    if method == "wasserstein":
        u, uw, v, vw = numeric_wasserstein_inputs(reference, x)
        return wasserstein_distance(u, v, uw, vw) / wasserstein_scale(reference)
    current = range_counts(x, reference.edges)
    return _histogram_score(np.concatenate([[0.0], reference.counts, [0.0]]), current, method)


def score_categorical(
    reference: CategoricalReference, values: Sequence[str], method: DriftMethod
) -> float:
    """Drift of a window of category values; unseen categories share one extra bin."""
    if len(values) == 0:
        raise DriftError("the window holds no values")
    current = category_counts(values, reference.categories)
    ref = np.concatenate([reference.counts, [0.0]])
    if method == "wasserstein":
        return total_variation(ref, current)
    return _histogram_score(ref, current, method)


def _histogram_score(reference: FloatArray, current: FloatArray, method: DriftMethod) -> float:
    if method == "psi":
        return psi(reference, current)
    if method == "kl":
        return kl_divergence(reference, current)
    raise DriftError(f"unknown drift method {method!r}: use one of {', '.join(DRIFT_METHODS)}")
