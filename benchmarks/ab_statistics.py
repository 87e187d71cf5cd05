"""Does the A/B verdict stay honest when it is looked at every interval?

Simulates, seeded and vectorised with numpy, A/B tests of a proportion (accuracy) between two
arms split 50/50, looked at every ``STEP`` samples per arm from ``minSamples`` up to
``maxSamples``, exactly as the operator looks at ``status.abTest`` on every interval:

- A/A tests (both arms 0.80): the false-winner rate of the operator's always-valid test
  (``mlops_operator.statistics.always_valid``, the same code the operator runs), beside the same
  rate for a plain two-proportion z-test checked at every look (the baseline) and for that z-test
  looked at once at ``minSamples`` (its intended use).
- A/B tests (0.80 against 0.85): power (share of tests that name the better arm before the
  horizon) and the median samples per arm to the decision.
- Sample ratio: how often the chi-square check (p < 0.001, at every look) stops a test whose
  split is right (50/50), and how soon it stops one whose split is off (52/48).

Run: ``.venv/bin/python benchmarks/ab_statistics.py``. The last line is the JSON summary.
"""

from __future__ import annotations

import json
import math
import time
from typing import Any

import numpy as np
from scipy.special import chdtrc
from scipy.stats import norm

from mlops_operator.abtest.sample_ratio import SAMPLE_RATIO_LEVEL
from mlops_operator.statistics import always_valid

SEED = 20261201
ALPHA = 0.05
MIN_SAMPLES = 500
MAX_SAMPLES = 20_000
STEP = 100  # samples per arm between two looks
NULL_TESTS = 4000
POWER_TESTS = 2000
BASE, EFFECT = 0.80, 0.85
FALSE_WINNER_TARGET = 0.05


def simulate(rng: np.random.Generator, p_a: float, p_b: float, tests: int) -> dict[str, np.ndarray]:
    """Cumulative successes per arm at every look: arrays of shape (tests, looks)."""
    looks = np.arange(STEP, MAX_SAMPLES + 1, STEP, dtype=np.float64)
    steps = len(looks)
    successes_a = np.cumsum(rng.binomial(STEP, p_a, size=(tests, steps)), axis=1)
    successes_b = np.cumsum(rng.binomial(STEP, p_b, size=(tests, steps)), axis=1)
    keep = looks >= MIN_SAMPLES
    return {
        "n": looks[keep],
        "a": successes_a[:, keep].astype(np.float64),
        "b": successes_b[:, keep].astype(np.float64),
    }


def msprt_p(data: dict[str, np.ndarray]) -> np.ndarray:
    n = np.broadcast_to(data["n"], data["a"].shape)
    _, p_value, _ = always_valid.compare(
        successes_a=data["a"],
        samples_a=n,
        successes_b=data["b"],
        samples_b=n,
        alpha=ALPHA,
        tuned_samples=2.0 * MIN_SAMPLES,
    )
    return np.minimum.accumulate(p_value, axis=1)


def z_test_p(data: dict[str, np.ndarray]) -> np.ndarray:
    n = data["n"]
    pooled = (data["a"] + data["b"]) / (2 * n)
    variance = np.maximum(pooled * (1 - pooled) * (2 / n), 1e-12)
    z = (data["b"] - data["a"]) / n / np.sqrt(variance)
    return 2.0 * norm.sf(np.abs(z))


def first_look(reject: np.ndarray) -> np.ndarray:
    """Index of the first look that rejects, or -1."""
    hit = reject.any(axis=1)
    return np.where(hit, reject.argmax(axis=1), -1)


def chi2sf(x: np.ndarray) -> np.ndarray:
    """Survival function of the chi-square distribution with 1 degree of freedom."""
    return np.asarray(chdtrc(1, x))


def srm_stops(rng: np.random.Generator, share: float, tests: int) -> tuple[float, float]:
    """Share of tests stopped by the sample ratio check, and the median total samples then."""
    looks = np.arange(2 * STEP, 2 * MAX_SAMPLES + 1, 2 * STEP)
    first = np.cumsum(rng.binomial(2 * STEP, share, size=(tests, len(looks))), axis=1)
    keep = looks >= MIN_SAMPLES
    n, a = looks[keep], first[:, keep]
    chi2 = (a - n / 2) ** 2 / (n / 2) * 2  # two arms, expected n/2 each
    stop = chi2sf(chi2) < SAMPLE_RATIO_LEVEL
    hit = stop.any(axis=1)
    when = n[stop.argmax(axis=1)][hit]
    return float(hit.mean()), float(np.median(when)) if hit.any() else float("nan")


def main() -> None:
    started = time.perf_counter()
    rng = np.random.default_rng(SEED)
    null = simulate(rng, BASE, BASE, NULL_TESTS)
    msprt_false = float((msprt_p(null) <= ALPHA).any(axis=1).mean())
    z_every = z_test_p(null) <= ALPHA
    z_peeking_false = float(z_every.any(axis=1).mean())
    z_once_false = float(z_every[:, 0].mean())

    alt = simulate(rng, BASE, EFFECT, POWER_TESTS)
    reject = msprt_p(alt) <= ALPHA
    look = first_look(reject)
    decided = look >= 0
    right = decided & (
        alt["b"][np.arange(POWER_TESTS), look] > alt["a"][np.arange(POWER_TESTS), look]
    )
    power = float(right.mean())
    median_samples = float(np.median(alt["n"][look[decided]])) if decided.any() else float("nan")
    z_once_power = float((z_test_p(alt)[:, 0] <= ALPHA).mean())
    srm_false, _ = srm_stops(rng, 0.5, NULL_TESTS)
    srm_caught, srm_when = srm_stops(rng, 0.52, POWER_TESTS)
    elapsed = time.perf_counter() - started

    looks = len(null["n"])
    print(
        f"{NULL_TESTS} A/A and {POWER_TESTS} A/B simulated tests, 2 arms at 50/50, alpha {ALPHA}, "
        f"looks every {STEP} samples per arm from {MIN_SAMPLES} to {MAX_SAMPLES} ({looks} looks)"
    )
    print(f"false-winner rate, msprt looked at every interval:     {msprt_false:.4f}")
    print(f"false-winner rate, z-test looked at every interval:    {z_peeking_false:.4f}")
    print(f"false-winner rate, z-test looked at once ({MIN_SAMPLES}/arm):  {z_once_false:.4f}")
    print(f"power on {BASE} vs {EFFECT}, msprt (right winner by {MAX_SAMPLES}/arm): {power:.4f}")
    print(f"median samples per arm to that decision:             {median_samples:.0f}")
    print(f"power of the z-test looked at once at {MIN_SAMPLES}/arm:       {z_once_power:.4f}")
    print(f"sample ratio check stops a right split (50/50):        {srm_false:.4f}")
    print(f"... stops a 52/48 split: {srm_caught:.4f}, at a median of {srm_when:.0f} samples")
    print(f"simulated in {elapsed:.1f} s")
    figures = {
        "false_winner_rate_msprt": round(msprt_false, 4),
        "false_winner_rate_z_test_peeking": round(z_peeking_false, 4),
        "false_winner_rate_z_test_once": round(z_once_false, 4),
        "power_msprt": round(power, 4),
        "median_samples_per_arm_to_decision": median_samples,
        "power_z_test_once": round(z_once_power, 4),
        "sample_ratio_false_stop_rate": round(srm_false, 4),
        "sample_ratio_52_48_caught": round(srm_caught, 4),
        "sample_ratio_52_48_median_samples": srm_when,
        "aa_tests": NULL_TESTS,
        "seconds": round(elapsed, 2),
    }
    print(json.dumps(summary(figures)))


def summary(figures: dict[str, float]) -> dict[str, Any]:
    """The JSON summary: the always-valid test's false-winner rate under peeking (over
    ``aa_tests`` A/A tests), beside the plain z-test's (the baseline, from the same simulated
    data); the target is the significance level, 0.05."""
    figures = {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in figures.items()}
    rate = figures["false_winner_rate_msprt"]
    return {
        "benchmark": "ab_statistics",
        "figures": figures,
        "targets": {"false_winner_rate_msprt": FALSE_WINNER_TARGET},
        "met": rate is not None and rate <= FALSE_WINNER_TARGET,
    }


if __name__ == "__main__":
    main()
