"""Model and ModelVersion handlers: verify and record versions, aggregate models."""

from __future__ import annotations

from typing import Any

import kopf

from mlops_operator.api.meta import GROUP, VERSION
from mlops_operator.context import OperatorContext
from mlops_operator.handlers.posting import finish
from mlops_operator.handlers.version_index import ModelVersions
from mlops_operator.kopf_config import HANDLER_RETRIES
from mlops_operator.reconcile.model import reconcile_model
from mlops_operator.reconcile.model_version import reconcile_model_version


def register(
    registry: kopf.OperatorRegistry, ctx: OperatorContext, version_index: ModelVersions
) -> None:
    versions = (GROUP, VERSION, "modelversions")
    models = (GROUP, VERSION, "models")

    @kopf.on.resume(*versions, id="reconcile", registry=registry, retries=HANDLER_RETRIES)
    @kopf.on.create(*versions, id="reconcile", registry=registry, retries=HANDLER_RETRIES)
    @kopf.on.update(*versions, id="reconcile", registry=registry, retries=HANDLER_RETRIES)
    def model_version(
        *, body: kopf.Body, namespace: str | None, name: str, retry: int, **_: Any
    ) -> None:
        finish(body, reconcile_model_version(ctx, namespace or "", name), retry=retry)

    @kopf.on.event(*versions, id="model-status", registry=registry)
    def model_version_changed(*, body: kopf.Body, namespace: str | None, **kwargs: Any) -> None:
        version_index.capture(kwargs)
        model = (body.get("spec") or {}).get("model")
        if model:
            reconcile_model(ctx, namespace or "", model, versions_of=version_index.of_model)

    @kopf.on.resume(*models, id="aggregate", registry=registry, retries=HANDLER_RETRIES)
    @kopf.on.create(*models, id="aggregate", registry=registry, retries=HANDLER_RETRIES)
    @kopf.on.update(*models, id="aggregate", registry=registry, retries=HANDLER_RETRIES)
    def model(*, namespace: str | None, name: str, **kwargs: Any) -> None:
        version_index.capture(kwargs)
        reconcile_model(ctx, namespace or "", name, versions_of=version_index.of_model)
