"""Does a canary gate roll back healthy versions by chance, and does it catch real regressions?

Simulates, seeded and vectorised with numpy, canary rollouts with the default strategy (steps
of 10, 25 and 50% held 60 s each, ``minRequests`` 50) looked at every 10 s, the traffic split by
the step's weight (Poisson arrivals, binomial errors, latencies drawn into the router's
histogram buckets from a log-normal with median 20 ms and p99 64 ms, or for a fast version with
median 1.6 ms and p99 2.3 ms, all in the router's 1–2.5 ms bucket). Both gate methods run on the
same scenarios in the same run:

- ``threshold`` with its default gates (``maxErrorRate`` 1%, ``maxP99LatencyMs`` 500), judged
  once per step at the interval's end on the step's requests, through the operator's own
  ``rollout.gates.judge``;
- ``sequential`` with its defaults (``maxErrorRateIncrease`` unset, so any shown increase counts;
  ``maxSlowShareIncrease`` 0.02; ``significanceLevel`` 0.05), judged at every look on everything
  served since the canary began, through the operator's own ``rollout.sequential_gates``:
  rolled back as soon as the canary is shown worse, a step passed at its interval's end (with
  ``minRequests`` served) otherwise.

Scenarios, 2,000 canaries each: A/A (identical versions, 1% errors) at 20 and at 2,000 requests
per minute — the false-rollback rate; at 2,000 per minute an error-rate regression (1% → 3%)
and a latency regression (every latency × 1.5, so p99 × 1.5) — the share rolled back and the
median time from the canary's start to its rollback; and the fast version at 2,000 per minute,
A/A and × 1.5, where the bucket holding its p99 holds nearly all its requests.

Run: ``.venv/bin/python benchmarks/canary_statistics.py``. The last line is the JSON summary.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.stats import norm

from mlops_operator.api.deployment_status import Measurement
from mlops_operator.api.rollout import CanaryAnalysis
from mlops_operator.rollout.gates import judge
from mlops_operator.rollout.measure import quantile
from mlops_operator.rollout.sequential_gates import evidence, shown_worse
from mlops_serving.router_metrics import BUCKETS

SEED = 20261206
CANARIES = 2000
LOOK_SECONDS = 10
STEP_WEIGHTS = (10, 25, 50)
INTERVAL_LOOKS = 6  # 60 s
HORIZON_LOOKS = 720  # two hours: every canary at 20 requests per minute has ended by then
BASE_ERROR = 0.01
MEDIAN_MS, SIGMA = 20.0, 0.5
FAST_MEDIAN_MS, FAST_SIGMA = 1.6, 0.15
BOUNDS = (*BUCKETS, math.inf)
THRESHOLD = CanaryAnalysis()
SEQUENTIAL = CanaryAnalysis(method="sequential")
FALSE_ROLLBACK_TARGET = 0.05
DETECTION_TARGET = 0.90

Array = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Version:
    error_rate: float
    latency_scale: float
    median_ms: float = MEDIAN_MS
    sigma: float = SIGMA

    def bucket_shares(self) -> Array:
        median = self.median_ms / 1000.0 * self.latency_scale
        finite = np.log(np.asarray(BUCKETS) / median) / self.sigma
        cumulative = np.append(norm.cdf(finite), 1.0)
        return np.diff(cumulative, prepend=0.0)


STABLE = Version(BASE_ERROR, 1.0)
FAST = Version(BASE_ERROR, 1.0, FAST_MEDIAN_MS, FAST_SIGMA)


@dataclass
class Side:
    """Cumulative counters of one version in every simulated canary."""

    requests: Array
    errors: Array
    buckets: Array  # cumulative per bound, like the router's histogram

    @classmethod
    def empty(cls) -> Side:
        return cls(np.zeros(CANARIES), np.zeros(CANARIES), np.zeros((CANARIES, len(BOUNDS))))

    def serve(self, rng: np.random.Generator, rate: Array, version: Version) -> None:
        n = rng.poisson(rate)
        self.requests += n
        self.errors += rng.binomial(n, version.error_rate)
        self.buckets += np.cumsum(rng.multinomial(n, version.bucket_shares()), axis=1)

    def copy(self) -> Side:
        return Side(self.requests.copy(), self.errors.copy(), self.buckets.copy())


def _measurement(side: Side, base: Side, i: int) -> Measurement:
    requests = int(side.requests[i] - base.requests[i])
    errors = int(side.errors[i] - base.errors[i])
    buckets = [int(b) for b in side.buckets[i] - base.buckets[i]]
    p99 = quantile(0.99, BOUNDS, buckets)
    return Measurement(
        requests=requests,
        errors=errors,
        error_rate=errors / requests if requests else None,
        p99_latency_ms=None if p99 is None else p99 * 1000.0,
    )


def sequential_worse(canary: Side, stable: Side) -> npt.NDArray[np.bool_]:
    """Shown worse on errors or on slow requests, on everything since the canary began."""
    ready = (canary.requests >= SEQUENTIAL.min_requests) & (stable.requests >= 1)
    found = evidence(
        SEQUENTIAL,
        canary_requests=np.maximum(canary.requests, 1),
        canary_errors=canary.errors,
        canary_buckets=canary.buckets,
        stable_requests=np.maximum(stable.requests, 1),
        stable_errors=stable.errors,
        stable_buckets=stable.buckets,
    )
    return ready & shown_worse(SEQUENTIAL, found)  # type: ignore[no-any-return]


def run(
    rng: np.random.Generator, *, per_minute: float, stable: Version, canary: Version, method: str
) -> tuple[float, float, float]:
    """(share rolled back, median seconds to rollback, share still running at the horizon)."""
    stable_side, canary_side = Side.empty(), Side.empty()
    base_stable, base_canary = Side.empty(), Side.empty()
    step = np.zeros(CANARIES, dtype=int)
    step_start = np.zeros(CANARIES, dtype=int)
    done = np.zeros(CANARIES, dtype=bool)
    rolled_back = np.zeros(CANARIES, dtype=bool)
    ended_at = np.full(CANARIES, np.nan)
    per_look = per_minute * LOOK_SECONDS / 60.0
    weights = np.asarray(STEP_WEIGHTS, dtype=np.float64) / 100.0
    for look in range(1, HORIZON_LOOKS + 1):
        running = ~done
        if not running.any():
            break
        share = weights[np.minimum(step, len(STEP_WEIGHTS) - 1)] * running
        canary_side.serve(rng, per_look * share, canary)
        stable_side.serve(rng, per_look * (1 - share) * running, stable)
        due = running & (look - step_start >= INTERVAL_LOOKS)
        if method == "sequential":
            failed = running & sequential_worse(canary_side, stable_side)
            passed = due & ~failed & (canary_side.requests >= SEQUENTIAL.min_requests)
        else:
            step_requests = canary_side.requests - base_canary.requests
            judged = np.flatnonzero(due & (step_requests >= THRESHOLD.min_requests))
            failed = np.zeros(CANARIES, dtype=bool)
            passed = np.zeros(CANARIES, dtype=bool)
            for i in judged:
                verdict = judge(
                    THRESHOLD,
                    _measurement(canary_side, base_canary, i),
                    _measurement(stable_side, base_stable, i),
                )
                failed[i] = verdict.decision == "Failed"
                passed[i] = verdict.decision == "Passed"
        rolled_back |= failed
        last = passed & (step == len(STEP_WEIGHTS) - 1)
        ended = failed | last
        ended_at[ended] = look * LOOK_SECONDS
        done |= ended
        advance = passed & ~last
        step[advance] += 1
        step_start[advance] = look
        for now, base in ((canary_side, base_canary), (stable_side, base_stable)):
            base.requests[advance] = now.requests[advance]
            base.errors[advance] = now.errors[advance]
            base.buckets[advance] = now.buckets[advance]
    times = ended_at[rolled_back]
    median = float(np.median(times)) if times.size else float("nan")
    return float(rolled_back.mean()), median, float((~done).mean())


def main() -> None:
    started = time.perf_counter()
    rng = np.random.default_rng(SEED)
    scenarios = {
        "aa_20_per_min": (20.0, STABLE, STABLE),
        "aa_2000_per_min": (2000.0, STABLE, STABLE),
        "error_regression_2000_per_min": (2000.0, STABLE, Version(0.03, 1.0)),
        "latency_regression_2000_per_min": (2000.0, STABLE, Version(BASE_ERROR, 1.5)),
        "aa_fast_2000_per_min": (2000.0, FAST, FAST),
        "latency_regression_fast_2000_per_min": (
            2000.0,
            FAST,
            Version(BASE_ERROR, 1.5, FAST_MEDIAN_MS, FAST_SIGMA),
        ),
    }
    figures: dict[str, float] = {}
    print(
        f"{CANARIES} simulated canaries per scenario, steps {STEP_WEIGHTS}% of "
        f"{INTERVAL_LOOKS * LOOK_SECONDS} s, looked at every {LOOK_SECONDS} s"
    )
    for name, (per_minute, stable, version) in scenarios.items():
        for method in ("threshold", "sequential"):
            share, median, running = run(
                rng, per_minute=per_minute, stable=stable, canary=version, method=method
            )
            key = "false_rollback_rate" if name.startswith("aa_") else "detected"
            scenario = name.removeprefix("aa_")
            figures[f"{key}_{method}_{scenario}"] = round(share, 4)
            if not name.startswith("aa_"):
                figures[f"median_seconds_to_rollback_{method}_{scenario}"] = median
            figures[f"still_running_{method}_{name}"] = round(running, 4)
            print(
                f"{name:38s} {method:10s} rolled back {share:7.2%}  median {median:6.0f} s "
                f"to rollback  still running {running:.2%}"
            )
    figures["canaries"] = CANARIES
    figures["seconds"] = round(time.perf_counter() - started, 2)
    print(f"simulated in {figures['seconds']:.1f} s")
    print(json.dumps(summary(figures)))


def summary(figures: dict[str, float]) -> dict[str, Any]:
    """The JSON summary over ``canaries`` simulated canaries per scenario: the sequential
    method's false-rollback rate at 20 and at 2,000 requests per minute, and for the fast version
    (at most 0.05 each), and its detection of the error and latency regressions at 2,000 per
    minute, and of the fast version's (at least 0.90 each);
    the threshold method's figures, from the same run, stand beside them."""
    figures = {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in figures.items()}
    targets = {
        "false_rollback_rate_sequential_20_per_min": FALSE_ROLLBACK_TARGET,
        "false_rollback_rate_sequential_2000_per_min": FALSE_ROLLBACK_TARGET,
        "detected_sequential_error_regression_2000_per_min": DETECTION_TARGET,
        "detected_sequential_latency_regression_2000_per_min": DETECTION_TARGET,
        "false_rollback_rate_sequential_fast_2000_per_min": FALSE_ROLLBACK_TARGET,
        "detected_sequential_latency_regression_fast_2000_per_min": DETECTION_TARGET,
    }
    met = all(
        (value := figures.get(name)) is not None
        and (value <= wanted if name.startswith("false_") else value >= wanted)
        for name, wanted in targets.items()
    )
    return {"benchmark": "canary_statistics", "figures": figures, "targets": targets, "met": met}


if __name__ == "__main__":
    main()
