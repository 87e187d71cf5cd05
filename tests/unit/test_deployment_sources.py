"""Which ModelVersion events are news for the Deployments serving its Model."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from mlops_operator.reconcile.deployment_sources import source_signature

pytestmark = pytest.mark.unit


def version(**status: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "fraud-v1-0-0", "generation": 1, "annotations": {}},
        "spec": {
            "model": "fraud",
            "version": "1.0.0",
            "stage": "staging",
            "description": "first",
            "artifact": {"uri": "s3://models/fraud/1.0.0/", "digest": "sha256:" + "a" * 64},
        },
        "status": {
            "observedGeneration": 1,
            "artifactVerified": True,
            "artifactBytes": 1024,
            "conditions": [
                {"type": "Ready", "status": "True", "reason": "Verified", "message": "ok"},
                {"type": "Stalled", "status": "False", "reason": "Verified", "message": "ok"},
                {"type": "Reconciling", "status": "False", "reason": "Verified", "message": "ok"},
            ],
            **status,
        },
    }


def changed(body: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    body = copy.deepcopy(body)
    *parents, last = path.split(".")
    target = body
    for part in parents:
        target = target[part]
    target[last] = value
    return body


def test_bookkeeping_and_descriptions_are_no_news() -> None:
    base = version()
    for other in (
        changed(base, "spec.description", "second"),
        changed(base, "metadata.generation", 2),
        changed(base, "metadata.annotations", {"mlops.dev/last-handled-configuration": "{}"}),
        changed(base, "status.observedGeneration", 2),
        changed(base, "status.stageHistory", [{"stage": "staging", "reason": "Registered"}]),
    ):
        assert source_signature(other) == source_signature(base)


def test_what_a_deployment_reads_is_news() -> None:
    base = version()
    not_ready = [
        {"type": "Ready", "status": "False", "reason": "ArtifactMissing", "message": "gone"},
        {"type": "Stalled", "status": "True", "reason": "ArtifactMissing", "message": "gone"},
    ]
    for other in (
        changed(base, "spec.stage", "production"),
        changed(base, "spec.artifact", {"uri": "s3://models/other/", "digest": "sha256:b"}),
        changed(base, "status.artifactBytes", 2048),
        changed(base, "status.conditions", not_ready),
        changed(base, "metadata.deletionTimestamp", "2026-12-07T09:00:00Z"),
    ):
        assert source_signature(other) != source_signature(base)
    assert source_signature({"metadata": {}}) != source_signature(base)
