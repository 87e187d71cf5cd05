"""How a rollout ends: the new version promoted to all traffic, or everything sent back to stable
at once (a failed gate, pods not ready in time, an abort) with the failed version not retried."""

from __future__ import annotations

from mlops_operator.api.deployment_status import AnalysisRun, DeploymentPhase, RolloutState
from mlops_operator.rollout.plan import Observed, Plan
from mlops_operator.rollout.traffic import drain, steady_weights


def roll_back(
    o: Observed,
    state: RolloutState,
    *,
    reason: str,
    message: str,
    phase: DeploymentPhase = "RolledBack",
    analysis: AnalysisRun | None = None,
) -> Plan:
    """Everything back to stable at once; the failed version drains and is not retried."""
    target = state.target
    state.failed_version = target
    state.failure = message
    state.target = None
    state.step = None
    state.step_started_at = None
    state.baseline = []
    state.canary_baseline = []
    drain(state, target, o.now, keep={o.stable} if o.stable else set())
    event = (
        "Warning",
        reason,
        f"{target}: {message}; traffic back to {o.stable}" if o.stable else f"{target}: {message}",
    )
    return Plan(
        weights=steady_weights(o.stable),
        stable=o.stable,
        canary=None,
        state=state,
        phase=phase,
        condition="Stalled",
        reason=reason,
        message=event[2],
        analysis=analysis,
        events=[event],  # type: ignore[list-item]
    )


def promote(o: Observed, state: RolloutState, *, how: str) -> Plan:
    target = state.target
    assert target is not None
    old = o.stable
    state.target = None
    state.step = None
    state.step_started_at = None
    state.baseline = []
    state.canary_baseline = []
    state.started_at = None
    drain(state, old, o.now, keep={target})
    message = f"{target} serves all traffic ({how})" + (f"; {old} drains" if old else "")
    return Plan(
        weights={target: 100},
        stable=target,
        canary=None,
        state=state,
        phase="Succeeded",
        condition="Ready",
        reason="RolloutSucceeded" if old else "Serving",
        message=message,
        events=[("Normal", "Promoted" if old else "Serving", message)],
    )
