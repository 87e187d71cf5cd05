"""``mlops rollout status|pause|resume|promote|abort|retry DEPLOYMENT``.

Each operation writes the Deployment, as a GitOps user would in Git: ``pause``/``resume`` set
``spec.paused``; ``promote``, ``abort`` and ``retry`` are one-shot requests written to the
annotation ``mlops.dev/rollout-request`` as ``<action>/<token>`` (a new token asks again; the
operator records the last one it acted on in ``status.rollout.handledRequest``).

The operations (``rollout_*``) return typed results and print nothing; ``render_*`` turn them
into text, so the REST API can reuse the operations.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from mlops_operator.api.conditions import READY, find_condition
from mlops_operator.api.deployment import ROLLOUT_REQUEST_ANNOTATION, Deployment
from mlops_operator.api.meta import API_VERSION
from mlops_operator.commands.output import number, table
from mlops_operator.commands.registry import CommandError, Target

RolloutAction = Literal["promote", "abort", "retry"]


@dataclass(frozen=True)
class RolloutChange:
    """What a rollout command wrote."""

    deployment: str
    what: str
    token: str | None = None


def read_deployment(target: Target, name: str) -> Deployment:
    body = target.kube.get(API_VERSION, "Deployment", name, target.namespace)
    if body is None:
        raise CommandError(
            f"Deployment {name} not found in namespace {target.namespace} "
            "(kubectl get mldeploy lists them)"
        )
    return Deployment.from_body(body)


def rollout_status(target: Target, name: str) -> Deployment:
    return read_deployment(target, name)


def rollout_pause(target: Target, name: str, *, paused: bool = True) -> RolloutChange:
    read_deployment(target, name)
    target.kube.merge_patch(
        API_VERSION, "Deployment", name, target.namespace, {"spec": {"paused": paused}}
    )
    return RolloutChange(name, "paused" if paused else "resumed")


def rollout_request(target: Target, name: str, action: RolloutAction) -> RolloutChange:
    dep = read_deployment(target, name)
    rolling = dep.status.canary_version is not None or dep.status.rollout.target is not None
    if action in ("promote", "abort") and not rolling:
        raise CommandError(f"Deployment {name} has no rollout in progress to {action}")
    if action == "retry" and dep.status.rollout.failed_version is None:
        raise CommandError(f"Deployment {name} has no failed or aborted rollout to retry")
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    token = f"{action}/{stamp}-{secrets.token_hex(3)}"
    target.kube.merge_patch(
        API_VERSION,
        "Deployment",
        name,
        target.namespace,
        {"metadata": {"annotations": {ROLLOUT_REQUEST_ANNOTATION: token}}},
    )
    return RolloutChange(name, f"{action} requested", token)


def render_change(change: RolloutChange) -> str:
    suffix = f" ({ROLLOUT_REQUEST_ANNOTATION}={change.token})" if change.token else ""
    return f"mldeploy/{change.deployment} {change.what}{suffix}"


def render_status(dep: Deployment) -> str:
    status = dep.status
    ready = find_condition(status.conditions, READY)
    lines = [
        f"Deployment:  {dep.metadata.name} (model {dep.spec.model})",
        f"Phase:       {status.phase or '-'}"
        + (f" (step {status.step_summary})" if status.step_summary else ""),
        f"Stable:      {status.stable_version or '-'}",
        f"Canary:      {status.canary_version or '-'}",
        f"Traffic:     {status.traffic_summary or '-'}",
        f"Ready:       {ready.status if ready else '-'}"
        + (f" {ready.reason}: {ready.message}" if ready else ""),
        f"Endpoint:    {status.endpoint or '-'}",
        f"Replicas:    {status.ready_replicas}/{status.replicas} ready",
    ]
    if status.rollout.failed_version:
        lines.append(f"Failed:      {status.rollout.failed_version}: {status.rollout.failure}")
    if status.analysis:
        rows = [
            (
                run.step + 1,
                f"{run.weight}%",
                run.canary.requests,
                number(run.canary.error_rate),
                number(run.canary.p99_latency_ms),
                number(run.stable.p99_latency_ms),
                run.decision,
                run.reason,
            )
            for run in status.analysis
        ]
        headers = ("step", "weight", "requests", "errors", "p99 ms", "stable p99", "decision")
        lines += ["", table((*headers, "reason"), rows)]
    return "\n".join(lines)
