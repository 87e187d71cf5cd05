"""From arm counts to status.abTest: waiting, sample ratio stops, winners, horizons, p-values."""

from __future__ import annotations

from typing import Any

import pytest
from scipy.stats import chi2_contingency

from mlops_operator.abtest.verdict import ArmCounts, evaluate
from mlops_operator.api.rollout import AbTestStrategy

pytestmark = pytest.mark.unit


def _strategy(**over: Any) -> AbTestStrategy:
    spec: dict[str, Any] = {
        "variants": [{"version": "1.0.0", "weight": 50}, {"version": "1.1.0", "weight": 50}],
        "minSamples": 200,
        "maxSamples": 5000,
    }
    spec.update(over)
    return AbTestStrategy.model_validate(spec)


def test_waits_until_every_arm_has_min_samples() -> None:
    result = evaluate(_strategy(), [ArmCounts("1.0.0", 120, 100), ArmCounts("1.1.0", 110, 90)])
    assert result.decision == "Running"
    assert not result.concluded
    assert "1.0.0 has 120" in result.reason
    assert [a.version for a in result.arms] == ["1.0.0", "1.1.0"]
    assert result.arms[0].control
    assert result.arms[0].value == pytest.approx(100 / 120)
    assert result.arms[0].ci_lower is not None
    assert result.arms[0].ci_lower < 100 / 120 < (result.arms[0].ci_upper or 0)


def test_a_broken_split_stops_with_the_sample_ratio_reason() -> None:
    result = evaluate(_strategy(), [ArmCounts("1.0.0", 400, 330), ArmCounts("1.1.0", 0, 0)])
    assert result.decision == "SampleRatioMismatch"
    assert result.concluded
    assert result.winner is None
    assert "1.0.0=400, 1.1.0=0" in result.reason
    assert "50/50" in result.reason
    assert (result.sample_ratio_p_value or 1) < 0.001


def test_a_clear_difference_names_the_better_arm() -> None:
    result = evaluate(_strategy(), [ArmCounts("1.0.0", 1500, 1200), ArmCounts("1.1.0", 1500, 1350)])
    assert result.decision == "Winner"
    assert result.winner == "1.1.0"
    assert result.concluded
    assert (result.p_value or 1) <= 0.05
    assert result.arms[1].p_value == result.p_value
    assert "beats the control 1.0.0" in result.reason


def test_the_control_wins_when_it_is_better() -> None:
    result = evaluate(_strategy(), [ArmCounts("1.0.0", 1500, 1350), ArmCounts("1.1.0", 1500, 1200)])
    assert result.winner == "1.0.0"


def test_error_rate_lower_is_better() -> None:
    strategy = _strategy(metric="error-rate")
    result = evaluate(strategy, [ArmCounts("1.0.0", 3000, 150), ArmCounts("1.1.0", 3000, 60)])
    assert result.winner == "1.1.0"


def test_msprt_keeps_running_on_a_small_difference_and_ends_at_the_horizon() -> None:
    strategy = _strategy()
    early = evaluate(strategy, [ArmCounts("1.0.0", 1000, 800), ArmCounts("1.1.0", 1000, 810)])
    assert early.decision == "Running"
    assert "no significant difference on accuracy yet" in early.reason
    late = evaluate(
        strategy, [ArmCounts("1.0.0", 5000, 4000), ArmCounts("1.1.0", 5000, 4010)], previous=early
    )
    assert late.decision == "NoDifference"
    assert late.concluded
    assert late.winner is None


def test_the_always_valid_p_value_only_falls() -> None:
    strategy = _strategy()
    first = evaluate(strategy, [ArmCounts("1.0.0", 1000, 800), ArmCounts("1.1.0", 1000, 835)])
    second = evaluate(
        strategy, [ArmCounts("1.0.0", 1200, 960), ArmCounts("1.1.0", 1200, 962)], previous=first
    )
    assert first.p_value is not None
    assert second.p_value == first.p_value
    fresh = evaluate(strategy, [ArmCounts("1.0.0", 1200, 960), ArmCounts("1.1.0", 1200, 962)])
    assert (fresh.p_value or 0) > first.p_value


def test_the_z_test_is_evaluated_once_at_min_samples_with_scipys_p_value() -> None:
    strategy = _strategy(method="z-test")
    result = evaluate(strategy, [ArmCounts("1.0.0", 200, 160), ArmCounts("1.1.0", 200, 166)])
    expected = chi2_contingency([[160, 40], [166, 34]], correction=False).pvalue
    assert result.p_value == pytest.approx(expected)
    assert result.decision == "NoDifference"
    assert result.concluded
    assert "at 200 samples per arm" in result.reason


def test_three_arms_are_compared_with_the_control_with_bonferroni() -> None:
    strategy = _strategy(
        variants=[
            {"version": "1.0.0", "weight": 40},
            {"version": "1.1.0", "weight": 30},
            {"version": "1.2.0", "weight": 30},
        ],
        method="z-test",
    )
    counts = [
        ArmCounts("1.0.0", 400, 320),
        ArmCounts("1.1.0", 300, 252),
        ArmCounts("1.2.0", 300, 240),
    ]
    result = evaluate(strategy, counts)
    raw = chi2_contingency([[320, 80], [252, 48]], correction=False).pvalue
    assert result.arms[1].p_value == pytest.approx(min(1.0, 2 * raw))
    assert result.arms[0].p_value is None


def test_a_concluded_test_stays_concluded_and_another_test_starts_afresh() -> None:
    strategy = _strategy()
    won = evaluate(strategy, [ArmCounts("1.0.0", 1500, 1200), ArmCounts("1.1.0", 1500, 1350)])
    again = evaluate(
        strategy, [ArmCounts("1.0.0", 1600, 1400), ArmCounts("1.1.0", 1600, 1200)], previous=won
    )
    assert again == won
    other = _strategy(
        variants=[{"version": "1.0.0", "weight": 50}, {"version": "2.0.0", "weight": 50}]
    )
    fresh = evaluate(other, [ArmCounts("1.0.0", 10, 8), ArmCounts("2.0.0", 10, 9)], previous=won)
    assert fresh.decision == "Running"


def test_counts_that_cannot_be_are_refused() -> None:
    with pytest.raises(ValueError, match="successes <= samples"):
        ArmCounts("1.0.0", 10, 11)


def test_max_samples_below_min_samples_is_refused() -> None:
    with pytest.raises(ValueError, match="maxSamples must be at least"):
        _strategy(minSamples=1000, maxSamples=500)
