"""Is a new version worse than the stable one by more than a tolerance? A one-sided question
asked of the always-valid confidence sequence of the difference of two proportions.

With θ = p_new − p_stable (error rate, or share of slow requests) and the (1 − α) confidence
sequence θ̂ ± w of :mod:`.always_valid` (it holds at every look at once, with probability 1 − α):

- *shown worse*: θ̂ − w > tolerance — the new version's proportion exceeds the stable one's by
  more than the tolerance, at every value the data still allow;
- *shown non-inferior*: θ̂ + w ≤ tolerance — the increase is within the tolerance at every value
  the data still allow;
- otherwise undecided.

Because the sequence covers θ at every look simultaneously, a version whose true increase is
within the tolerance is shown worse with probability at most α however often it is looked at
(the two-sided sequence makes the one-sided claim conservative). Every function works on floats
and on numpy arrays alike, so the simulation benchmark runs the same code as the operator.
"""

from __future__ import annotations

import numpy as np

from mlops_operator.statistics.always_valid import Number, compare


def increase_interval(
    *,
    events_stable: Number,
    samples_stable: Number,
    events_new: Number,
    samples_new: Number,
    alpha: float,
    tuned_samples: float,
) -> tuple[Number, Number, Number]:
    """(θ̂ = p̂_new − p̂_stable, lower, upper) of the always-valid (1 − α) interval, within
    [−1, 1] (a difference of two proportions lies there, so the clipped interval covers θ
    whenever the sequence does; a version slow on every request beside a stable one that is
    slow on 2% shows an upper end of 100 points, not 102).

    Both sides need at least one sample."""
    estimate, _, width = compare(
        successes_a=events_stable,
        samples_a=samples_stable,
        successes_b=events_new,
        samples_b=samples_new,
        alpha=alpha,
        tuned_samples=tuned_samples,
    )
    return estimate, np.maximum(estimate - width, -1.0), np.minimum(estimate + width, 1.0)


def shown_worse(lower: Number, *, tolerance: float) -> Number:
    """The whole interval lies above the tolerance."""
    return np.greater(lower, tolerance)  # type: ignore[no-any-return]


def shown_non_inferior(upper: Number, *, tolerance: float) -> Number:
    """The whole interval lies at or below the tolerance."""
    return np.less_equal(upper, tolerance)  # type: ignore[no-any-return]
