"""Every example manifest parses into its typed model, and the typed models round-trip."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any, cast

import pytest
import yaml

from mlops_core.training_spec import OutputSpec, TrainerConfig
from mlops_operator.api.kinds import KINDS, kind_named
from mlops_operator.api.meta import API_VERSION
from mlops_operator.api.model_version import ModelVersion
from mlops_operator.api.training_job import TrainingJob

pytestmark = pytest.mark.unit

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
EXAMPLE_FILES = sorted(
    path for path in EXAMPLES.rglob("*.yaml") if "data" not in path.relative_to(EXAMPLES).parts
)


def _documents(path: Path) -> list[dict[str, Any]]:
    """The mlops.dev documents of an example (Kueue's own objects in examples/queueing are
    Kueue's API server's to check)."""
    documents = [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
    return [doc for doc in documents if not doc["apiVersion"].startswith("kueue.x-k8s.io/")]


def _frozen(value: Any) -> Any:
    """A read-only view like the bodies kopf hands to handlers."""
    if isinstance(value, dict):
        return MappingProxyType({key: _frozen(item) for key, item in value.items()})
    if isinstance(value, list):
        return tuple(_frozen(item) for item in value)
    return value


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: str(p.relative_to(EXAMPLES)))
def test_example_parses_and_round_trips(path: Path) -> None:
    for document in _documents(path):
        assert document["apiVersion"] == API_VERSION
        resource = kind_named(document["kind"]).resource
        parsed = resource.from_body(_frozen(document))
        assert resource.from_body(parsed.to_wire()) == parsed
        # what the user wrote survives (defaults are only added, never changed)
        assert _contains(parsed.to_wire()["spec"], document["spec"])


def _contains(full: Any, written: Any) -> bool:
    if isinstance(written, Mapping):
        return isinstance(full, Mapping) and all(
            key in full and _contains(full[key], value) for key, value in written.items()
        )
    if isinstance(written, list):
        return (
            isinstance(full, list)
            and len(full) == len(written)
            and all(_contains(a, b) for a, b in zip(full, written, strict=True))
        )
    return bool(full == written or (isinstance(written, int | float) and str(written) == full))


def test_every_kind_has_an_example() -> None:
    kinds = {doc["kind"] for path in EXAMPLE_FILES for doc in _documents(path)}
    assert kinds == {kind.kind for kind in KINDS}


def test_examples_keep_training_short() -> None:
    for path in EXAMPLE_FILES:
        for document in _documents(path):
            spec = document["spec"]
            training = spec.get("training") or spec.get("trialTemplate", {}).get("training", {})
            assert training.get("epochs", 10) <= 10, path


def test_threat_classifier_example_is_the_text_model() -> None:
    job = TrainingJob.from_body(_documents(EXAMPLES / "threat-classifier/trainingjob.yaml")[0])
    assert job.spec.model_name == "threat-classifier"
    assert job.spec.model.architecture in ("cnn_text", "lstm")
    assert job.spec.dataset.text_column == "description"
    assert job.spec.dataset.label_column == "label"
    assert [job.spec.dataset.train, job.spec.dataset.validation, job.spec.dataset.test] == [
        f"s3://mlops/datasets/threat/{split}.csv" for split in ("train", "validation", "test")
    ]


def test_gpu_and_distributed_examples() -> None:
    gpu = TrainingJob.from_body(_documents(EXAMPLES / "gpu/trainingjob.yaml")[0])
    assert gpu.spec.resources.gpu == 1
    distributed = TrainingJob.from_body(_documents(EXAMPLES / "distributed/trainingjob.yaml")[0])
    assert distributed.spec.workers == 2
    assert distributed.spec.resources.cpu == "1"  # an integer in YAML, a quantity here


def test_a_training_job_spec_passes_to_the_trainer_unchanged() -> None:
    job = TrainingJob.from_body(_documents(EXAMPLES / "tabular/trainingjob.yaml")[0])
    config = TrainerConfig(
        dataset=job.spec.dataset,
        model=job.spec.model,
        training=job.spec.training,
        output=OutputSpec(
            model_name=job.spec.model_name,
            version="1.0.0",
            artifact_uri="s3://mlops/models/breast-cancer/1.0.0/",
        ),
    )
    wire = config.to_wire()
    assert wire["dataset"] == job.spec.dataset.to_wire()
    assert TrainerConfig.model_validate(wire) == config


def test_metadata_that_the_api_server_adds_is_tolerated() -> None:
    body = _documents(EXAMPLES / "registry/modelversion.yaml")[0]
    body["metadata"] |= {
        "namespace": "team-a",
        "uid": "0b7c",
        "generation": 3,
        "resourceVersion": "42",
        "creationTimestamp": "2026-01-01T00:00:00Z",
        "managedFields": [{"manager": "kubectl"}],
    }
    body["status"] = {"observedGeneration": 3, "artifactVerified": True}
    version = ModelVersion.from_body(body)
    assert version.metadata.namespace == "team-a"
    assert version.metadata.generation == 3
    assert version.status.artifact_verified is True
    assert version.status.conditions == []


def test_a_kopf_body_parses_once_into_the_typed_object() -> None:
    import kopf

    raw = _documents(EXAMPLES / "tabular/trainingjob.yaml")[0]
    raw["status"] = {"phase": "Running", "progress": {"epoch": 2, "totalEpochs": 8}}
    job = TrainingJob.from_body(kopf.Body(cast("kopf.RawBody", raw)))
    assert job.spec.model_name == "breast-cancer"
    assert job.status.phase == "Running"
    assert job.status.progress is not None
    assert job.status.progress.total_epochs == 8
