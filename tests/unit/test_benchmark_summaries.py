"""The JSON summary each benchmark prints as its last line: its shape, and when ``met`` holds.

Each benchmark builds the summary with a pure ``summary()`` from its medians; the benchmarks
themselves are not run here.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

pytestmark = pytest.mark.unit

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def benchmark(name: str) -> ModuleType:
    if str(BENCHMARKS) not in sys.path:
        sys.path.insert(0, str(BENCHMARKS))  # router_overhead imports serving_throughput
    return importlib.import_module(name)


def check_shape(result: dict[str, Any], name: str, *, targets_are_figures: bool = True) -> None:
    assert list(result) == ["benchmark", "figures", "targets", "met"]
    assert result["benchmark"] == name
    assert isinstance(result["met"], bool)
    assert result["figures"]
    assert result["targets"]
    if targets_are_figures:
        assert set(result["targets"]) <= set(result["figures"])
    assert json.loads(json.dumps(result, allow_nan=False)) == result


def test_every_benchmark_has_a_summary() -> None:
    names = sorted(p.stem for p in BENCHMARKS.glob("*.py"))
    assert names == [
        "ab_statistics",
        "canary_statistics",
        "drift_overhead",
        "drift_scoring",
        "experiment_overhead",
        "multi_model",
        "operator_scale",
        "performance_estimation",
        "pool_server_loads",
        "queue_admission",
        "reconcile_throughput",
        "rollout_timing",
        "router_overhead",
        "serving_runtimes",
        "serving_throughput",
        "trainer_overhead",
    ]
    for name in names:
        assert callable(benchmark(name).summary), name


def trainer(wall_ratio: float) -> dict[str, float]:
    return {
        "repeats": 11,
        "bare_wall_samples_per_s": 1000.0,
        "trainer_wall_samples_per_s": 1000.0 * wall_ratio,
        "bare_cpu_samples_per_s": 2000.0,
        "trainer_cpu_samples_per_s": 1000.0,
        "wall_ratio_min": wall_ratio - 0.02,
        "wall_ratio_max": wall_ratio + 0.02,
    }


@pytest.mark.parametrize(("wall_ratio", "met"), [(0.96, True), (0.95, True), (0.94, False)])
def test_trainer_overhead_is_judged_on_the_wall_clock_ratio(wall_ratio: float, met: bool) -> None:
    result = benchmark("trainer_overhead").summary(trainer(wall_ratio))
    check_shape(result, "trainer_overhead")
    assert result["figures"]["wall_ratio"] == pytest.approx(wall_ratio)
    assert result["figures"]["cpu_ratio"] == 0.5  # beside it, not judged
    assert result["figures"]["wall_ratio_min"] == pytest.approx(wall_ratio - 0.02)
    assert result["met"] is met


def router(**changes: Any) -> dict[str, Any]:
    figures = {
        "rounds": 5,
        "direct_p50_ms": 2.0,
        "routed_p50_ms": 2.5,
        "direct_rps": 1000.0,
        "routed_rps": 900.0,
        "throughput_ratios": [0.95, 0.7, 0.9, 0.85, 0.6],
        "split_requests": 10_000,
        "split_share_pct": 10.2,
        "split_errors": 0,
    }
    return {**figures, **changes}


@pytest.mark.parametrize(
    ("changes", "met"),
    [
        ({}, True),
        ({"routed_p50_ms": 3.0}, True),
        ({"routed_p50_ms": 3.2}, False),
        ({"throughput_ratios": [0.5, 0.8, 0.9, 0.8, 0.6]}, True),  # the median round: 0.80
        ({"throughput_ratios": [0.79, 0.95, 0.95, 0.6, 0.7]}, False),  # 0.79, the best 0.95
        ({"split_share_pct": 8.5}, True),
        ({"split_share_pct": 11.6}, False),
        ({"split_share_pct": 8.4}, False),
        ({"throughput_errors": 1}, False),
    ],
)
def test_router_overhead_needs_all_three_targets(changes: dict[str, Any], met: bool) -> None:
    result = benchmark("router_overhead").summary(router(**changes))
    check_shape(result, "router_overhead")
    assert result["figures"]["added_p50_ms"] == pytest.approx(
        router(**changes)["routed_p50_ms"] - 2.0
    )
    assert result["met"] is met


def test_rounds_alternate_which_side_goes_first() -> None:
    order = benchmark("serving_throughput").first_then_second
    firsts = [order(i, ("direct", "routed"))[0] for i in range(6)]
    assert firsts == ["direct", "routed"] * 3


@pytest.mark.parametrize(("operator_s", "met"), [(1.5, True), (3.0, True), (3.3, False)])
def test_reconcile_throughput_ratio_at_most_three(operator_s: float, met: bool) -> None:
    figures = {
        "count": 100,
        "repeats": 3,
        "direct_median_s": 1.0,
        "operator_median_s": operator_s,
        "trainingjob_creates_median_s": 0.9,
    }
    result = benchmark("reconcile_throughput").summary(figures)
    check_shape(result, "reconcile_throughput")
    assert result["figures"]["ratio"] == pytest.approx(operator_s)
    assert result["met"] is met


def scale_size(**changes: float) -> dict[str, float]:
    figures = {
        "rss_idle_mib": 90.0,
        "rss_converged_mib": 150.0,
        "rss_end_mib": 160.0,
        "rss_peak_mib": 170.0,
        "cpu_s_per_object": 0.01,
        "cpu_s_per_object_minute_quiet": 0.001,
        "create_s": 10.0,
        "converge_s": 20.0,
        "catch_up_p50_s": 0.2,
        "catch_up_p99_s": 0.9,
        "catch_up_samples": 150,
        "job_to_ready_p50_s": 0.5,
        "job_to_ready_p99_s": 1.5,
        "job_to_ready_samples": 50,
    }
    return {**figures, **changes}


@pytest.mark.parametrize(
    ("large", "met"),
    [
        ({}, True),
        ({"catch_up_p99_s": 2.5}, False),
        ({"rss_peak_mib": 420.0}, False),
        ({"cpu_s_per_object": 0.016}, False),
    ],
)
def test_operator_scale_judges_the_largest_size_and_the_growth(
    large: dict[str, float], met: bool
) -> None:
    figures = {
        "sizes": [10, 1000],
        "10": scale_size(catch_up_p99_s=5.0),
        "1000": scale_size(**large),
    }
    result = benchmark("operator_scale").summary(figures)
    check_shape(result, "operator_scale")
    assert result["met"] is met


def experiment(**changes: Any) -> dict[str, Any]:
    figures = {
        "trials": 6,
        "parallel": 2,
        "repeats": 2,
        "operator_wall_s": 60.0,
        "plain_optuna_wall_s": 50.0,
        "trial_end_to_next_job_median_s": 0.4,
        "trial_job_end_to_next_job_median_s": 0.6,
        "same_trials": True,
    }
    return {**figures, **changes}


@pytest.mark.parametrize(
    ("changes", "met"),
    [
        ({}, True),
        ({"operator_wall_s": 66.0}, False),
        ({"trial_end_to_next_job_median_s": 1.1}, False),
        ({"same_trials": False}, False),
        ({"trial_end_to_next_job_median_s": float("nan")}, False),
    ],
)
def test_experiment_overhead(changes: dict[str, Any], met: bool) -> None:
    result = benchmark("experiment_overhead").summary(experiment(**changes))
    check_shape(result, "experiment_overhead")
    assert result["figures"]["wall_ratio"] == pytest.approx(
        experiment(**changes)["operator_wall_s"] / 50.0
    )
    assert result["met"] is met


@pytest.mark.parametrize(
    ("changes", "met"),
    [
        ({}, True),
        ({"canary_ready_to_full_s": 35.5}, False),
        ({"rollback_step_start_to_stable_s": 12.5}, False),
        ({"direct_failed_requests": 1}, False),
    ],
)
def test_rollout_timing_targets_follow_the_interval(changes: dict[str, float], met: bool) -> None:
    figures = {
        "interval_s": 10,
        "repeats": 3,
        "canary_ready_to_full_s": 33.0,
        "rollback_step_start_to_stable_s": 11.0,
        "direct_failed_requests": 0,
        "direct_requests_sent": 400,
        **changes,
    }
    result = benchmark("rollout_timing").summary(figures)
    check_shape(result, "rollout_timing")
    assert result["targets"]["canary_ready_to_full_s"] == 35
    assert result["targets"]["rollback_step_start_to_stable_s"] == 12
    assert result["figures"]["canary_overhead_over_intervals_s"] == pytest.approx(
        figures["canary_ready_to_full_s"] - 30
    )
    assert result["met"] is met


def serving(
    changes: dict[tuple[str, int], tuple[float, ...]], rounds: int = 5
) -> dict[tuple[str, int], list[Any]]:
    """The same figures in every round, but for ``bare`` at c=64: 10% faster in the first two
    rounds and 10% slower in the last two, so that only the median round is as listed."""
    result = benchmark("serving_throughput").Result

    def r(rps: float, p99: float, cpu: float, errors: float = 0) -> Any:
        return result(rps=rps, p50_ms=1.0, p99_ms=p99, errors=errors, headers=[], cpu_us=cpu)

    figures = {
        ("bare", 64): (10_000, 10.0, 30.0),
        ("bare", 1): (3000, 1.0, 30.0),
        ("per-request", 64): (1000, 80.0, 200.0),
        ("per-request", 1): (800, 2.0, 200.0),
        ("v1", 64): (4000, 20.0, 100.0),
        ("v1", 1): (900, 1.5, 150.0),
        ("v2", 64): (3500, 25.0, 110.0),
        ("v2", 1): (850, 1.6, 160.0),
    }
    found = {
        key: [r(*value) for _ in range(rounds)] for key, value in {**figures, **changes}.items()
    }
    for i, bare in enumerate(found[("bare", 64)]):
        bare.rps *= [1.1, 1.1, 1.0, 0.9, 0.9][i] if rounds == 5 else 1.0
    return found


@pytest.mark.parametrize(
    ("changes", "met"),
    [
        ({}, True),
        ({("v1", 64): (3000, 20.0, 100.0)}, True),  # exactly 30% of the bare limit
        ({("v1", 64): (2900, 20.0, 100.0)}, False),  # under 30% of the bare limit
        ({("v2", 1): (790, 1.6, 160.0)}, False),  # slower than the per-request server at c=1
        ({("v2", 64): (3500, 81.0, 110.0)}, False),  # p99 worse than the per-request server
        ({("v1", 1): (900, 1.5, 150.0, 1)}, False),  # one failed request
    ],
)
def test_serving_throughput_needs_every_target_for_both_protocols(
    changes: dict[tuple[str, int], tuple[float, ...]], met: bool
) -> None:
    result = benchmark("serving_throughput").summary(serving(changes))
    check_shape(result, "serving_throughput", targets_are_figures=False)
    for protocol in ("v1", "v2"):
        for target in result["targets"]:
            assert any(key.startswith(protocol) and target in key for key in result["figures"])
    assert result["figures"]["rounds"] == 5
    assert result["figures"]["v2_of_bare_c64"] == 0.35
    assert result["figures"]["v2_of_bare_c64_min"] == pytest.approx(0.35 / 1.1, abs=1e-3)
    assert result["figures"]["v2_of_bare_c64_max"] == pytest.approx(0.35 / 0.9, abs=1e-3)
    assert result["figures"]["v1_cpu_of_bare_c64"] == 0.3
    assert result["met"] is met


def test_serving_throughput_judges_the_median_round_not_the_best() -> None:
    """Two rounds far above the target and three under it: not met."""
    found = serving({("v1", 64): (2600, 20.0, 100.0)})
    for i in (0, 1):
        found[("v1", 64)][i].rps = 9000.0
    result = benchmark("serving_throughput").summary(found)
    assert result["figures"]["v1_of_bare_c64_max"] > 0.8
    assert result["met"] is False


@pytest.mark.parametrize(("rate", "met"), [(0.02, True), (0.05, True), (0.051, False)])
def test_ab_statistics_false_winners_under_peeking_at_most_the_level(
    rate: float, met: bool
) -> None:
    figures = {
        "false_winner_rate_msprt": rate,
        "false_winner_rate_z_test_peeking": 0.36,
        "median_samples_per_arm_to_decision": float("nan"),
        "aa_tests": 4000,
    }
    result = benchmark("ab_statistics").summary(figures)
    check_shape(result, "ab_statistics")
    assert result["targets"] == {"false_winner_rate_msprt": 0.05}
    assert result["figures"]["median_samples_per_arm_to_decision"] is None
    assert result["met"] is met


@pytest.mark.parametrize(
    ("changes", "met"),
    [
        ({}, True),
        ({"false_rollback_rate_sequential_20_per_min": 0.051}, False),
        ({"detected_sequential_latency_regression_2000_per_min": 0.89}, False),
        ({"detected_sequential_error_regression_2000_per_min": float("nan")}, False),
        ({"false_rollback_rate_threshold_2000_per_min": 0.9}, True),  # beside, not judged
        ({"detected_sequential_latency_regression_fast_2000_per_min": 0.001}, False),
        ({"false_rollback_rate_sequential_fast_2000_per_min": 0.06}, False),
    ],
)
def test_canary_statistics_judges_the_sequential_rates(
    changes: dict[str, float], met: bool
) -> None:
    figures = {
        "false_rollback_rate_threshold_20_per_min": 0.79,
        "false_rollback_rate_sequential_20_per_min": 0.0,
        "false_rollback_rate_threshold_2000_per_min": 0.84,
        "false_rollback_rate_sequential_2000_per_min": 0.05,
        "detected_sequential_error_regression_2000_per_min": 0.9,
        "median_seconds_to_rollback_sequential_error_regression_2000_per_min": float("nan"),
        "detected_sequential_latency_regression_2000_per_min": 1.0,
        "false_rollback_rate_sequential_fast_2000_per_min": 0.0,
        "detected_sequential_latency_regression_fast_2000_per_min": 1.0,
        "canaries": 2000,
    } | changes
    result = benchmark("canary_statistics").summary(figures)
    check_shape(result, "canary_statistics")
    assert result["met"] is met


@pytest.mark.parametrize(("ratio_64", "met"), [(0.95, True), (0.89, False)])
def test_drift_overhead_every_concurrency_keeps_nine_tenths(ratio_64: float, met: bool) -> None:
    figures = {"throughput_ratio_c16": 1.02, "throughput_ratio_c64": ratio_64, "drift_reads": 9}
    # the spread of the rounds is reported, the median judged
    figures |= {"throughput_ratio_min_c16": 0.5, "throughput_ratio_max_c64": 1.5}
    result = benchmark("drift_overhead").summary(figures)
    check_shape(result, "drift_overhead")
    assert result["met"] is met


@pytest.mark.parametrize(
    ("changes", "met"),
    [
        ({}, True),
        ({"kl_speedup_vs_evidently": 2.99}, False),  # the median of the rounds decides
        ({"psi_speedup_vs_evidently_min": 2.0}, True),  # one slow round does not
        ({"wasserstein_speedup_vs_evidently": 0.8}, False),  # a slowdown never passes
        ({"wasserstein_worst_relative_error": 0.021}, False),  # the worst feature decides
    ],
)
def test_drift_scoring_three_times_evidently_on_each_method_and_an_exact_wasserstein(
    changes: dict[str, float], met: bool
) -> None:
    figures = {"rounds": 5, "wasserstein_worst_relative_error": 0.001}
    for method in ("psi", "kl", "wasserstein"):
        figures |= {
            f"{method}_s": 0.1,
            f"{method}_evidently_s": 0.4,
            f"{method}_speedup_vs_evidently": 4.0,
            f"{method}_speedup_vs_evidently_min": 3.5,
            f"{method}_speedup_vs_evidently_max": 4.5,
        }
    result = benchmark("drift_scoring").summary(figures | changes)
    check_shape(result, "drift_scoring")
    assert result["targets"]["kl_speedup_vs_evidently"] == 3.0
    assert result["met"] is met


def runtimes(
    changes: dict[tuple[str, str, int], tuple[float, float]], beside_p99: float = 11.0
) -> Any:
    module = benchmark("serving_runtimes")
    result_type = benchmark("serving_throughput").Result

    def r(rps: float, p99: float) -> Any:
        return result_type(rps=rps, p50_ms=p99 / 2, p99_ms=p99, errors=0, headers=[])

    base = {
        (runtime, protocol, c): (
            1000.0 if runtime == "onnx" else 800.0,
            10.0 if runtime == "onnx" else 12.0,
        )
        for runtime in ("onnx", "torch")
        for protocol in ("v1", "v2")
        for c in (1, 64)
    }
    base[("bare", "v1", 1)] = (3000.0, 1.0)
    base[("bare", "v1", 64)] = (2000.0, 5.0)
    figures = {key: [r(*value)] * 3 for key, value in {**base, **changes}.items()}
    alone = [r(900, 10.0), r(910, 9.0), r(890, 12.0)]
    beside = [r(880, beside_p99), r(870, 30.0), r(860, 8.0 * beside_p99 / 11.0)]
    judged = module.ExplainRounds(module.DEFAULT_SHARE, alone, beside, [40.0, 41.0, 39.0])
    uncapped = module.ExplainRounds(1.0, alone, [r(800, 99.0)] * 3, [70.0, 72.0, 71.0])
    return module, figures, [uncapped, judged]


@pytest.mark.parametrize(
    ("changes", "starts", "beside_p99", "met"),
    [
        ({}, (1.0, 4.5), 11.0, True),
        ({}, (1.0, 4.5), 12.1, False),  # the median p99 over 1.2x beside explanations
        ({}, (1.6, 4.5), 11.0, False),  # cold start over a third of torch's
        ({("onnx", "v2", 1): (790.0, 10.0)}, (1.0, 4.5), 11.0, False),  # slower than torch, c=1
        ({("onnx", "v1", 64): (880.0, 10.0)}, (1.0, 4.5), 11.0, False),  # under 0.45 of bare
        ({("onnx", "v1", 64): (900.0, 10.0)}, (1.0, 4.5), 11.0, True),  # exactly 0.45 of bare
        ({("onnx", "v2", 64): (1000.0, 13.0)}, (1.0, 4.5), 11.0, False),  # p99 worse than torch
    ],
)
def test_serving_runtimes_judge_onnx_against_torch_in_the_same_run(
    changes: dict[tuple[str, str, int], tuple[float, float]],
    starts: tuple[float, float],
    beside_p99: float,
    met: bool,
) -> None:
    module, figures, explain = runtimes(changes, beside_p99)
    result = module.summary(
        explain,
        ({"onnx": [starts[0]], "torch": [starts[1]]}, {"onnx": [150.0], "torch": [577.0]}, figures),
    )
    check_shape(result, "serving_runtimes", targets_are_figures=False)
    for target in result["targets"]:  # each names the figures it judges, for `make bench`
        assert any(target in figure for figure in result["figures"]), target
    assert result["figures"]["idle_rss_onnx_of_torch"] == 0.26
    # judged at the server's default share, not at the uncapped one beside it (9.9x)
    assert result["figures"]["explain_cpu_share"] == module.DEFAULT_SHARE
    # the ratios within the rounds: 1.1 (or 1.21), 3.33 and 0.73 (or 0.81): their median judged
    assert result["figures"]["predict_p99_under_explain_ratio"] == round(beside_p99 / 10.0, 3)
    judged = result["figures"][f"explain_share_{module.DEFAULT_SHARE:g}"]
    assert judged["predict_p99_ms_c16_beside_explanations"]["max"] == 30.0
    assert judged["explanations_per_s"]["median"] == 40.0
    assert result["figures"]["explain_share_1"]["predict_p99_under_explain_ratio"] == 9.9
    assert result["met"] is met


@pytest.mark.parametrize(
    ("onnx_p99", "torch_p99", "met"),
    [
        # the medians tie (10 and 10), but ONNX Runtime is slower in two rounds of three
        ([10.0, 11.0, 3.0], [9.0, 10.0, 20.0], False),
        # ONNX Runtime's median is the higher (12 against 10), but it is faster in two rounds
        ([12.0, 9.0, 14.0], [13.0, 10.0, 4.0], True),
    ],
)
def test_serving_runtimes_judge_the_ratio_within_each_round(
    onnx_p99: list[float], torch_p99: list[float], met: bool
) -> None:
    module, figures, explain = runtimes({})
    onnx, torch = figures[("onnx", "v2", 64)][0], figures[("torch", "v2", 64)][0]
    figures[("onnx", "v2", 64)] = [dataclasses.replace(onnx, p99_ms=p99) for p99 in onnx_p99]
    figures[("torch", "v2", 64)] = [dataclasses.replace(torch, p99_ms=p99) for p99 in torch_p99]
    result = module.summary(
        explain, ({"onnx": [1.0], "torch": [4.5]}, {"onnx": [150.0], "torch": [577.0]}, figures)
    )
    ratios = [o / t for o, t in zip(onnx_p99, torch_p99, strict=True)]
    assert result["figures"]["v2_c64_p99_onnx_of_torch"] == {
        "median": round(sorted(ratios)[1], 3),
        "min": round(min(ratios), 3),
        "max": round(max(ratios), 3),
    }
    assert result["met"] is met


@pytest.mark.parametrize(("beside_p99", "met"), [(11.0, True), (12.1, False)])
def test_the_explain_figure_alone_is_judged_at_the_default_share(
    beside_p99: float, met: bool
) -> None:
    module, _, explain = runtimes({}, beside_p99)
    result = module.summary(explain)
    check_shape(result, "serving_runtimes")
    assert "cold_start_onnx_of_torch" not in result["figures"]
    assert list(result["targets"]) == ["predict_p99_under_explain_ratio"]
    assert result["met"] is met
    with pytest.raises(ValueError, match="judged share"):
        module.summary(explain[:1])  # the default share was not measured


@pytest.mark.parametrize(
    ("operator_s", "over_quota", "lost", "met"),
    [
        (0.12, 0, 0.0, True),
        (0.121, 0, 0.0, False),  # overhead ratio above 1.2
        (0.1, 1, 0.0, False),  # one sample over quota
        (0.1, 0, 0.021, False),  # more than 2% of an epoch lost per preemption
    ],
)
def test_queue_admission_needs_ratio_quota_and_work_lost(
    operator_s: float, over_quota: int, lost: float, met: bool
) -> None:
    figures = {
        "count": 200,
        "cycles": 40,
        "plain_median_s": 0.1,
        "plain_p99_s": 0.2,
        "plain_spread_s": 0.15,
        "operator_median_s": operator_s,
        "operator_p99_s": 0.2,
        "operator_spread_s": 0.15,
        "over_quota_samples": over_quota,
        "lost_epoch_fraction_median": lost,
        "lost_epoch_fraction_max": lost,
    }
    result = benchmark("queue_admission").summary(figures)
    check_shape(result, "queue_admission")
    assert result["met"] is met


def estimation(**changes: float) -> dict[str, float]:
    figures = {"window": 1000, "throughput_ratio": 0.99}
    for tag in ("breast_cancer", "threat_classifier"):
        figures |= {
            f"mae_ours_{tag}": 0.01,
            f"mae_ours_min_{tag}": 0.008,
            f"mae_ours_max_{tag}": 0.019,
            f"mae_nannyml_{tag}": 0.012,
            f"mae_margin_{tag}": -0.002,
            f"mae_margin_max_{tag}": 0.001,
            f"speedup_{tag}": 40.0,
        }
    return figures | changes


@pytest.mark.parametrize(
    ("changes", "met"),
    [
        ({}, True),
        ({"mae_ours_max_threat_classifier": 0.025}, True),  # the median is judged
        ({"mae_ours_threat_classifier": 0.021}, False),
        ({"mae_margin_breast_cancer": 0.006}, False),
        ({"speedup_breast_cancer": 9.5}, False),
        ({"throughput_ratio": 0.94}, False),
    ],
)
def test_performance_estimation_judges_error_speed_and_serving_cost(
    changes: dict[str, float], met: bool
) -> None:
    result = benchmark("performance_estimation").summary(estimation(**changes))
    check_shape(result, "performance_estimation")
    assert result["met"] is met


def multi_model_run(**changes: float) -> Any:
    figures = {
        "loads_per_1000": 40.0,
        "p50_ms": 5.0,
        "p99_ms": 20.0,
        "warm_p99_ms": 15.0,
        "rps": 400.0,
        "failed": 0,
        "peak_rss_mib": 300.0,
    }
    return benchmark("multi_model").Repeat(**{**figures, **changes})


def multi_model(
    pool: dict[str, float], anchors: dict[str, float], unavailable: dict[str, str]
) -> dict[str, Any]:
    runs = {"pool": [multi_model_run(**pool), multi_model_run(**{**pool, "rps": 300.0})]}
    for name in ("ray", "mlserver"):
        if name not in unavailable:
            runs[name] = [multi_model_run(loads_per_1000=anchors.get(name, 100.0))] * 2
    return dict(
        benchmark("multi_model").summary(
            runs,
            unavailable,
            budget_mib=100.0,
            idle_rss_mib={"pool": 250.0, "ray": 150.0, "mlserver": 120.0},
            memory_kib={"rss": 344.0, "files": 751.0, "weights": 80.0, "overhead": 264.0},
            models=1000,
            requests=20000,
        )
    )


@pytest.mark.parametrize(
    ("pool", "anchors", "unavailable", "met"),
    [
        ({}, {"ray": 90.0, "mlserver": 80.0}, {}, True),  # 40 <= 0.5 x 80
        ({}, {"ray": 90.0, "mlserver": 79.0}, {}, False),  # loads against the best anchor
        ({}, {"ray": 80.0}, {"mlserver": "no wheel"}, True),  # the anchor that ran
        ({}, {}, {"ray": "no wheel", "mlserver": "no wheel"}, False),  # nothing to beat
        ({"p99_ms": 22.5}, {}, {}, True),  # 1.5 x the warm p99
        ({"p99_ms": 23.0}, {}, {}, False),
        ({"failed": 1}, {}, {}, False),
        ({"peak_rss_mib": 351.0}, {}, {}, False),  # idle 250 + budget 100
    ],
)
def test_multi_model_judges_the_pool_against_the_best_available_anchor(
    pool: dict[str, float], anchors: dict[str, float], unavailable: dict[str, str], met: bool
) -> None:
    result = multi_model(pool, anchors, unavailable)
    check_shape(result, "multi_model")
    figures = result["figures"]
    assert figures["pool_rps"] == 350.0  # the median of the two repeats
    assert (figures["pool_rps_min"], figures["pool_rps_max"]) == (300.0, 400.0)
    assert figures["pool_rss_kib_per_model"] == 344.0
    assert figures["pool_overhead_kib_per_model"] == 264.0  # the RSS beyond the weights
    for name, reason in unavailable.items():
        assert figures[f"{name}_unavailable"] == reason
        assert f"{name}_rps" not in figures
    assert result["met"] is met


def pool_server_loads(**changes: float) -> dict[str, float]:
    return {
        "versions": 100,
        "load_ms_first_p50": 20.0,
        "load_ms_first_p90": 25.0,
        "load_ms_last_p50": 21.0,
        "load_ms_last_p90": 26.0,
        "rss_first_mib": 700.0,
        "cold_kib_per_version": 400.0,
        "in_use_kib_per_version": 900.0,
        "files_kib_per_version": 751.0,
        "counted_kib_per_version": 1007.0,
        **changes,
    }


def test_pool_server_loads_meets_when_a_version_in_use_fits_what_the_budget_counts() -> None:
    summary = benchmark("pool_server_loads").summary
    result = summary(pool_server_loads())
    check_shape(result, "pool_server_loads")
    assert result["met"]
    assert result["figures"]["load_last_of_first"] == 1.05
    assert not summary(pool_server_loads(in_use_kib_per_version=1008.0))["met"]
    assert not summary(pool_server_loads(load_ms_last_p50=31.0))["met"]
