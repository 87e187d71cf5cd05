"""The traffic of an A/B test: every arm at its weight while the test runs, the winner alone
once it has won.

The router splits by the variants' weights from the start, sticky by header when asked; while
some arm's servers are not ready the Deployment says it is waiting for them. A test that named
a winner sends all traffic to it and drains the other arms; one that ended without a winner
keeps the split (a person decides); one stopped by a sample ratio mismatch keeps it too, and
says the split needs fixing (Stalled).
"""

from __future__ import annotations

from datetime import datetime

from mlops_operator.api.deployment_status import AbTestResult, DrainingVersion, RolloutState
from mlops_operator.api.rollout import AbTestStrategy
from mlops_operator.rollout.plan import POLL_SECONDS, Plan


def ab_test_plan(
    strategy: AbTestStrategy,
    result: AbTestResult | None,
    *,
    state: RolloutState,
    ready: frozenset[str],
    now: datetime,
) -> Plan:
    """The weights, phase and condition of an A/B test's Deployment now."""
    state = state.model_copy(deep=True)
    weights = {v.version: v.weight for v in strategy.variants}
    control = strategy.variants[0].version
    split = ",".join(f"{v}={w}" for v, w in weights.items())
    if result is not None and result.decision == "Winner" and result.winner:
        winner = result.winner
        for version in weights:
            if version != winner and not any(d.version == version for d in state.draining):
                state.draining.append(DrainingVersion(version=version, since=now))
        return Plan(
            weights={winner: 100},
            stable=winner,
            canary=None,
            state=state,
            phase="Succeeded",
            condition="Ready",
            reason="AbTestWinner",
            message=f"{winner} won the A/B test and serves all traffic: {result.reason}",
        )
    if result is not None and result.decision == "SampleRatioMismatch":
        return Plan(
            weights=weights,
            stable=control,
            canary=None,
            state=state,
            phase="Aborted",
            condition="Stalled",
            reason="SampleRatioMismatch",
            message=f"A/B test stopped, traffic stays split {split}: {result.reason}",
        )
    missing = [v for v in weights if v not in ready]
    if missing:
        return Plan(
            weights=weights,
            stable=control,
            canary=None,
            state=state,
            phase="Progressing",
            condition="Waiting",
            reason="WaitingForPods",
            message=f"A/B test waits for the servers of {', '.join(missing)} to be ready",
            requeue_after=POLL_SECONDS,
        )
    ended = result is not None and result.decision == "NoDifference"
    return Plan(
        weights=weights,
        stable=control,
        canary=None,
        state=state,
        phase="Succeeded" if ended else "Progressing",
        condition="Ready",
        reason="AbTestNoDifference" if ended else "AbTestRunning",
        message=(result.reason if ended and result is not None else f"A/B test running: {split}"),
    )
