"""The rollout state machine, step by step, without a cluster."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from mlops_operator.api.deployment_status import CounterSnapshot, RolloutState
from mlops_operator.api.rollout import RolloutStrategy
from mlops_operator.rollout.decide import decide
from mlops_operator.rollout.measure import RouterTotals
from mlops_operator.rollout.plan import (
    POLL_SECONDS,
    Observed,
    Plan,
    RolloutRequest,
)

pytestmark = pytest.mark.unit

T0 = datetime(2026, 1, 1, tzinfo=UTC)
BOUNDS = [0.01, 0.1, 1.0, float("inf")]


def canary(**analysis: Any) -> RolloutStrategy:
    return RolloutStrategy.model_validate(
        {
            "type": "canary",
            "canary": {
                "stepWeights": [10, 25, 50],
                "intervalSeconds": 10,
                "analysis": {"maxErrorRate": 0.05, "maxP99LatencyMs": 500, "minRequests": 20}
                | analysis,
            },
        }
    )


def totals(**per_version: tuple[int, int, int]) -> RouterTotals:
    """version → (requests, errors, requests slower than 0.1 s)."""
    result = RouterTotals(bounds=BOUNDS)
    for key, (requests, errors, slow) in per_version.items():
        version = key.replace("_", ".").lstrip("v")
        fast = requests - slow
        result.versions[version] = CounterSnapshot(
            version=version,
            requests=requests,
            errors=errors,
            buckets=[fast, fast, requests, requests],
        )
    return result


def observed(**changes: Any) -> Observed:
    base = Observed(
        desired="1.1.0",
        problem=None,
        problem_is_stalled=False,
        stable="1.0.0",
        state=RolloutState(),
        strategy=canary(),
        paused=False,
        request=None,
        ready=frozenset({"1.0.0", "1.1.0"}),
        totals=totals(v1_0_0=(0, 0, 0), v1_1_0=(0, 0, 0)),
        metrics_error=None,
        progress_deadline_seconds=60,
        now=T0,
    )
    return replace(base, **changes)


def then(plan: Plan, **changes: Any) -> Observed:
    """The next observation: the plan's state and stable version carried over."""
    return observed(state=plan.state, stable=plan.stable, **changes)


def test_first_version_is_served_once_ready_whatever_the_strategy() -> None:
    waiting = decide(observed(stable=None, desired="1.0.0", ready=frozenset()))
    assert (waiting.phase, waiting.reason, waiting.weights) == (
        "Progressing",
        "WaitingForPods",
        {"1.0.0": 100},
    )
    assert waiting.requeue_after is not None
    served = decide(then(waiting, desired="1.0.0", ready=frozenset({"1.0.0"})))
    assert (served.phase, served.stable, served.weights) == ("Succeeded", "1.0.0", {"1.0.0": 100})
    assert served.condition == "Ready"


def test_direct_switches_only_when_the_new_pods_are_ready_then_drains_the_old() -> None:
    strategy = RolloutStrategy(type="direct")
    waiting = decide(observed(strategy=strategy, ready=frozenset({"1.0.0"})))
    assert waiting.weights == {"1.0.0": 100}
    assert waiting.canary == "1.1.0"
    switched = decide(then(waiting, strategy=strategy, now=T0 + timedelta(seconds=5)))
    assert switched.weights == {"1.1.0": 100}
    assert switched.stable == "1.1.0"
    assert [d.version for d in switched.state.draining] == ["1.0.0"]
    steady = decide(then(switched, strategy=strategy))
    assert (steady.phase, steady.reason) == ("Succeeded", "Serving")


def test_healthy_canary_walks_10_25_50_then_100_with_measurements() -> None:
    plan = decide(observed(totals=totals(v1_0_0=(1000, 0, 0), v1_1_0=(0, 0, 0))))
    assert plan.weights == {"1.0.0": 90, "1.1.0": 10}
    assert plan.state.step == 0
    assert plan.requeue_after == 10
    seen = []
    served = 0
    for step, weight in enumerate([25, 50], start=1):
        early = decide(then(plan, now=T0 + timedelta(seconds=10 * step - 5)))
        assert early.weights == plan.weights  # not judged before the interval ends
        served += 30
        plan = decide(
            then(
                plan,
                now=T0 + timedelta(seconds=10 * step),
                totals=totals(v1_0_0=(1000 + 100 * step, 0, 0), v1_1_0=(served, 0, 0)),
            )
        )
        assert plan.analysis is not None
        seen.append(plan.analysis)
        assert plan.analysis.canary.requests == 30  # this step's requests only
        assert plan.analysis.stable.requests == 100
        assert plan.weights == {"1.0.0": 100 - weight, "1.1.0": weight}
    served += 30
    plan = decide(
        then(
            plan,
            now=T0 + timedelta(seconds=30),
            totals=totals(v1_0_0=(1300, 0, 0), v1_1_0=(served, 0, 0)),
        )
    )
    assert plan.weights == {"1.1.0": 100}
    assert (plan.phase, plan.stable, plan.reason) == ("Succeeded", "1.1.0", "RolloutSucceeded")
    assert [d.version for d in plan.state.draining] == ["1.0.0"]
    assert all(run.decision == "Passed" for run in [*seen, plan.analysis])


def test_too_few_requests_waits_and_says_so() -> None:
    start = decide(observed())
    plan = decide(
        then(
            start,
            now=T0 + timedelta(seconds=10),
            totals=totals(v1_0_0=(100, 0, 0), v1_1_0=(3, 0, 0)),
        )
    )
    assert plan.reason == "WaitingForRequests"
    assert "3 of the 20" in plan.message
    assert plan.weights == {"1.0.0": 90, "1.1.0": 10}
    assert plan.analysis is not None
    assert plan.analysis.decision == "Waiting"


@pytest.mark.parametrize(
    ("strategy", "canary_traffic", "stable_traffic", "gate"),
    [
        (canary(), (40, 10, 0), (400, 0, 0), "maxErrorRate"),
        (canary(), (40, 0, 40), (400, 0, 0), "maxP99LatencyMs"),
        (canary(maxErrorRateIncrease=0.01), (100, 4, 0), (400, 0, 0), "maxErrorRateIncrease"),
        (
            canary(maxLatencyRatio=1.5, maxP99LatencyMs=5000),
            (40, 0, 40),
            (400, 0, 0),
            "maxLatencyRatio",
        ),
    ],
)
def test_a_failed_gate_rolls_back_at_once_naming_gate_value_and_limit(
    strategy: RolloutStrategy,
    canary_traffic: tuple[int, int, int],
    stable_traffic: tuple[int, int, int],
    gate: str,
) -> None:
    start = decide(observed(strategy=strategy))
    plan = decide(
        then(
            start,
            strategy=strategy,
            now=T0 + timedelta(seconds=10),
            totals=totals(v1_0_0=stable_traffic, v1_1_0=canary_traffic),
        )
    )
    assert plan.weights == {"1.0.0": 100}
    assert (plan.phase, plan.reason, plan.condition) == ("RolledBack", "RolledBack", "Stalled")
    assert plan.analysis is not None
    assert plan.analysis.gate == gate
    assert gate in plan.message
    assert plan.state.failed_version == "1.1.0"
    assert [d.version for d in plan.state.draining] == ["1.1.0"]
    assert plan.events[0][:2] == ("Warning", "RolledBack")
    # not tried again while the same version is asked for
    again = decide(then(plan, strategy=strategy, now=T0 + timedelta(seconds=60)))
    assert again.weights == {"1.0.0": 100}
    assert again.phase == "RolledBack"
    # a new version is rolled out normally
    newer = decide(
        then(plan, strategy=strategy, desired="1.2.0", ready=frozenset({"1.0.0", "1.2.0"}))
    )
    assert newer.weights == {"1.0.0": 90, "1.2.0": 10}


def test_pods_never_ready_roll_back_at_the_progress_deadline() -> None:
    start = decide(observed(ready=frozenset({"1.0.0"})))
    assert start.reason == "WaitingForPods"
    assert start.weights == {"1.0.0": 100}
    late = decide(then(start, ready=frozenset({"1.0.0"}), now=T0 + timedelta(seconds=61)))
    assert (late.reason, late.weights) == ("ProgressDeadlineExceeded", {"1.0.0": 100})
    assert "progressDeadlineSeconds 60" in late.message


def test_waiting_for_pods_polls_only_what_no_watch_event_reports() -> None:
    """Pods not ready: the server Deployment's watch events wake the rollout, so it looks
    again only at the progress deadline; pods ready but not yet listed by their Service (no
    event follows the EndpointSlices): it looks again every second."""
    starting = decide(observed(ready=frozenset({"1.0.0"}), progress_deadline_seconds=600))
    assert starting.reason == "WaitingForPods"
    assert starting.requeue_after == pytest.approx(600)
    later = decide(
        then(
            starting,
            ready=frozenset({"1.0.0"}),
            progress_deadline_seconds=600,
            now=T0 + timedelta(seconds=30),
        )
    )
    assert later.requeue_after == pytest.approx(570)
    # the message does not count the seconds waited: a look that changes nothing writes nothing
    assert later.message == starting.message
    near = decide(
        then(
            starting,
            ready=frozenset({"1.0.0"}),
            progress_deadline_seconds=600,
            now=T0 + timedelta(seconds=595.5),
        )
    )
    assert near.reason == "WaitingForPods"
    assert near.requeue_after == pytest.approx(4.5)
    listing = decide(
        observed(
            ready=frozenset({"1.0.0"}),
            pods_ready=frozenset({"1.0.0", "1.1.0"}),
            progress_deadline_seconds=600,
        )
    )
    assert listing.reason == "WaitingForPods"
    assert listing.requeue_after == POLL_SECONDS


def test_pause_holds_the_weights_and_resume_goes_on() -> None:
    start = decide(observed())
    paused = decide(then(start, paused=True, now=T0 + timedelta(seconds=30)))
    assert (paused.phase, paused.weights) == ("Paused", {"1.0.0": 90, "1.1.0": 10})
    assert paused.requeue_after is None
    resumed = decide(
        then(
            paused,
            now=T0 + timedelta(seconds=31),
            totals=totals(v1_0_0=(100, 0, 0), v1_1_0=(30, 0, 0)),
        )
    )
    assert resumed.weights == {"1.0.0": 75, "1.1.0": 25}


def test_promote_skips_the_remaining_steps() -> None:
    start = decide(observed())
    plan = decide(then(start, request=RolloutRequest("promote", "t1")))
    assert (plan.weights, plan.stable) == ({"1.1.0": 100}, "1.1.0")
    assert plan.state.handled_request == "t1"


def test_abort_returns_to_stable_and_retry_starts_again() -> None:
    start = decide(observed())
    aborted = decide(then(start, request=RolloutRequest("abort", "a1")))
    assert (aborted.phase, aborted.reason, aborted.weights) == (
        "Aborted",
        "Aborted",
        {"1.0.0": 100},
    )
    # the same request seen again (a restart, another event) changes nothing
    still = decide(then(aborted, request=RolloutRequest("abort", "a1")))
    assert (still.phase, still.weights) == ("Aborted", {"1.0.0": 100})
    retried = decide(
        then(still, request=RolloutRequest("retry", "r1"), now=T0 + timedelta(seconds=5))
    )
    assert retried.state.failed_version is None
    assert retried.weights == {"1.0.0": 90, "1.1.0": 10}
    assert retried.state.step == 0


def test_a_restart_continues_from_the_recorded_step() -> None:
    start = decide(observed())
    second = decide(
        then(
            start,
            now=T0 + timedelta(seconds=10),
            totals=totals(v1_0_0=(100, 0, 0), v1_1_0=(30, 0, 0)),
        )
    )
    assert second.state.step == 1
    # a fresh process reads the same status: nothing resets to step 0
    state = RolloutState.model_validate(second.state.to_wire())
    resumed = decide(observed(state=state, now=T0 + timedelta(seconds=12)))
    assert resumed.state.step == 1
    assert resumed.weights == {"1.0.0": 75, "1.1.0": 25}


def test_unreadable_metrics_wait_rather_than_judge() -> None:
    start = decide(observed())
    plan = decide(then(start, now=T0 + timedelta(seconds=10), totals=None, metrics_error="timeout"))
    assert plan.reason == "MetricsUnavailable"
    assert "timeout" in plan.message
    assert plan.weights == {"1.0.0": 90, "1.1.0": 10}


def test_a_missing_version_keeps_the_stable_one_serving() -> None:
    plan = decide(
        observed(
            desired=None, problem="ModelVersion fraud 1.1.0 does not exist", problem_is_stalled=True
        )
    )
    assert plan.weights == {"1.0.0": 100}
    assert plan.condition == "Stalled"
    assert "does not exist" in plan.message
    nothing = decide(
        observed(desired=None, stable=None, problem="waiting", problem_is_stalled=False)
    )
    assert (nothing.weights, nothing.phase, nothing.condition) == ({}, "Pending", "Waiting")


def test_a_new_version_during_a_canary_replaces_the_rollout() -> None:
    start = decide(observed())
    plan = decide(then(start, desired="1.2.0", ready=frozenset({"1.0.0", "1.1.0"})))
    assert plan.state.target == "1.2.0"
    assert [d.version for d in plan.state.draining] == ["1.1.0"]
    assert plan.weights == {"1.0.0": 100}
