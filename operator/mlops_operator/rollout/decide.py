"""The rollout state machine: what a Deployment observed → the next weights, step and phase.

Level-triggered: every call starts from the state kept in status (``RolloutState``) and what
was observed now, so a restarted operator goes on from the step it was in. The stable version
keeps its traffic until the new one has earned it; a failed gate, pods not ready in time or an
abort send everything back to stable at once, and the failed version is not tried again until
the version asked for changes or a retry is requested.

This module picks the version to roll out and waits for its pods; the rest lives beside it:
``plan`` (what is observed and what is returned), ``traffic`` (weights per state, draining),
``manual`` (promote/abort/retry requests), ``canary`` (steps judged on their own requests) and
``endings`` (promotion, rollback).
"""

from __future__ import annotations

from mlops_operator.api.deployment_status import DeploymentPhase, RolloutState
from mlops_operator.rollout.canary import canary_step
from mlops_operator.rollout.endings import promote, roll_back
from mlops_operator.rollout.manual import handle_request
from mlops_operator.rollout.plan import (
    POLL_SECONDS,
    Observed,
    Plan,
    RolloutAction,
)
from mlops_operator.rollout.traffic import (
    canary_of,
    current_weights,
    drain,
    seconds_since,
    steady_weights,
)


def decide(o: Observed) -> Plan:
    state = o.state.model_copy(deep=True)
    action, aborted = handle_request(o, state)
    if aborted is not None:
        return aborted
    desired = o.desired
    if desired is None:
        return Plan(
            weights=current_weights(o, state) if state.target else steady_weights(o.stable),
            stable=o.stable,
            canary=state.target,
            state=state,
            phase="Pending" if o.stable is None else "Paused",
            condition="Stalled" if o.problem_is_stalled else "Waiting",
            reason="VersionUnavailable",
            message=(o.problem or "no version to serve")
            + (f"; {o.stable} keeps serving" if o.stable else ""),
            requeue_after=None if o.problem_is_stalled else POLL_SECONDS * 5,
        )
    if state.target is not None and state.target != desired:
        # the spec (or the stage) moved on while a rollout ran: that one ends, the new one starts
        drain(state, state.target, o.now, keep={o.stable or "", desired})
        state.target = None
        state.step = None
        state.baseline = []
        state.canary_baseline = []
    if desired == o.stable:
        state.target = None
        state.step = None
        state.step_started_at = None
        state.started_at = None
        state.baseline = []
        state.canary_baseline = []
        return Plan(
            weights=steady_weights(o.stable),
            stable=o.stable,
            canary=None,
            state=state,
            phase="Succeeded",
            condition="Ready",
            reason="Serving",
            message=f"{o.stable} serves all traffic",
        )
    if desired == state.failed_version:
        phase: DeploymentPhase = (
            "Aborted" if (state.failure or "").startswith("rollout aborted") else "RolledBack"
        )
        return Plan(
            weights=steady_weights(o.stable),
            stable=o.stable,
            canary=None,
            state=state,
            phase=phase,
            condition="Stalled",
            reason="Aborted" if phase == "Aborted" else "RolledBack",
            message=f"{desired} failed: {state.failure}; it is not rolled out again until the "
            "version asked for changes or `kubectl mlops rollout retry`",
        )
    if state.target != desired:
        state.target = desired
        state.started_at = o.now
        state.step = None
        state.step_started_at = None
        state.baseline = []
        state.canary_baseline = []
    return _progress(o, state, action)


def _progress(o: Observed, state: RolloutState, action: RolloutAction | None) -> Plan:
    target = state.target
    assert target is not None
    ready = target in o.ready
    weights = current_weights(o, state)
    canary = canary_of(o.strategy)
    if o.paused:
        return Plan(
            weights=weights,
            stable=o.stable,
            canary=target,
            state=state,
            phase="Paused",
            condition="Progressing",
            reason="Paused",
            message=f"rollout of {target} paused (spec.paused); `kubectl mlops rollout resume` "
            "goes on",
        )
    if not ready:
        waited = seconds_since(state.started_at, o.now)
        deadline = o.progress_deadline_seconds
        if waited >= deadline:
            return roll_back(
                o,
                state,
                reason="ProgressDeadlineExceeded",
                message=f"its pods were not ready after {waited:.0f} s "
                f"(progressDeadlineSeconds {deadline})",
            )
        return Plan(
            weights=weights if o.stable else {target: 100},
            stable=o.stable,
            canary=target if o.stable else None,
            state=state,
            phase="Promoting" if action == "promote" else "Progressing",
            condition="Progressing",
            reason="WaitingForPods",
            message=f"waiting for the pods of {target} to be ready "
            f"(progressDeadlineSeconds {deadline}: rolled back if they are not ready "
            f"{deadline} s after the rollout started)",
            requeue_after=_pods_wait(o, target, max(0.1, deadline - waited)),
        )
    if o.stable is None:
        return promote(o, state, how="first version")
    if action == "promote":
        return promote(o, state, how="promoted by request")
    if canary is None:
        return promote(o, state, how="direct")
    return canary_step(o, state, canary)


def _pods_wait(o: Observed, target: str, until_deadline: float) -> float:
    """When a rollout waiting for its version's pods looks again. Pods not ready: the watch
    events of that version's server Deployment wake the rollout as soon as they are, so it
    looks again only at the progress deadline (a timed look every few seconds would make each
    waiting Deployment cost a reconcile every few seconds, and a spec change wait behind all of
    them on a cluster with many Deployments whose pods cannot start). Pods ready but not yet
    listed by their Service (no event follows the EndpointSlices): every second."""
    return min(POLL_SECONDS, until_deadline) if target in o.pods_ready else until_deadline
