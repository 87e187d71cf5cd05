"""Sample ratio mismatch: does the observed split of samples match the configured weights?

A chi-square goodness-of-fit test of the samples per arm against the weights. A split that is
off (a router bug, a sticky header with one value, an arm whose pods fail) biases every
comparison, so the test stops instead of naming a winner. The level is strict (0.001, as is
common practice) because the check runs at every look.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from mlops_operator.statistics.distributions import chi_square_sf, chi_square_statistic

SAMPLE_RATIO_LEVEL: Final = 0.001


@dataclass(frozen=True)
class SampleRatio:
    """The chi-square p-value and whether it signals a mismatch."""

    p_value: float
    mismatch: bool


def sample_ratio(
    samples: Sequence[int], weights: Sequence[int], *, level: float = SAMPLE_RATIO_LEVEL
) -> SampleRatio:
    """Chi-square test of ``samples`` against ``weights`` (percent, or any positive scale).

    An arm with weight 0 that received samples is a mismatch outright; arms with weight 0 and no
    samples are left out.
    """
    if len(samples) != len(weights) or not samples:
        raise ValueError("need one weight per arm")
    if any(w == 0 and n > 0 for n, w in zip(samples, weights, strict=True)):
        return SampleRatio(p_value=0.0, mismatch=True)
    kept = [(n, w) for n, w in zip(samples, weights, strict=True) if w > 0]
    total = sum(n for n, _ in kept)
    if len(kept) < 2 or total == 0:
        return SampleRatio(p_value=1.0, mismatch=False)
    weight_sum = sum(w for _, w in kept)
    expected = [total * w / weight_sum for _, w in kept]
    statistic = chi_square_statistic([float(n) for n, _ in kept], expected)
    p_value = chi_square_sf(statistic, len(kept) - 1)
    return SampleRatio(p_value=p_value, mismatch=p_value < level)
