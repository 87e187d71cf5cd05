"""The ModelVersions of one Model: from the operator's watch index when it has one, else listed
from the API (the namespace's list, filtered)."""

from __future__ import annotations

from collections.abc import Callable

from mlops_operator.api.meta import API_VERSION
from mlops_operator.api.model_version import ModelVersion
from mlops_operator.kube import Kube

#: (namespace, model) → that Model's versions as the watch shows them, or None when unknown
VersionsOf = Callable[[str, str], list[ModelVersion] | None]


def versions_of_model(
    kube: Kube, namespace: str, model: str, *, versions_of: VersionsOf | None = None
) -> list[ModelVersion]:
    found = versions_of(namespace, model) if versions_of is not None else None
    if found is not None:
        return found
    return [
        mv
        for mv in map(ModelVersion.from_body, kube.list(API_VERSION, "ModelVersion", namespace))
        if mv.spec.model == model
    ]
