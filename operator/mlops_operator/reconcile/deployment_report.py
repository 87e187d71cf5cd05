"""Deployment status: a pure reducer from the rollout plan and the children observed to the
typed status to write (conditions by the kstatus rules)."""

from __future__ import annotations

from datetime import datetime
from typing import Final

from mlops_operator.api.conditions import (
    READY,
    RECONCILING,
    STALLED,
    ConditionStatus,
    set_conditions,
)
from mlops_operator.api.deployment import Deployment
from mlops_operator.api.deployment_status import (
    ANALYSIS_MAX,
    AnalysisRun,
    DeploymentStatus,
    TrafficWeight,
)
from mlops_operator.rollout.plan import ConditionState, Plan
from mlops_operator.rollout.traffic import canary_of

#: (Ready, Reconciling, Stalled) statuses per kind of state
_CONDITIONS: Final[
    dict[ConditionState, tuple[ConditionStatus, ConditionStatus, ConditionStatus]]
] = {
    "Ready": ("True", "False", "False"),
    "Progressing": ("False", "True", "False"),
    "Waiting": ("False", "True", "False"),
    "Stalled": ("False", "False", "True"),
}


def _analysis(previous: list[AnalysisRun], plan: Plan, *, new_rollout: bool) -> list[AnalysisRun]:
    runs = [] if new_rollout else list(previous)
    run = plan.analysis
    if run is None:
        return runs
    if runs and runs[-1].step == run.step and runs[-1].decision == "Waiting":
        runs[-1] = run  # a waiting step is judged again: keep only its latest look
    else:
        runs.append(run)
    return runs[-ANALYSIS_MAX:]


def deployment_status(
    dep: Deployment,
    plan: Plan,
    *,
    endpoint: str,
    replicas: int,
    ready_replicas: int,
    label_selector: str,
    now: datetime,
    pool: str | None = None,
) -> DeploymentStatus:
    old = dep.status
    new_rollout = plan.state.target is not None and plan.state.target != old.rollout.target
    ready, reconciling, stalled = _CONDITIONS[plan.condition]
    conditions = set_conditions(
        old.conditions,
        [
            (READY, ready, plan.reason),
            (RECONCILING, reconciling, plan.reason),
            (STALLED, stalled, plan.reason),
        ],
        message=plan.message,
        primary=READY,
        observed_generation=dep.metadata.generation,
        now=now,
    )
    step = plan.state.step if plan.canary else None
    canary = canary_of(dep.spec.strategy)  # the steps the rollout runs: the block or defaults
    total_steps = len(canary.step_weights) if canary is not None else None
    traffic = [TrafficWeight(version=v, weight=w) for v, w in plan.weights.items()]
    return DeploymentStatus(
        observed_generation=dep.metadata.generation,
        conditions=conditions,
        phase=plan.phase,
        stable_version=plan.stable,
        canary_version=plan.canary,
        traffic=traffic,
        traffic_summary=",".join(f"{t.version}={t.weight}" for t in traffic) or None,
        current_step=step,
        total_steps=total_steps,
        step_summary=f"{step + 1}/{total_steps}" if step is not None and total_steps else None,
        rollout=plan.state,
        analysis=_analysis(old.analysis, plan, new_rollout=new_rollout),
        ab_test=old.ab_test,
        endpoint=endpoint,
        pool=pool,
        drift=old.drift,
        performance=old.performance,
        replicas=replicas,
        ready_replicas=ready_replicas,
        label_selector=label_selector,
    )
