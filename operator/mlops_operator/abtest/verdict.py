"""From the counts of every arm to the Deployment's ``status.abTest``: per-arm figures, p-value,
decision and reason.

The first variant is the control; each other arm is compared with it (pairwise, so 1 to 3
comparisons). Bonferroni keeps the family-wise error at the configured level: each comparison
is tested at α/(k − 1) and its p-value is reported multiplied by k − 1. For ``msprt`` the
p-values are always-valid and only ever fall (the running minimum is carried in the previous
status); for ``z-test`` the comparison happens once, when every arm has ``minSamples``.

The decision, in order: a concluded test stays concluded; a sample ratio mismatch stops the
test; an arm below ``minSamples`` keeps it running; an arm significantly better than the control
wins (the best estimate, if several are); the control wins when it is significantly better than
every other arm; otherwise a z-test, or an msprt test with every arm at ``maxSamples``, ends with
no difference, and an msprt test below that keeps running.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from mlops_operator.abtest import fixed_horizon
from mlops_operator.abtest.sample_ratio import SAMPLE_RATIO_LEVEL, sample_ratio
from mlops_operator.api.deployment_status import AbArmResult, AbTestResult
from mlops_operator.api.rollout import AbTestStrategy
from mlops_operator.statistics import always_valid


@dataclass(frozen=True)
class ArmCounts:
    """What was observed for one arm, summed over its pods.

    ``successes`` counts correct predictions for accuracy and failed requests for error-rate.
    """

    version: str
    samples: int
    successes: int

    def __post_init__(self) -> None:
        if not 0 <= self.successes <= self.samples:
            raise ValueError(
                f"arm {self.version}: need 0 <= successes <= samples, "
                f"got {self.successes} of {self.samples}"
            )


@dataclass(frozen=True)
class _Comparison:
    version: str
    difference: float
    p_value: float  # corrected for the number of comparisons

    def better(self, *, higher_is_better: bool) -> bool:
        return self.difference > 0 if higher_is_better else self.difference < 0


def tuned_samples(strategy: AbTestStrategy) -> float:
    """N* of the mixture: a comparison's samples when both arms have ``minSamples``."""
    return 2.0 * strategy.min_samples


def evaluate(
    strategy: AbTestStrategy,
    counts: Sequence[ArmCounts],
    *,
    previous: AbTestResult | None = None,
) -> AbTestResult:
    """The test's state after the latest counts (``counts`` in any order, one per variant)."""
    by_version = {c.version: c for c in counts}
    arms = [by_version.get(v.version, ArmCounts(v.version, 0, 0)) for v in strategy.variants]
    if previous is not None and not _same_test(strategy, previous):
        previous = None
    if previous is not None and previous.concluded:
        return previous
    weights = [v.weight for v in strategy.variants]
    ratio = sample_ratio([a.samples for a in arms], weights)
    result = AbTestResult(
        metric=strategy.metric,
        method=strategy.method,
        samples={a.version: a.samples for a in arms},
        values={a.version: a.successes / a.samples for a in arms if a.samples},
        arms=_arm_results(strategy, arms, comparisons=[]),
        sample_ratio_p_value=ratio.p_value,
        p_value=previous.p_value if previous is not None else None,
    )
    total = sum(a.samples for a in arms)
    if ratio.mismatch and total >= strategy.min_samples:
        split = ", ".join(f"{a.version}={a.samples}" for a in arms)
        planned = "/".join(str(w) for w in weights)
        return result.model_copy(
            update={
                "decision": "SampleRatioMismatch",
                "concluded": True,
                "reason": f"samples {split} do not match the weights {planned}: chi-square "
                f"p={ratio.p_value:.2g} < {SAMPLE_RATIO_LEVEL}; fix the traffic split (is the "
                "sticky header varied?) and start a new test",
            }
        )
    short = [a for a in arms if a.samples < strategy.min_samples]
    if short:
        waiting = ", ".join(f"{a.version} has {a.samples}" for a in short)
        return result.model_copy(
            update={"reason": f"waiting for {strategy.min_samples} samples per arm: {waiting}"}
        )
    comparisons = _compare(strategy, arms, previous)
    result = result.model_copy(
        update={
            "arms": _arm_results(strategy, arms, comparisons=comparisons),
            "p_value": min(c.p_value for c in comparisons),
        }
    )
    return _decide(strategy, arms, comparisons, result)


def _same_test(strategy: AbTestStrategy, previous: AbTestResult) -> bool:
    versions = [v.version for v in strategy.variants]
    return (
        previous.method == strategy.method
        and previous.metric == strategy.metric
        and [a.version for a in previous.arms] == versions
    )


def _compare(
    strategy: AbTestStrategy, arms: list[ArmCounts], previous: AbTestResult | None
) -> list[_Comparison]:
    control, others = arms[0], arms[1:]
    family = len(others)
    alpha = strategy.significance_level / family
    before = {a.version: a.p_value for a in previous.arms} if previous is not None else {}
    found: list[_Comparison] = []
    for arm in others:
        difference = arm.successes / arm.samples - control.successes / control.samples
        if strategy.method == "z-test":
            raw = fixed_horizon.z_test(
                successes_a=control.successes,
                samples_a=control.samples,
                successes_b=arm.successes,
                samples_b=arm.samples,
            )
        else:
            _, look, _ = always_valid.compare(
                successes_a=float(control.successes),
                samples_a=float(control.samples),
                successes_b=float(arm.successes),
                samples_b=float(arm.samples),
                alpha=alpha,
                tuned_samples=tuned_samples(strategy),
            )
            raw = float(look)
        p_value = min(1.0, raw * family)
        earlier = before.get(arm.version)
        if strategy.method == "msprt" and earlier is not None:
            p_value = min(p_value, earlier)
        found.append(_Comparison(arm.version, difference, p_value))
    return found


def _arm_results(
    strategy: AbTestStrategy, arms: list[ArmCounts], *, comparisons: list[_Comparison]
) -> list[AbArmResult]:
    p_values = {c.version: c.p_value for c in comparisons}
    alpha = strategy.significance_level
    results = []
    for index, (variant, arm) in enumerate(zip(strategy.variants, arms, strict=True)):
        value = low = high = None
        if arm.samples:
            value = arm.successes / arm.samples
            if strategy.method == "z-test":
                low, high = fixed_horizon.wald_interval(
                    successes=arm.successes, samples=arm.samples, alpha=alpha
                )
            else:
                low, high = always_valid.proportion_interval(
                    successes=arm.successes,
                    samples=arm.samples,
                    alpha=alpha,
                    tuned_samples=float(strategy.min_samples),
                )
        results.append(
            AbArmResult(
                version=arm.version,
                weight=variant.weight,
                control=index == 0,
                samples=arm.samples,
                successes=arm.successes,
                value=value,
                ci_lower=low,
                ci_upper=high,
                p_value=p_values.get(arm.version),
            )
        )
    return results


def _decide(
    strategy: AbTestStrategy,
    arms: list[ArmCounts],
    comparisons: list[_Comparison],
    result: AbTestResult,
) -> AbTestResult:
    higher = strategy.metric == "accuracy"
    alpha = strategy.significance_level
    control = arms[0]
    values = {a.version: a.successes / a.samples for a in arms}
    significant = [c for c in comparisons if c.p_value <= alpha]
    better = [c for c in significant if c.better(higher_is_better=higher)]
    metric = strategy.metric
    if better:
        best = max(better, key=lambda c: c.difference if higher else -c.difference)
        return result.model_copy(
            update={
                "decision": "Winner",
                "winner": best.version,
                "concluded": True,
                "reason": f"{best.version} beats the control {control.version} on {metric}: "
                f"{values[best.version]:.4f} against {values[control.version]:.4f}, "
                f"p={best.p_value:.3g} <= {alpha}",
            }
        )
    if len(significant) == len(comparisons):
        worst_p = max(c.p_value for c in comparisons)
        return result.model_copy(
            update={
                "decision": "Winner",
                "winner": control.version,
                "concluded": True,
                "reason": f"the control {control.version} beats every other arm on {metric} "
                f"({values[control.version]:.4f}), p <= {worst_p:.3g}",
            }
        )
    p_value = min(c.p_value for c in comparisons)
    if strategy.method == "z-test":
        return result.model_copy(
            update={
                "decision": "NoDifference",
                "concluded": True,
                "reason": f"no significant difference on {metric} at {strategy.min_samples} "
                f"samples per arm: p={p_value:.3g} > {alpha}",
            }
        )
    if all(a.samples >= strategy.max_samples for a in arms):
        return result.model_copy(
            update={
                "decision": "NoDifference",
                "concluded": True,
                "reason": f"no significant difference on {metric} after {strategy.max_samples} "
                f"samples per arm: p={p_value:.3g} > {alpha}",
            }
        )
    return result.model_copy(
        update={"reason": f"no significant difference on {metric} yet: p={p_value:.3g} > {alpha}"}
    )
