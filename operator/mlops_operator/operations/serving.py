"""Serving: create or update a Deployment, and find the endpoint that serves a model."""

from __future__ import annotations

from mlops_operator.api.conditions import READY, find_condition
from mlops_operator.api.deployment import Deployment, DeploymentSpec
from mlops_operator.api.meta import API_VERSION
from mlops_operator.operations.errors import NotFoundError, UnavailableError
from mlops_operator.operations.target import Target


def apply_deployment(target: Target, name: str, spec: DeploymentSpec) -> Deployment:
    """Create or update the Deployment ``name`` with server-side apply.

    The spec fields given are owned by the caller's field manager; fields another manager set
    (e.g. GitOps) are taken over where they conflict, and left alone otherwise.
    """
    applied = target.kube.apply(
        {
            "apiVersion": API_VERSION,
            "kind": "Deployment",
            "metadata": {"name": name, "namespace": target.namespace},
            "spec": spec.to_wire(),
        }
    )
    return Deployment.from_body(applied)


def get_deployment(target: Target, name: str) -> Deployment:
    body = target.kube.get(API_VERSION, "Deployment", name, target.namespace)
    if body is None:
        raise NotFoundError(
            f"no Deployment {name!r} in namespace {target.namespace} "
            "(kubectl get mldeploy lists them)"
        )
    return Deployment.from_body(body)


def deployments_of(target: Target, model: str) -> list[Deployment]:
    """The Deployments serving ``model``, by name."""
    found = [
        Deployment.from_body(body)
        for body in target.kube.list(API_VERSION, "Deployment", target.namespace)
    ]
    return sorted((d for d in found if d.spec.model == model), key=lambda d: d.metadata.name)


def _ready(deployment: Deployment) -> bool:
    ready = find_condition(deployment.status.conditions, READY)
    return ready is not None and ready.status == "True"


def serving_deployment(target: Target, model: str, *, name: str | None = None) -> Deployment:
    """The Deployment whose endpoint takes predictions for ``model``.

    ``name`` picks one; otherwise a Ready Deployment with an endpoint is preferred to one
    that only has an endpoint, then the first by name.
    """
    if name is not None:
        candidates = [get_deployment(target, name)]
        if candidates[0].spec.model != model:
            raise NotFoundError(
                f"Deployment {name!r} serves model {candidates[0].spec.model!r}, not {model!r}"
            )
    else:
        candidates = deployments_of(target, model)
    if not candidates:
        raise NotFoundError(
            f"no Deployment serves model {model!r} in namespace {target.namespace}: "
            "create one with POST /mlops/deploy (or kubectl apply a Deployment)"
        )
    with_endpoint = [d for d in candidates if d.status.endpoint]
    if not with_endpoint:
        names = ", ".join(d.metadata.name for d in candidates)
        raise UnavailableError(
            f"Deployment {names} of model {model!r} has no endpoint yet: wait until it is "
            f"Ready (kubectl wait --for=condition=Ready mldeploy/{candidates[0].metadata.name})"
        )
    return next((d for d in with_endpoint if _ready(d)), with_endpoint[0])
