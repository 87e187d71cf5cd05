"""The classic two-proportion z-test and Wald interval, valid when evaluated exactly once.

Pooled z-test: z = (p̂_B − p̂_A) / sqrt(p̄(1 − p̄)(1/n_A + 1/n_B)) with p̄ the pooled proportion,
two-sided p = 2(1 − Φ(|z|)) — the same p-value as a chi-square test of the 2×2 table without
continuity correction. Checking it over and over as data arrive inflates its false-positive rate
far beyond its level (see ``benchmarks/ab_statistics.py``); it is offered for a single look at
``minSamples``.
"""

from __future__ import annotations

import math

from mlops_operator.statistics.distributions import normal_isf, normal_sf


def z_test(*, successes_a: int, samples_a: int, successes_b: int, samples_b: int) -> float:
    """Two-sided p-value of "the two proportions are equal"."""
    pooled = (successes_a + successes_b) / (samples_a + samples_b)
    variance = pooled * (1 - pooled) * (1 / samples_a + 1 / samples_b)
    difference = successes_b / samples_b - successes_a / samples_a
    if variance <= 0:
        return 1.0 if difference == 0 else 0.0
    z = difference / math.sqrt(variance)
    return 2.0 * normal_sf(abs(z))


def wald_interval(*, successes: int, samples: int, alpha: float) -> tuple[float, float]:
    """p̂ ± z_{1−α/2} · sqrt(p̂(1 − p̂)/n), clipped to [0, 1]."""
    p = successes / samples
    width = normal_isf(alpha / 2) * math.sqrt(p * (1 - p) / samples)
    return max(0.0, p - width), min(1.0, p + width)
