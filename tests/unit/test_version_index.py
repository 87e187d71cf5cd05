"""The operator's watch index of ModelVersions by Model: what it answers before and after a
handler hands it over, and the reconciles' fallback to listing when it cannot answer."""

from __future__ import annotations

from typing import Any

import pytest

from mlops_operator.api.model_version import ModelVersion
from mlops_operator.handlers.version_index import INDEX_ID, ModelVersions
from mlops_operator.reconcile.model_versions import versions_of_model

pytestmark = pytest.mark.unit


def _mv(model: str, version: str) -> ModelVersion:
    return ModelVersion.from_body(
        {
            "metadata": {"name": f"{model}-v{version.replace('.', '-')}", "namespace": "ns"},
            "spec": {
                "model": model,
                "version": version,
                "artifact": {"uri": "s3://b/x/", "digest": "sha256:" + "0" * 64},
            },
        }
    )


class ListingKube:
    """Counts the namespace lists a reconcile makes."""

    def __init__(self, versions: list[ModelVersion]) -> None:
        self.bodies = [mv.to_wire() for mv in versions]
        self.lists = 0

    def list(self, api_version: str, kind: str, namespace: str, **_: Any) -> list[Any]:
        assert kind == "ModelVersion"
        self.lists += 1
        return self.bodies


def test_versions_come_from_the_index_once_a_handler_has_handed_it_over() -> None:
    a1, a2, b1 = _mv("a", "1.0.0"), _mv("a", "1.1.0"), _mv("b", "1.0.0")
    kube = ListingKube([a1, a2, b1])
    index = ModelVersions()
    assert index.of_model("ns", "a") is None
    # before the hand-over: listed from the API, filtered by Model
    listed = versions_of_model(kube, "ns", "a", versions_of=index.of_model)  # type: ignore[arg-type]
    assert [mv.spec.version for mv in listed] == ["1.0.0", "1.1.0"]
    assert kube.lists == 1

    index.capture({INDEX_ID: {("ns", "a"): [a1, a2], ("ns", "b"): [b1]}, "other": {}})
    found = versions_of_model(kube, "ns", "a", versions_of=index.of_model)  # type: ignore[arg-type]
    assert [mv.spec.version for mv in found] == ["1.0.0", "1.1.0"]
    assert versions_of_model(kube, "ns", "c", versions_of=index.of_model) == []  # type: ignore[arg-type]
    assert kube.lists == 1, "the index answered: nothing more was listed"
