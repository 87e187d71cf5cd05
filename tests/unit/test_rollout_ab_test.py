"""The traffic of an A/B test: the arms' split, the winner alone, a stopped test kept split."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from mlops_operator.abtest.verdict import ArmCounts, evaluate
from mlops_operator.api.deployment import Deployment
from mlops_operator.api.deployment_status import RolloutState
from mlops_operator.api.rollout import AbTestStrategy
from mlops_operator.builders.router import router_config
from mlops_operator.rollout.ab_test import ab_test_plan

pytestmark = pytest.mark.unit

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
STRATEGY = AbTestStrategy.model_validate(
    {
        "variants": [{"version": "1.0.0", "weight": 30}, {"version": "1.1.0", "weight": 70}],
        "stickyHeader": "x-user-id",
        "minSamples": 100,
    }
)
BOTH = frozenset({"1.0.0", "1.1.0"})


def test_the_arms_get_their_weights_and_the_deployment_says_when_pods_are_missing() -> None:
    plan = ab_test_plan(STRATEGY, None, state=RolloutState(), ready=BOTH, now=NOW)
    assert plan.weights == {"1.0.0": 30, "1.1.0": 70}
    assert (plan.stable, plan.phase, plan.condition, plan.reason) == (
        "1.0.0",
        "Progressing",
        "Ready",
        "AbTestRunning",
    )
    waiting = ab_test_plan(STRATEGY, None, state=RolloutState(), ready=frozenset(), now=NOW)
    assert waiting.weights == plan.weights
    assert (waiting.condition, waiting.reason) == ("Waiting", "WaitingForPods")


def test_a_winner_takes_all_traffic_and_the_other_arm_drains() -> None:
    won = evaluate(STRATEGY, [ArmCounts("1.0.0", 900, 700), ArmCounts("1.1.0", 2100, 1900)])
    assert won.winner == "1.1.0"
    plan = ab_test_plan(STRATEGY, won, state=RolloutState(), ready=BOTH, now=NOW)
    assert plan.weights == {"1.1.0": 100}
    assert plan.stable == "1.1.0"
    assert [d.version for d in plan.state.draining] == ["1.0.0"]
    assert (plan.phase, plan.reason) == ("Succeeded", "AbTestWinner")
    again = ab_test_plan(STRATEGY, won, state=plan.state, ready=BOTH, now=NOW)
    assert len(again.state.draining) == 1  # drained once


def test_a_broken_split_keeps_the_split_and_stalls_with_the_reason() -> None:
    stopped = evaluate(STRATEGY, [ArmCounts("1.0.0", 500, 400), ArmCounts("1.1.0", 0, 0)])
    plan = ab_test_plan(STRATEGY, stopped, state=RolloutState(), ready=BOTH, now=NOW)
    assert plan.weights == {"1.0.0": 30, "1.1.0": 70}
    assert (plan.phase, plan.condition, plan.reason) == (
        "Aborted",
        "Stalled",
        "SampleRatioMismatch",
    )
    assert "do not match the weights 30/70" in plan.message


def test_the_router_keeps_callers_on_one_arm_by_the_sticky_header() -> None:
    dep = Deployment.model_validate(
        {
            "apiVersion": "mlops.dev/v1alpha1",
            "kind": "Deployment",
            "metadata": {"name": "ab", "namespace": "ns"},
            "spec": {
                "model": "m",
                "strategy": {"type": "ab-test", "abTest": STRATEGY.to_wire()},
            },
        }
    )
    config = router_config(dep, {"1.0.0": 30, "1.1.0": 70})
    assert config.sticky_header == "x-user-id"
    assert [(b.version, b.weight) for b in config.backends] == [("1.0.0", 30), ("1.1.0", 70)]
