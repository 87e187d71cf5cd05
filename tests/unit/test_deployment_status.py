"""Deployment status from a rollout plan: kstatus conditions, traffic, steps, analysis."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from mlops_operator.api.deployment import Deployment
from mlops_operator.api.deployment_status import RolloutState
from mlops_operator.api.rollout import CanaryStrategy, RolloutStrategy
from mlops_operator.commands.rollout import render_status
from mlops_operator.reconcile.deployment import rollout_request
from mlops_operator.reconcile.deployment_report import deployment_status
from mlops_operator.rollout.decide import decide
from mlops_operator.rollout.measure import RouterTotals
from mlops_operator.rollout.plan import Observed, Plan

pytestmark = pytest.mark.unit

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def deployment(status: dict[str, object] | None = None, **annotations: str) -> Deployment:
    return Deployment.model_validate(
        {
            "apiVersion": "mlops.dev/v1alpha1",
            "kind": "Deployment",
            "metadata": {
                "name": "fraud",
                "namespace": "team-a",
                "uid": "u",
                "generation": 3,
                "annotations": annotations,
            },
            "spec": {"model": "fraud", "version": "1.1.0", "strategy": {"type": "canary"}},
            "status": status or {},
        }
    )


def plan_at(state: RolloutState, now: datetime, totals: RouterTotals) -> Plan:
    return decide(
        Observed(
            desired="1.1.0",
            problem=None,
            problem_is_stalled=False,
            stable="1.0.0",
            state=state,
            strategy=RolloutStrategy(type="canary"),
            paused=False,
            request=None,
            ready=frozenset({"1.0.0", "1.1.0"}),
            totals=totals,
            metrics_error=None,
            progress_deadline_seconds=60,
            now=now,
        )
    )


def report(dep: Deployment, plan: Plan, now: datetime) -> Deployment:
    status = deployment_status(
        dep,
        plan,
        endpoint="http://fraud.team-a.svc",
        replicas=2,
        ready_replicas=2,
        label_selector="x=y",
        now=now,
    )
    return deployment(status.model_dump(mode="json", by_alias=True, exclude_none=True))


def test_a_canary_step_reads_as_reconciling_with_step_and_traffic() -> None:
    plan = plan_at(RolloutState(), T0, RouterTotals(bounds=[float("inf")]))
    dep = report(deployment(), plan, T0)
    status = dep.status
    assert (status.phase, status.step_summary, status.traffic_summary) == (
        "Progressing",
        "1/3",
        "1.0.0=90,1.1.0=10",
    )
    assert status.observed_generation == 3
    conditions = {c.type: c for c in status.conditions}
    assert conditions["Reconciling"].status == "True"
    assert conditions["Ready"].status == "False"
    assert conditions["Stalled"].status == "False"
    assert all(c.observed_generation == 3 for c in conditions.values())
    text = render_status(dep)
    assert "1.0.0=90,1.1.0=10" in text
    assert "step 1/3" in text


def test_a_waiting_step_keeps_one_analysis_entry_and_a_rollback_is_stalled() -> None:
    dep = report(deployment(), plan_at(RolloutState(), T0, RouterTotals(bounds=[float("inf")])), T0)
    for seconds in (60, 62):
        plan = plan_at(
            dep.status.rollout, T0 + timedelta(seconds=seconds), RouterTotals(bounds=[float("inf")])
        )
        dep = report(dep, plan, T0 + timedelta(seconds=seconds))
    assert [run.decision for run in dep.status.analysis] == ["Waiting"]
    assert dep.status.analysis[0].limits.min_requests == 50
    rolled_back = Plan(
        weights={"1.0.0": 100},
        stable="1.0.0",
        canary=None,
        state=dep.status.rollout.model_copy(update={"failed_version": "1.1.0", "target": None}),
        phase="RolledBack",
        condition="Stalled",
        reason="RolledBack",
        message="1.1.0: step 1 of 3 failed: p99 latency 900.0 ms is above maxP99LatencyMs 500 ms",
    )
    dep = report(dep, rolled_back, T0 + timedelta(seconds=70))
    ready = next(c for c in dep.status.conditions if c.type == "Ready")
    stalled = next(c for c in dep.status.conditions if c.type == "Stalled")
    assert (ready.status, ready.reason) == ("False", "RolledBack")
    assert (stalled.status, stalled.reason) == ("True", "RolledBack")
    assert "maxP99LatencyMs 500 ms" in ready.message
    assert dep.status.canary_version is None
    assert dep.status.step_summary is None


def test_rollout_requests_are_read_from_the_annotation() -> None:
    assert rollout_request(deployment()) is None
    request = rollout_request(deployment(**{"mlops.dev/rollout-request": "abort/t-1"}))
    assert request is not None
    assert (request.action, request.token) == ("abort", "abort/t-1")
    assert rollout_request(deployment(**{"mlops.dev/rollout-request": "explode/t"})) is None


def test_the_total_steps_are_those_the_rollout_runs_with_or_without_a_canary_block() -> None:
    """``strategy: {type: canary}`` runs the default steps; its status counts the same ones."""
    plan = plan_at(RolloutState(), T0, RouterTotals(bounds=[float("inf")]))
    defaults = len(CanaryStrategy().step_weights)
    assert plan.message.startswith(f"step 1 of {defaults}:")
    status = report(deployment(), plan, T0).status
    assert (status.total_steps, status.step_summary) == (defaults, f"1/{defaults}")
    two = deployment()
    two.spec.strategy = RolloutStrategy(type="canary", canary=CanaryStrategy(step_weights=[20, 60]))
    assert report(two, plan, T0).status.total_steps == 2
