"""Tail probabilities of the normal and chi-square distributions, in closed form on floats.

The A/B tests need three numbers: the normal's upper tail at a z statistic, its inverse (the
critical value of a level), and the chi-square's upper tail at a goodness-of-fit statistic with
a whole number of degrees of freedom (arms − 1). Each has a closed form in the standard library,
so the operator does not load scipy for them (its statistics modules cost about 65 MiB of
resident memory when imported, on every operator process):

- normal: ``1 − Φ(x) = erfc(x/√2)/2``; its inverse is ``statistics.NormalDist.inv_cdf``
  (Wichura's AS 241, accurate to about 1e-16), taken on the smaller tail so a tiny level keeps
  its precision;
- chi-square with ``k`` degrees of freedom (Abramowitz & Stegun 26.4.4 and 26.4.5):
  even ``k``: ``Q = e^(−x/2) Σ_{i<k/2} (x/2)^i / i!``;
  odd ``k``: ``Q = erfc(√(x/2)) + e^(−x/2) Σ_{i=1}^{(k−1)/2} (x/2)^(i−½) / Γ(i+½)``,
  each term summed in logarithms so large ``x`` or ``k`` neither overflows nor loses the tail.

The tests check each against scipy.
"""

from __future__ import annotations

import math
from statistics import NormalDist

_STANDARD = NormalDist()


def normal_sf(x: float) -> float:
    """P(Z > x) for a standard normal Z."""
    return 0.5 * math.erfc(x / math.sqrt(2.0))


def normal_isf(q: float) -> float:
    """The x with P(Z > x) = q, for 0 < q < 1."""
    if not 0.0 < q < 1.0:
        raise ValueError(f"a tail probability is strictly between 0 and 1, not {q}")
    if q <= 0.5:
        return -_STANDARD.inv_cdf(q)
    return _STANDARD.inv_cdf(1.0 - q)


def chi_square_sf(x: float, degrees: int) -> float:
    """P(X > x) for X chi-square distributed with ``degrees`` (a whole number ≥ 1)."""
    if degrees < 1:
        raise ValueError(f"degrees of freedom are a whole number of at least 1, not {degrees}")
    if x <= 0.0:
        return 1.0
    half = x / 2.0
    log_half = math.log(half)
    if degrees % 2 == 0:
        terms = range(degrees // 2)
        total = sum(math.exp(i * log_half - half - math.lgamma(i + 1.0)) for i in terms)
    else:
        terms = range(1, (degrees - 1) // 2 + 1)
        total = math.erfc(math.sqrt(half)) + sum(
            math.exp((i - 0.5) * log_half - half - math.lgamma(i + 0.5)) for i in terms
        )
    return min(1.0, total)


def chi_square_statistic(observed: list[float], expected: list[float]) -> float:
    """Pearson's statistic Σ (observed − expected)² / expected."""
    return sum((o - e) ** 2 / e for o, e in zip(observed, expected, strict=True))
