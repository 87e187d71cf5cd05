"""The rollout state machine: what a Deployment observed → the next weights, step and phase.

Level-triggered: every call starts from the state kept in status (``RolloutState``) and what
was observed now, so a restarted operator goes on from the step it was in. The stable version
keeps its traffic until the new one has earned it; a failed gate, pods not ready in time or an
abort send everything back to stable at once, and the failed version is not tried again until
the version asked for changes or a retry is requested.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Final, Literal

from mlops_operator.api.deployment_status import (
    AnalysisRun,
    DeploymentPhase,
    DrainingVersion,
    RolloutState,
)
from mlops_operator.api.rollout import CanaryStrategy, RolloutStrategy
from mlops_operator.rollout.gates import judge, limits_of
from mlops_operator.rollout.measure import RouterTotals, measure

RolloutAction = Literal["promote", "abort", "retry"]
ConditionState = Literal["Ready", "Progressing", "Waiting", "Stalled"]

#: how often a rollout waiting on pods or on traffic looks again (watch events come sooner)
POLL_SECONDS: Final = 1.0


@dataclass(frozen=True)
class RolloutRequest:
    """A one-shot request from the ``mlops.dev/rollout-request`` annotation."""

    action: RolloutAction
    token: str


@dataclass(frozen=True)
class Observed:
    """What the reconciler read, reduced to what the decision needs."""

    #: the version the spec asks for (explicit, or the one in the followed stage); None when it
    #: cannot be served now, with ``problem`` saying why
    desired: str | None
    problem: str | None
    #: the problem needs a person (a missing Model or version) rather than time
    problem_is_stalled: bool
    stable: str | None
    state: RolloutState
    strategy: RolloutStrategy
    paused: bool
    request: RolloutRequest | None
    #: versions whose server pods are all ready
    ready: frozenset[str]
    totals: RouterTotals | None
    metrics_error: str | None
    progress_deadline_seconds: int
    now: datetime


@dataclass
class Plan:
    """What to apply and report."""

    weights: dict[str, int]
    stable: str | None
    canary: str | None
    state: RolloutState
    phase: DeploymentPhase
    condition: ConditionState
    reason: str
    message: str
    analysis: AnalysisRun | None = None
    events: list[tuple[Literal["Normal", "Warning"], str, str]] = field(default_factory=list)
    requeue_after: float | None = None

    @property
    def served(self) -> list[str]:
        """Versions whose pods must run: every one with a weight (0 included)."""
        return list(self.weights)


def _canary(strategy: RolloutStrategy) -> CanaryStrategy | None:
    if strategy.type != "canary":
        return None
    return strategy.canary or CanaryStrategy()


def _seconds(since: datetime | None, now: datetime) -> float:
    return 0.0 if since is None else (now - since).total_seconds()


def _drain(state: RolloutState, version: str | None, now: datetime, keep: set[str]) -> None:
    if version is None or version in keep or any(d.version == version for d in state.draining):
        return
    state.draining.append(DrainingVersion(version=version, since=now))


def _steady_weights(stable: str | None) -> dict[str, int]:
    return {stable: 100} if stable else {}


def _step_weights(stable: str | None, target: str, weight: int) -> dict[str, int]:
    if stable is None or weight >= 100:
        return {target: 100}
    return {stable: 100 - weight, target: weight}


def _current_weights(o: Observed, state: RolloutState) -> dict[str, int]:
    canary = _canary(o.strategy)
    if state.target and canary is not None and state.step is not None:
        return _step_weights(o.stable, state.target, canary.step_weights[state.step])
    return _steady_weights(o.stable)


def _fail(
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
    _drain(state, target, o.now, keep={o.stable} if o.stable else set())
    event = (
        "Warning",
        reason,
        f"{target}: {message}; traffic back to {o.stable}" if o.stable else f"{target}: {message}",
    )
    return Plan(
        weights=_steady_weights(o.stable),
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


def _promote(o: Observed, state: RolloutState, *, how: str) -> Plan:
    target = state.target
    assert target is not None
    old = o.stable
    state.target = None
    state.step = None
    state.step_started_at = None
    state.baseline = []
    state.started_at = None
    _drain(state, old, o.now, keep={target})
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


def _handle_request(o: Observed, state: RolloutState) -> tuple[RolloutAction | None, Plan | None]:
    request = o.request
    if request is None or request.token == state.handled_request:
        return None, None
    state.handled_request = request.token
    if request.action == "retry":
        if state.failed_version is not None:
            state.failed_version = None
            state.failure = None
        return "retry", None
    rolling = state.target is not None and state.target != o.stable
    if request.action == "abort" and rolling:
        return "abort", _fail(
            o,
            state,
            reason="Aborted",
            message="rollout aborted by request (kubectl mlops rollout abort)",
            phase="Aborted",
        )
    return (request.action if rolling else None), None


def decide(o: Observed) -> Plan:
    state = o.state.model_copy(deep=True)
    action, aborted = _handle_request(o, state)
    if aborted is not None:
        return aborted
    desired = o.desired
    if desired is None:
        return Plan(
            weights=_current_weights(o, state) if state.target else _steady_weights(o.stable),
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
        _drain(state, state.target, o.now, keep={o.stable or "", desired})
        state.target = None
        state.step = None
        state.baseline = []
    if desired == o.stable:
        state.target = None
        state.step = None
        state.step_started_at = None
        state.started_at = None
        state.baseline = []
        return Plan(
            weights=_steady_weights(o.stable),
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
            weights=_steady_weights(o.stable),
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
    return _progress(o, state, action)


def _progress(o: Observed, state: RolloutState, action: RolloutAction | None) -> Plan:
    target = state.target
    assert target is not None
    ready = target in o.ready
    weights = _current_weights(o, state)
    canary = _canary(o.strategy)
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
        waited = _seconds(state.started_at, o.now)
        deadline = o.progress_deadline_seconds
        if waited >= deadline:
            return _fail(
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
            f"({waited:.0f} s of progressDeadlineSeconds {deadline})",
            requeue_after=min(POLL_SECONDS, max(0.1, deadline - waited)),
        )
    if o.stable is None:
        return _promote(o, state, how="first version")
    if action == "promote":
        return _promote(o, state, how="promoted by request")
    if canary is None:
        return _promote(o, state, how="direct")
    return _canary_step(o, state, canary)


def _wait_for_metrics(o: Observed, state: RolloutState, weights: dict[str, int]) -> Plan:
    return Plan(
        weights=weights,
        stable=o.stable,
        canary=state.target,
        state=state,
        phase="Progressing",
        condition="Progressing",
        reason="MetricsUnavailable",
        message=f"cannot read the routers' metrics: {o.metrics_error or 'no router pod'}",
        requeue_after=POLL_SECONDS / 2,
    )


def _start_step(o: Observed, state: RolloutState, canary: CanaryStrategy, step: int) -> Plan:
    target = state.target
    assert target is not None
    assert o.totals is not None
    state.step = step
    state.step_started_at = o.now
    state.baseline = [o.totals.of(v) for v in (o.stable, target) if v]
    weight = canary.step_weights[step]
    total = len(canary.step_weights)
    return Plan(
        weights=_step_weights(o.stable, target, weight),
        stable=o.stable,
        canary=target,
        state=state,
        phase="Progressing",
        condition="Progressing",
        reason="CanaryStep",
        message=f"step {step + 1} of {total}: {target} gets {weight}% for "
        f"{canary.interval_seconds} s",
        requeue_after=float(canary.interval_seconds),
    )


def _canary_step(o: Observed, state: RolloutState, canary: CanaryStrategy) -> Plan:
    target = state.target
    assert target is not None
    assert o.stable is not None
    weights = _current_weights(o, state)
    if state.step is None or state.step_started_at is None:
        if o.totals is None:
            return _wait_for_metrics(o, state, weights)
        return _start_step(o, state, canary, 0)
    step = state.step
    elapsed = _seconds(state.step_started_at, o.now)
    total = len(canary.step_weights)
    if elapsed < canary.interval_seconds:
        return Plan(
            weights=weights,
            stable=o.stable,
            canary=target,
            state=state,
            phase="Progressing",
            condition="Progressing",
            reason="CanaryStep",
            message=f"step {step + 1} of {total}: {target} gets "
            f"{canary.step_weights[step]}%, judged in {canary.interval_seconds - elapsed:.0f} s",
            requeue_after=max(0.05, canary.interval_seconds - elapsed),
        )
    if o.totals is None:
        return _wait_for_metrics(o, state, weights)
    baseline = {snap.version: snap for snap in state.baseline}
    bounds = o.totals.bounds
    measured_canary = measure(o.totals.of(target), baseline.get(target), bounds)
    measured_stable = measure(o.totals.of(o.stable), baseline.get(o.stable), bounds)
    verdict = judge(canary.analysis, measured_canary, measured_stable)
    run = AnalysisRun(
        step=step,
        weight=canary.step_weights[step],
        time=o.now,
        canary=measured_canary,
        stable=measured_stable,
        limits=limits_of(canary.analysis),
        decision=verdict.decision,
        gate=verdict.gate,
        reason=verdict.reason,
    )
    if verdict.decision == "Failed":
        return _fail(
            o,
            state,
            reason="RolledBack",
            message=f"step {step + 1} of {total} failed: {verdict.reason}",
            analysis=run,
        )
    if verdict.decision == "Waiting":
        return Plan(
            weights=weights,
            stable=o.stable,
            canary=target,
            state=state,
            phase="Progressing",
            condition="Progressing",
            reason="WaitingForRequests",
            message=f"step {step + 1} of {total}: {verdict.reason}",
            analysis=run,
            requeue_after=POLL_SECONDS,
        )
    if step + 1 < total:
        plan = _start_step(o, state, canary, step + 1)
        plan.analysis = run
        return plan
    plan = _promote(o, state, how=f"all {total} canary steps passed")
    plan.analysis = run
    return plan
