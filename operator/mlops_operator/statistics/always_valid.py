"""An always-valid test of two proportions: the mixture sequential probability ratio test.

Johari, Koomen, Pekelis and Walsh ("Peeking at A/B Tests", KDD 2017) compare arms with the
likelihood ratio of "the difference is θ" against "it is 0", averaged over a normal mixture
θ ~ N(0, τ²). With the difference estimate θ̂ = p̂_B − p̂_A and its variance
V = p̂_A(1 − p̂_A)/n_A + p̂_B(1 − p̂_B)/n_B (the normal approximation of two binomials):

    Λ = sqrt(V / (V + τ²)) · exp(θ̂² τ² / (2 V (V + τ²)))

Under "no difference" Λ is a nonnegative martingale, so by Ville's inequality the chance that it
*ever* reaches 1/α is at most α — however often it is looked at. Hence the always-valid p-value
``p_n = min(p_{n-1}, 1/Λ_n)`` and the confidence sequence: every θ₀ whose Λ(θ₀) stays below
1/α. Written with z² = θ̂²/V and r = τ²/V the two read

    ln Λ = z² · r / (2 (1 + r)) − ½ ln(1 + r)
    half-width = sqrt(V · (1 + r)/r · (2 ln(1/α) + ln(1 + r)))

which is, term for term, the asymptotic confidence sequence of Waudby-Smith, Arbour, Sinha,
Kennedy and Ramdas ("Time-uniform central limit theory and asymptotic confidence sequences",
2021) that GrowthBook uses, with r = ρ² N (N samples in the comparison). τ is chosen the same way:
ρ² = (2 ln(1/α) + ln(1 + 2 ln(1/α))) / N*, which makes the boundary tightest at N* samples;
here N* is the comparison's samples when every arm has ``minSamples``. The variance is
estimated from the data (as in both papers), so the guarantee is asymptotic; ``minSamples``
keeps the test from looking before the normal approximation is sound. Each arm's variance is
taken at the Agresti–Caffo proportion p̃ = (x + 1)/(n + 2), not at p̂: an arm whose few samples
are all successes (or all failures) would otherwise count as certain (p̂(1 − p̂) = 0), and five
slow answers of five would be "shown worse" than a stable version slow 65% of the time. p̃ is
nearer ½ than p̂, so the variance only grows (the test only gets more cautious), and by a
vanishing amount as n grows; θ̂ itself stays p̂_B − p̂_A.

Every function works on floats and on numpy arrays alike, so the simulation benchmark runs the
same code as the operator.
"""

from __future__ import annotations

from typing import TypeVar

import numpy as np
import numpy.typing as npt

Number = TypeVar("Number", float, npt.NDArray[np.float64])

#: variance floor (kept for arms of zero samples; p̃ keeps every other arm's variance above 0)
VARIANCE_FLOOR = 1e-12


def arm_variance(successes: Number, samples: Number) -> Number:
    """Variance of one arm's proportion, p̃(1 − p̃)/n at p̃ = (x + 1)/(n + 2)."""
    adjusted = (successes + 1.0) / (samples + 2.0)
    return adjusted * (1.0 - adjusted) / samples


def mixing_rate(*, alpha: float, tuned_samples: float) -> float:
    """ρ²: the mixture variance per unit of per-sample variance, tightest at ``tuned_samples``."""
    if not 0 < alpha < 1 or tuned_samples <= 0:
        raise ValueError(f"need 0 < alpha < 1 and tuned_samples > 0, got {alpha}, {tuned_samples}")
    two_log = 2.0 * np.log(1.0 / alpha)
    return float((two_log + np.log(1.0 + two_log)) / tuned_samples)


def difference_variance(
    successes_a: Number, samples_a: Number, successes_b: Number, samples_b: Number
) -> Number:
    """V = p̃_A(1 − p̃_A)/n_A + p̃_B(1 − p̃_B)/n_B (floored above 0)."""
    variance = arm_variance(successes_a, samples_a) + arm_variance(successes_b, samples_b)
    return np.maximum(variance, VARIANCE_FLOOR)  # type: ignore[no-any-return]


def log_likelihood_ratio(z_squared: Number, r: Number) -> Number:
    """ln Λ of the normal mixture, from z² = θ̂²/V and r = τ²/V."""
    return z_squared * r / (2.0 * (1.0 + r)) - 0.5 * np.log1p(r)  # type: ignore[no-any-return]


def always_valid_p(z_squared: Number, r: Number) -> Number:
    """min(1, 1/Λ) at this look; take the running minimum over looks."""
    return np.minimum(1.0, np.exp(-log_likelihood_ratio(z_squared, r)))  # type: ignore[no-any-return]


def half_width(variance: Number, r: Number, *, alpha: float) -> Number:
    """Half-width of the (1 − α) confidence sequence around the estimate."""
    bound = 2.0 * np.log(1.0 / alpha) + np.log1p(r)
    return np.sqrt(variance * (1.0 + r) / r * bound)  # type: ignore[no-any-return]


def compare(
    *,
    successes_a: Number,
    samples_a: Number,
    successes_b: Number,
    samples_b: Number,
    alpha: float,
    tuned_samples: float,
) -> tuple[Number, Number, Number]:
    """(θ̂ = p̂_B − p̂_A, p-value at this look, half-width of the confidence sequence)."""
    variance = difference_variance(successes_a, samples_a, successes_b, samples_b)
    difference = successes_b / samples_b - successes_a / samples_a
    r = mixing_rate(alpha=alpha, tuned_samples=tuned_samples) * (samples_a + samples_b)
    p_value = always_valid_p(difference * difference / variance, r)
    return difference, p_value, half_width(variance, r, alpha=alpha)


def proportion_interval(
    *, successes: int, samples: int, alpha: float, tuned_samples: float
) -> tuple[float, float]:
    """Confidence sequence of one arm's proportion, clipped to [0, 1]."""
    p = successes / samples
    variance = max(float(arm_variance(float(successes), float(samples))), VARIANCE_FLOOR)
    r = mixing_rate(alpha=alpha, tuned_samples=tuned_samples) * samples
    width = float(half_width(variance, r, alpha=alpha))
    return max(0.0, p - width), min(1.0, p + width)
