"""The monitoring part of a Deployment's reconcile: the A/B arms' traffic plan, what the pods
and routers say (A/B counts, drift), the monitoring step, an A/B winner's promotion.

Reads go through the adapters (``adapters.ab_counts``, ``adapters.drift_reader``; the routers'
metrics come scraped once by the reconcile, ``adapters.router_metrics``); the
decisions are :func:`.deployment_monitoring.observe_monitoring`'s. Alert deliveries are not
sent here: they ride on the Outcome (``AlertBatch``) to the handler, which sends them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final

from mlops_operator.adapters.ab_counts import read_accuracy, router_error_counts
from mlops_operator.adapters.drift_reader import (
    PodEndpoint,
    check_drift_reference,
    read_version_drift,
    read_version_performance,
)
from mlops_operator.adapters.router_metrics import RouterScrape
from mlops_operator.alerting.alerts import Alert
from mlops_operator.api.conditions import find_condition
from mlops_operator.api.deployment import Deployment
from mlops_operator.api.deployment_status import DeploymentStatus
from mlops_operator.builders.model_server import HTTP_PORT, server_selector
from mlops_operator.builders.serving_pool import pool_servers_selector
from mlops_operator.context import OperatorContext
from mlops_operator.kube import KubeError
from mlops_operator.monitoring.drift_status import DRIFT_DETECTED
from mlops_operator.monitoring.performance_status import PERFORMANCE_DEGRADED
from mlops_operator.reconcile.deployment_monitoring import (
    MonitoringInput,
    MonitoringUpdate,
    object_ref,
    observe_monitoring,
)
from mlops_operator.reconcile.notes import AlertBatch, Note
from mlops_operator.reconcile.pooled_deployment import PoolView
from mlops_operator.reconcile.promotion import PromotionError, promote_version
from mlops_operator.rollout.plan import Plan

READ_TIMEOUT: Final = 5.0


def server_pods(
    ctx: OperatorContext, dep: Deployment, version: str, pool: PoolView | None = None
) -> list[PodEndpoint]:
    """Every ready server pod of ``version`` (the operator reads their drift and tallies); for
    a pooled Deployment, the pool's servers placed to hold it."""
    if pool is None:
        selector = ",".join(f"{k}={v}" for k, v in server_selector(dep, version).items())
        placed = None
    else:
        selector = pool_servers_selector(pool.pool.metadata.name)
        config = pool.config
        placed = set(config.servers_of(dep.spec.model, version)) if config else set()
    pods = ctx.kube.list("v1", "Pod", dep.metadata.namespace, label_selector=selector)
    found = []
    for pod in pods:
        status = pod.get("status") or {}
        ready = any(
            c.get("type") == "Ready" and c.get("status") == "True"
            for c in status.get("conditions") or []
        )
        name = pod["metadata"]["name"]
        if placed is not None and name not in placed:
            continue
        if ready and status.get("podIP") and not pod["metadata"].get("deletionTimestamp"):
            found.append(PodEndpoint(name, f"{status['podIP']}:{HTTP_PORT}"))
    return sorted(found, key=lambda p: p.name)


def _drift_due(dep: Deployment, now: datetime) -> bool:
    if not dep.spec.monitoring.enabled:
        return False
    times = [d.time for d in dep.status.drift]
    interval = dep.spec.monitoring.interval_seconds
    return not times or (now - min(times)).total_seconds() >= interval - 0.5


def plan_alerts(dep: Deployment, plan: Plan) -> list[Alert]:
    """Rollback and promotion notices from this reconcile's plan; a stalled rollout is a
    failure condition while it lasts."""
    ref = object_ref(dep)
    alerts = []
    for _, reason, message in plan.events:
        if reason in ("RolledBack", "Aborted") and plan.state.failed_version:
            alerts.append(Alert(ref, "rollback", plan.state.failed_version, message))
        elif reason == "Promoted" and plan.stable:
            alerts.append(Alert(ref, "promotion", plan.stable, message))
    if plan.condition == "Stalled" and plan.reason not in ("RolledBack", "Aborted"):
        version = plan.state.target or plan.stable or dep.spec.version or "0.0.0"
        alerts.append(Alert(ref, "failure", version, f"{plan.reason}: {plan.message}"))
    return alerts


def watch(
    ctx: OperatorContext,
    dep: Deployment,
    plan: Plan,
    *,
    artifacts: dict[str, str],
    routers: RouterScrape | None,
    now: datetime,
    pool: PoolView | None = None,
) -> MonitoringUpdate:
    """Read what is due and run the monitoring step (``artifacts``: version → artifact URI;
    ``routers``: the routers' metrics this reconcile scraped, for an error-rate A/B test)."""
    arms = None
    strategy = dep.spec.strategy.ab_test
    concluded = dep.status.ab_test is not None and dep.status.ab_test.concluded
    if dep.spec.strategy.type == "ab-test" and strategy is not None and not concluded:
        if strategy.metric == "accuracy":
            pods = [p for v in strategy.variants for p in server_pods(ctx, dep, v.version, pool)]
            tallies = read_accuracy(pods, model=dep.spec.model, timeout=READ_TIMEOUT)
        else:
            tallies = router_error_counts(routers or RouterScrape())
        arms = tallies.counts
    drift = None
    performance = None
    problem = None
    if _drift_due(dep, now):
        served = [v for v, w in plan.weights.items() if w > 0]
        pods_of = {v: pods for v in served if (pods := server_pods(ctx, dep, v, pool))}
        model = dep.spec.model
        reads = [
            read_version_drift(pods, model=model, version=v, timeout=READ_TIMEOUT)
            for v, pods in pods_of.items()
        ]
        drift = reads or None  # no server pod ready yet: nothing read, nothing to write
        estimates = [
            read_version_performance(pods, model=model, version=v, timeout=READ_TIMEOUT)
            for v, pods in pods_of.items()
        ]
        performance = estimates or None
        reference = dep.spec.monitoring.reference
        if reference:
            for version in served:
                if version in artifacts:
                    problem = check_drift_reference(
                        ctx.open_store, reference_uri=reference, artifact_uri=artifacts[version]
                    )
                    if problem:
                        break
    observed = MonitoringInput(
        arms=arms,
        drift=drift,
        performance=performance,
        reference_problem=problem,
        events=plan_alerts(dep, plan),
    )
    return observe_monitoring(dep, observed, now=now)


def monitor(
    ctx: OperatorContext,
    dep: Deployment,
    plan: Plan,
    status: DeploymentStatus,
    *,
    artifacts: dict[str, str],
    routers: RouterScrape | None,
    now: datetime,
    pool: PoolView | None = None,
) -> tuple[DeploymentStatus, list[Note], AlertBatch, float | None]:
    """``status`` with the A/B result, drift, DriftDetected and alert records; the Events; the
    alert deliveries due; when to look again. Promotes an A/B winner under promoteWinner."""
    update = watch(ctx, dep, plan, artifacts=artifacts, routers=routers, now=now, pool=pool)
    notes = list(update.notes)
    ab_test = update.ab_test
    if update.promote and ab_test is not None:
        try:
            moved = promote_version(
                ctx.kube,
                namespace=dep.metadata.namespace or "",
                model=dep.spec.model,
                version=update.promote,
                reason="AbTestWinner",
            )
        except (PromotionError, KubeError) as exc:
            notes.append(Note("Warning", "PromotionFailed", f"{update.promote}: {exc}"))
        else:
            ab_test = ab_test.model_copy(update={"promoted": True})
            what = "; ".join(moved) or f"{update.promote} was already in production"
            notes.append(Note("Normal", "WinnerPromoted", what))
    conditions = list(status.conditions)
    for kind in (DRIFT_DETECTED, PERFORMANCE_DEGRADED):
        monitored = find_condition(update.conditions, kind)
        if monitored is not None:
            conditions = [c for c in conditions if c.type != kind] + [monitored]
    new_status = status.model_copy(
        update={
            "ab_test": ab_test,
            "drift": update.drift,
            "performance": update.performance,
            "conditions": conditions,
            "alerts": update.alerts,
        }
    )
    batch = AlertBatch(
        namespace=dep.metadata.namespace or "",
        name=dep.metadata.name,
        records=update.alerts,
        dispatches=update.dispatches,
        channels=list(dep.spec.alerts),
    )
    return new_status, notes, batch, update.requeue_after
