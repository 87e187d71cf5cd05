"""One reconcile of a Model: aggregate its versions into its status."""

from __future__ import annotations

from datetime import UTC, datetime

from mlops_operator.api.meta import API_VERSION
from mlops_operator.api.model import Model
from mlops_operator.context import OperatorContext
from mlops_operator.reconcile.model_versions import VersionsOf, versions_of_model
from mlops_operator.registry.model_status import aggregate_model_status


def reconcile_model(
    ctx: OperatorContext, namespace: str, name: str, *, versions_of: VersionsOf | None = None
) -> None:
    body = ctx.kube.get(API_VERSION, "Model", name, namespace)
    if body is None or body["metadata"].get("deletionTimestamp"):
        return
    model = Model.from_body(body)
    versions = versions_of_model(ctx.kube, namespace, name, versions_of=versions_of)
    status = aggregate_model_status(
        versions, model.status, generation=model.metadata.generation, now=datetime.now(UTC)
    )
    wire = status.to_wire()
    if wire == model.status.to_wire():
        return
    # Fields that became empty must be cleared explicitly in a merge patch.
    for key in ("latestVersion", "productionVersion"):
        wire.setdefault(key, None)
    ctx.kube.merge_patch(
        API_VERSION, "Model", name, namespace, {"status": wire}, subresource="status"
    )
