"""Steer a Deployment's rollout, as a GitOps user would in Git: ``pause``/``resume`` set
``spec.paused``; ``promote``, ``abort`` and ``retry`` are one-shot requests written to the
annotation ``mlops.dev/rollout-request`` as ``<action>/<token>`` (a new token asks again; the
operator records the last one it acted on in ``status.rollout.handledRequest``)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from mlops_operator.api.deployment import ROLLOUT_REQUEST_ANNOTATION
from mlops_operator.api.meta import API_VERSION
from mlops_operator.operations.errors import ConflictError
from mlops_operator.operations.serving import get_deployment
from mlops_operator.operations.target import Target

RolloutAction = Literal["promote", "abort", "retry"]


@dataclass(frozen=True)
class RolloutChange:
    """What a rollout operation wrote."""

    deployment: str
    what: str
    token: str | None = None


def rollout_pause(target: Target, name: str, *, paused: bool = True) -> RolloutChange:
    get_deployment(target, name)
    target.kube.merge_patch(
        API_VERSION, "Deployment", name, target.namespace, {"spec": {"paused": paused}}
    )
    return RolloutChange(name, "paused" if paused else "resumed")


def rollout_request(target: Target, name: str, action: RolloutAction) -> RolloutChange:
    dep = get_deployment(target, name)
    rolling = dep.status.canary_version is not None or dep.status.rollout.target is not None
    if action in ("promote", "abort") and not rolling:
        raise ConflictError(f"Deployment {name} has no rollout in progress to {action}")
    if action == "retry" and dep.status.rollout.failed_version is None:
        raise ConflictError(f"Deployment {name} has no failed or aborted rollout to retry")
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
