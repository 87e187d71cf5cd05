"""The sequential canary in the rollout state machine: looked at during the step, rolled back the
moment the new version is shown worse, a step passed at its interval's end otherwise, judged on
everything since the canary began, with its estimates and intervals in the step's record."""

from __future__ import annotations

from datetime import timedelta

import pytest
from tests.unit.test_rollout_decide import BOUNDS, T0, canary, observed, then, totals

from mlops_operator.api.deployment_status import CounterSnapshot
from mlops_operator.api.rollout import CanaryAnalysis
from mlops_operator.rollout.decide import decide
from mlops_operator.rollout.sequential_gates import LOOK_SECONDS, judge_sequential, tuned_samples
from mlops_operator.statistics import non_inferiority

pytestmark = pytest.mark.unit

SEQUENTIAL = canary(method="sequential", minRequests=50)


def snapshot(requests: int, errors: int, slow: int) -> CounterSnapshot:
    fast = requests - slow
    return CounterSnapshot(
        version="x", requests=requests, errors=errors, buckets=[fast, fast, requests, requests]
    )


def test_a_canary_shown_worse_rolls_back_before_its_interval_ends() -> None:
    start = decide(observed(strategy=SEQUENTIAL, totals=totals(v1_0_0=(5000, 50, 0))))
    assert start.state.step == 0
    assert [s.version for s in start.state.canary_baseline] == ["1.0.0", "1.1.0"]
    plan = decide(
        then(
            start,
            strategy=SEQUENTIAL,
            now=T0 + timedelta(seconds=4),
            totals=totals(v1_0_0=(6000, 60, 0), v1_1_0=(400, 40, 0)),
        )
    )
    assert (plan.phase, plan.reason) == ("RolledBack", "RolledBack")
    run = plan.analysis
    assert run is not None
    assert (run.decision, run.gate, run.method) == ("Failed", "maxErrorRateIncrease", "sequential")
    assert run.sequential is not None
    errors = run.sequential.error_rate
    assert errors is not None
    assert (run.sequential.canary_requests, run.sequential.stable_requests) == (400, 1000)
    assert errors.canary == pytest.approx(0.10)
    assert errors.stable == pytest.approx(0.01)
    assert errors.lower > 0
    assert errors.shown == "Worse"
    assert "always-valid 95% interval" in plan.message


def test_every_step_is_first_looked_at_within_a_look_not_at_its_interval_end() -> None:
    """The step's start schedules its first look: the Deployment's own status write wakes
    nobody, so a later first look would let a version shown worse serve the whole interval."""
    slow = canary(method="sequential", minRequests=50)
    assert slow.canary is not None
    slow.canary.interval_seconds = 120
    start = decide(observed(strategy=slow, totals=totals(v1_0_0=(5000, 50, 0))))
    assert start.state.step == 0
    assert start.requeue_after == LOOK_SECONDS
    passed = decide(
        then(
            start,
            strategy=slow,
            now=T0 + timedelta(seconds=120),
            totals=totals(v1_0_0=(6000, 60, 10), v1_1_0=(110, 1, 1)),
        )
    )
    assert passed.state.step == 1
    assert passed.requeue_after == LOOK_SECONDS
    threshold = canary()
    assert threshold.canary is not None
    threshold.canary.interval_seconds = 120
    assert decide(
        observed(strategy=threshold, totals=totals(v1_0_0=(5000, 50, 0)))
    ).requeue_after == pytest.approx(120.0)


def test_a_healthy_canary_is_looked_at_during_the_step_and_passes_at_its_end() -> None:
    start = decide(observed(strategy=SEQUENTIAL, totals=totals(v1_0_0=(5000, 50, 0))))
    look = decide(
        then(
            start,
            strategy=SEQUENTIAL,
            now=T0 + timedelta(seconds=5),
            totals=totals(v1_0_0=(5500, 55, 5), v1_1_0=(60, 1, 1)),
        )
    )
    assert (look.reason, look.weights) == ("CanaryStep", start.weights)
    assert look.requeue_after is not None
    assert look.requeue_after <= LOOK_SECONDS
    assert look.analysis is not None
    assert look.analysis.decision == "Waiting"
    assert "no evidence against it yet" in look.analysis.reason
    passed = decide(
        then(
            look,
            strategy=SEQUENTIAL,
            now=T0 + timedelta(seconds=10),
            totals=totals(v1_0_0=(6000, 60, 10), v1_1_0=(110, 1, 1)),
        )
    )
    assert passed.state.step == 1
    assert passed.analysis is not None
    assert passed.analysis.decision == "Passed"
    # the next step is judged on everything since the canary began, not on the step alone
    later = decide(
        then(
            passed,
            strategy=SEQUENTIAL,
            now=T0 + timedelta(seconds=12),
            totals=totals(v1_0_0=(6100, 61, 10), v1_1_0=(130, 1, 1)),
        )
    )
    assert later.analysis is not None
    assert later.analysis.sequential is not None
    assert later.analysis.sequential.canary_requests == 130
    assert later.analysis.canary.requests == 20  # the step's own column stays per step


def test_too_few_requests_waits_at_the_interval_end_rather_than_judging() -> None:
    start = decide(observed(strategy=SEQUENTIAL, totals=totals(v1_0_0=(5000, 50, 0))))
    plan = decide(
        then(
            start,
            strategy=SEQUENTIAL,
            now=T0 + timedelta(seconds=11),
            totals=totals(v1_0_0=(5100, 51, 0), v1_1_0=(10, 5, 0)),
        )
    )
    assert (plan.phase, plan.reason) == ("Progressing", "WaitingForRequests")
    assert plan.analysis is not None
    assert plan.analysis.decision == "Waiting"


def test_a_slower_version_fails_on_the_share_of_slow_requests_naming_the_bound() -> None:
    analysis = CanaryAnalysis(method="sequential")
    verdict, report = judge_sequential(
        analysis,
        snapshot(2000, 20, 300),
        snapshot(20_000, 200, 300),
        BOUNDS,
        interval_over=False,
    )
    assert (verdict.decision, verdict.gate) == ("Failed", "maxSlowShareIncrease")
    assert report.latency_bound_ms == pytest.approx(100.0)  # the p99 lies in 100 ms–1 s
    assert report.slow_share is not None
    assert report.slow_share.shown == "Worse"
    assert "share slower than 100 ms" in verdict.reason
    same, report = judge_sequential(
        analysis, snapshot(2000, 20, 30), snapshot(20_000, 200, 300), BOUNDS, interval_over=True
    )
    assert same.decision == "Passed"
    assert report.error_rate is not None
    assert report.error_rate.shown != "Worse"


def test_the_step_table_shows_the_increases_with_their_intervals() -> None:
    from mlops_operator.api.deployment import Deployment
    from mlops_operator.commands.rollout import render_status

    start = decide(observed(strategy=SEQUENTIAL, totals=totals(v1_0_0=(5000, 50, 0))))
    plan = decide(
        then(
            start,
            strategy=SEQUENTIAL,
            now=T0 + timedelta(seconds=4),
            totals=totals(v1_0_0=(6000, 60, 0), v1_1_0=(400, 40, 0)),
        )
    )
    assert plan.analysis is not None
    assert plan.analysis.sequential is not None
    errors = plan.analysis.sequential.error_rate
    assert errors is not None
    dep = Deployment.model_validate(
        {
            "apiVersion": "mlops.dev/v1alpha1",
            "kind": "Deployment",
            "metadata": {"name": "d", "namespace": "n"},
            "spec": {"model": "m", "version": "1.1.0"},
            "status": {"analysis": [plan.analysis.model_dump(mode="json", by_alias=True)]},
        }
    )
    text = render_status(dep)
    assert "VS STABLE (POINTS)" in text
    assert f"err +9.00 [{errors.lower * 100:+.2f}, {errors.upper * 100:+.2f}]" in text


def test_five_slow_answers_of_five_are_not_shown_worse_than_a_stable_slow_two_times_in_three() -> (
    None
):
    # seen live: a healthy canary's first five answers all over the 1 ms bound, stable's 15 of
    # 23; with p̂ = 1 the canary's variance was taken as 0 and the increase "shown worse"
    analysis = CanaryAnalysis.model_validate(
        {"method": "sequential", "minRequests": 5, "maxSlowShareIncrease": 0.02}
    )
    increase, lower, upper = non_inferiority.increase_interval(
        events_stable=15,
        samples_stable=23,
        events_new=5,
        samples_new=5,
        alpha=analysis.significance_level,
        tuned_samples=tuned_samples(analysis),
    )
    assert increase == pytest.approx(1 - 15 / 23)
    assert not non_inferiority.shown_worse(lower, tolerance=0.02), (lower, upper)
    # and a canary slow on every one of many requests is still shown worse
    _, lower, _ = non_inferiority.increase_interval(
        events_stable=15,
        samples_stable=23,
        events_new=60,
        samples_new=60,
        alpha=analysis.significance_level,
        tuned_samples=tuned_samples(analysis),
    )
    assert non_inferiority.shown_worse(lower, tolerance=0.02)
