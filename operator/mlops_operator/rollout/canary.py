"""Canary steps: each step's weight held for its interval. ``threshold`` judges it at the
interval's end on what the new and the stable version served in that step only (counter deltas
since the step's baseline); ``sequential`` looks every ``LOOK_SECONDS`` at everything served
since the canary began, rolls back the moment the new version is shown worse and passes the
step at its interval's end (``sequential_gates``)."""

from __future__ import annotations

from mlops_operator.api.deployment_status import AnalysisRun, RolloutState
from mlops_operator.api.rollout import CanaryStrategy
from mlops_operator.rollout.endings import promote, roll_back
from mlops_operator.rollout.gates import judge, limits_of
from mlops_operator.rollout.measure import measure, since
from mlops_operator.rollout.plan import POLL_SECONDS, Observed, Plan
from mlops_operator.rollout.sequential_gates import LOOK_SECONDS, judge_sequential
from mlops_operator.rollout.traffic import current_weights, seconds_since, step_weights


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


def _next_look(canary: CanaryStrategy, elapsed: float) -> float:
    """Seconds to the step's next look: its interval's end, and with ``sequential`` every
    ``LOOK_SECONDS`` before it (a step just started is looked at during it too)."""
    left = canary.interval_seconds - elapsed
    if canary.analysis.method == "sequential":
        left = min(LOOK_SECONDS, left)
    return max(0.05, left)


def _start_step(o: Observed, state: RolloutState, canary: CanaryStrategy, step: int) -> Plan:
    target = state.target
    assert target is not None
    assert o.totals is not None
    state.step = step
    state.step_started_at = o.now
    state.baseline = [o.totals.of(v) for v in (o.stable, target) if v]
    if step == 0:
        state.canary_baseline = list(state.baseline)
    weight = canary.step_weights[step]
    total = len(canary.step_weights)
    return Plan(
        weights=step_weights(o.stable, target, weight),
        stable=o.stable,
        canary=target,
        state=state,
        phase="Progressing",
        condition="Progressing",
        reason="CanaryStep",
        message=f"step {step + 1} of {total}: {target} gets {weight}% for "
        f"{canary.interval_seconds} s",
        requeue_after=_next_look(canary, 0.0),
    )


def canary_step(o: Observed, state: RolloutState, canary: CanaryStrategy) -> Plan:
    target = state.target
    assert target is not None
    assert o.stable is not None
    weights = current_weights(o, state)
    if state.step is None or state.step_started_at is None:
        if o.totals is None:
            return _wait_for_metrics(o, state, weights)
        return _start_step(o, state, canary, 0)
    step = state.step
    elapsed = seconds_since(state.step_started_at, o.now)
    total = len(canary.step_weights)
    sequential = canary.analysis.method == "sequential"
    if elapsed < canary.interval_seconds and (not sequential or o.totals is None):
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
            requeue_after=_next_look(canary, elapsed),
        )
    if o.totals is None:
        return _wait_for_metrics(o, state, weights)
    baseline = {snap.version: snap for snap in state.baseline}
    bounds = o.totals.bounds
    measured_canary = measure(o.totals.of(target), baseline.get(target), bounds)
    measured_stable = measure(o.totals.of(o.stable), baseline.get(o.stable), bounds)
    if sequential:
        start = {snap.version: snap for snap in state.canary_baseline or state.baseline}
        verdict, evidence = judge_sequential(
            canary.analysis,
            since(o.totals.of(target), start.get(target)),
            since(o.totals.of(o.stable), start.get(o.stable)),
            bounds,
            interval_over=elapsed >= canary.interval_seconds,
        )
    else:
        verdict, evidence = judge(canary.analysis, measured_canary, measured_stable), None
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
        method=canary.analysis.method,
        sequential=evidence,
    )
    if verdict.decision == "Failed":
        return roll_back(
            o,
            state,
            reason="RolledBack",
            message=f"step {step + 1} of {total} failed: {verdict.reason}",
            analysis=run,
        )
    if verdict.decision == "Waiting" and elapsed < canary.interval_seconds:
        return Plan(
            weights=weights,
            stable=o.stable,
            canary=target,
            state=state,
            phase="Progressing",
            condition="Progressing",
            reason="CanaryStep",
            message=f"step {step + 1} of {total}: {target} gets "
            f"{canary.step_weights[step]}%, judged at every look and passed in "
            f"{canary.interval_seconds - elapsed:.0f} s without evidence against it",
            analysis=run,
            requeue_after=_next_look(canary, elapsed),
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
    plan = promote(o, state, how=f"all {total} canary steps passed")
    plan.analysis = run
    return plan
