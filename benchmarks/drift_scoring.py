"""Drift scoring from raw arrays: reference statistics built, then a window scored.

200,000 rows × 20 numeric features of N(0, 1) as the training data and 200,000 rows of
N(0.1, 1.1) as the window. For each method (psi, kl, wasserstein) the time is the reference
statistics of all 20 features (``mlops_core.reference_stats.numeric_stats``: bins, moments and
the quantile sketch, all of them, as the trainer writes them) plus scoring the window
(``mlops_core.drift.score_numeric``). The baseline in the same run is the previous
implementation (10 quantile bins; Wasserstein from bin midpoints), reproduced below as it was.
Evidently 0.7's stat tests on the same task took 0.44 s (PSI), 0.42 s (KL) and 1.84 s
(Wasserstein) where the previous implementation took ~0.51 s per method (the figures quoted in
the issue); the target is at least 3× faster than those, i.e. at most 0.147 s, 0.140 s and
0.613 s. Since absolute times depend on the machine, the same targets are also checked as
speed-ups over the previous implementation measured here: 0.51 / 0.147 = 3.5× (psi), 3.6× (kl)
and 0.51 / 0.613 = 0.83× (wasserstein); and no method may be slower than the previous code
timed in the same run, whatever its absolute time (so no target passes on a slowdown).
Accuracy: the Wasserstein score of every feature beside scipy's ``wasserstein_distance`` on the
raw samples divided by the reference std; the worst feature is judged.

Run: ``nice .venv/bin/python benchmarks/drift_scoring.py``. Medians of 5 runs; the last line is
the JSON summary.
"""

from __future__ import annotations

import json
import os
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from scipy.stats import wasserstein_distance

from mlops_core.drift import DRIFT_METHODS, DriftMethod, NumericReference, score_numeric
from mlops_core.reference_stats import NumericFeatureStats, numeric_stats

ROWS, FEATURES, REPEATS = 200_000, 20, 5
EVIDENTLY_S = {"psi": 0.44, "kl": 0.42, "wasserstein": 1.84}
PREVIOUS_QUOTED_S = 0.51
FACTOR = 3.0


# ---- the previous implementation (10 bins; Wasserstein from bin midpoints), as it was -------


def previous_reference(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    edges = np.unique(np.quantile(values, np.linspace(0.0, 1.0, 11)))
    index = np.searchsorted(edges[1:-1], values, side="right")
    return edges, np.bincount(index, minlength=len(edges) - 1).astype(float), float(values.std())


def _previous_bin_counts(x: np.ndarray, e: np.ndarray) -> np.ndarray:
    k = len(e) - 1
    index = np.searchsorted(e, x, side="right") - 1
    index = np.clip(np.where(x == e[-1], k - 1, index), 0, k - 1)
    return np.bincount(index, minlength=k).astype(np.float64)


def _previous_wasserstein(u: np.ndarray, v: np.ndarray, uw: np.ndarray, vw: np.ndarray) -> float:
    u_order, v_order = np.argsort(u, kind="stable"), np.argsort(v, kind="stable")
    support = np.sort(np.concatenate([u, v]))
    u_cum = np.concatenate([[0.0], np.cumsum(uw[u_order])])
    v_cum = np.concatenate([[0.0], np.cumsum(vw[v_order])])
    u_cdf = u_cum[np.searchsorted(u[u_order], support[:-1], "right")] / u_cum[-1]
    v_cdf = v_cum[np.searchsorted(v[v_order], support[:-1], "right")] / v_cum[-1]
    return float(np.sum(np.abs(u_cdf - v_cdf) * np.diff(support)))


def previous_score(
    edges: np.ndarray, counts: np.ndarray, std: float, x: np.ndarray, method: str
) -> float:
    x = x[np.isfinite(x)]
    inside = (x >= edges[0]) & (x <= edges[-1])
    if method == "wasserstein":
        mids = (edges[:-1] + edges[1:]) / 2.0
        outside = x[~inside]
        v = np.concatenate([mids, outside])
        vw = np.concatenate([_previous_bin_counts(x[inside], edges), np.ones(len(outside))])
        return _previous_wasserstein(mids, v, counts, vw) / std
    current = np.concatenate(
        [[np.sum(x < edges[0])], _previous_bin_counts(x[inside], edges), [np.sum(x > edges[-1])]]
    )
    ref = np.concatenate([[0.0], counts, [0.0]])
    p = np.maximum(ref / ref.sum(), 1e-4)
    q = np.maximum(current / current.sum(), 1e-4)
    p, q = p / p.sum(), q / q.sum()
    if method == "psi":
        return float(np.sum((q - p) * np.log(q / p)))
    return float(np.sum(q * np.log(q / p)))


# ---- timing -------------------------------------------------------------------------------


def median_seconds(run: Callable[[], object]) -> float:
    times = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def to_reference(stats: NumericFeatureStats) -> NumericReference:
    return NumericReference.build(
        edges=stats.bin_edges,
        counts=stats.counts,
        std=stats.std,
        probabilities=stats.quantile_probabilities,
        quantiles=stats.quantiles,
    )


def main() -> None:
    rng = np.random.default_rng(0)
    train = [rng.normal(0.0, 1.0, ROWS) for _ in range(FEATURES)]
    window = [rng.normal(0.1, 1.1, ROWS) for _ in range(FEATURES)]

    def ours(method: DriftMethod) -> list[float]:
        refs = [to_reference(numeric_stats(f"f{i}", col)) for i, col in enumerate(train)]
        return [score_numeric(ref, col, method) for ref, col in zip(refs, window, strict=True)]

    def previous(method: str) -> list[float]:
        refs = [previous_reference(col) for col in train]
        return [previous_score(*ref, col, method) for ref, col in zip(refs, window, strict=True)]

    build_s = median_seconds(lambda: [numeric_stats(f"f{i}", c) for i, c in enumerate(train)])
    refs = [to_reference(numeric_stats(f"f{i}", col)) for i, col in enumerate(train)]
    score_s = {
        m: median_seconds(
            lambda m=m: [score_numeric(r, c, m) for r, c in zip(refs, window, strict=True)]
        )
        for m in DRIFT_METHODS
    }
    ours_s = {m: median_seconds(lambda m=m: ours(m)) for m in DRIFT_METHODS}
    previous_s = {m: median_seconds(lambda m=m: previous(m)) for m in DRIFT_METHODS}

    exact_all = [wasserstein_distance(t, w) / t.std() for t, w in zip(train, window, strict=True)]
    ours_all = ours("wasserstein")
    errors = [abs(o - e) / e for o, e in zip(ours_all, exact_all, strict=True)]
    worst = max(range(FEATURES), key=lambda i: errors[i])
    exact, ours_w, error = exact_all[worst], ours_all[worst], errors[worst]
    previous_w = previous("wasserstein")[worst]

    print(f"{ROWS} rows x {FEATURES} features, {os.cpu_count()} CPUs, medians of {REPEATS} runs")
    print(
        f"reference statistics of all features (bins + sketch): {build_s:.3f} s; scoring "
        "the window alone: " + ", ".join(f"{m} {score_s[m]:.3f} s" for m in DRIFT_METHODS)
    )
    print(f"load average while running: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(
        f"{'method':>12} | {'ours s':>7} | {'previous s':>10} | {'speed-up':>8} | "
        f"{'Evidently s':>11} | {'target s':>8}"
    )
    for m in DRIFT_METHODS:
        speedup = previous_s[m] / ours_s[m]
        target = EVIDENTLY_S[m] / FACTOR
        needed = PREVIOUS_QUOTED_S / target
        print(
            f"{m:>12} | {ours_s[m]:>7.3f} | {previous_s[m]:>10.3f} | {speedup:>7.1f}x | "
            f"{EVIDENTLY_S[m]:>11.2f} | {target:>8.3f}  (or >= {needed:.2f}x the previous)"
        )
    print(
        f"wasserstein against scipy on raw samples, every feature: {100 * min(errors):.2f}% to "
        f"{100 * error:.2f}% off; the worst, feature {worst}: ours {ours_w:.4f}, scipy "
        f"{exact:.4f}, previous 10-bin {previous_w:.4f} "
        f"({100 * abs(previous_w - exact) / exact:.0f}% off)"
    )
    figures = {
        **{f"{m}_s": round(ours_s[m], 4) for m in DRIFT_METHODS},
        **{f"{m}_previous_s": round(previous_s[m], 4) for m in DRIFT_METHODS},
        **{f"{m}_speedup_vs_previous": round(previous_s[m] / ours_s[m], 2) for m in DRIFT_METHODS},
        "reference_build_s": round(build_s, 4),
        **{f"{m}_score_only_s": round(score_s[m], 4) for m in DRIFT_METHODS},
        "load_average": round(os.getloadavg()[0], 1),
        "wasserstein_ours": round(ours_w, 5),
        "wasserstein_scipy": round(exact, 5),
        "wasserstein_previous": round(previous_w, 5),
        "wasserstein_relative_error": round(error, 5),
        "wasserstein_worst_feature": worst,
        "wasserstein_features_checked": len(errors),
    }
    print(json.dumps(summary(figures)))


def summary(figures: dict[str, float]) -> dict[str, Any]:
    """The JSON summary. Per method: at most a third of Evidently's quoted time, or — since
    absolute times depend on the machine — at least the speed-up over the previous code
    (timed in the same run) that the same target asks of it, and never slower than that code;
    and a Wasserstein within 2% of scipy's on every feature (``wasserstein_relative_error``
    is the worst feature's)."""
    met = figures["wasserstein_relative_error"] <= 0.02
    targets: dict[str, str | float] = {"wasserstein_relative_error": 0.02}
    for m in DRIFT_METHODS:
        target = round(EVIDENTLY_S[m] / FACTOR, 3)
        needed = round(PREVIOUS_QUOTED_S * FACTOR / EVIDENTLY_S[m], 2)
        speedup = figures[f"{m}_speedup_vs_previous"]
        targets[f"{m}_s"] = (
            f"<= {target} or {m}_speedup_vs_previous >= {needed}, and {m}_speedup_vs_previous >= 1"
        )
        met = met and (figures[f"{m}_s"] <= target or speedup >= needed) and speedup >= 1.0
    return {"benchmark": "drift_scoring", "figures": figures, "targets": targets, "met": met}


if __name__ == "__main__":
    main()
