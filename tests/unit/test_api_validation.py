"""The invariants the CRDs enforce with CEL hold in Python too, with the same messages."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from mlops_core.artifact import ARTIFACT_FORMAT
from mlops_operator.api.kinds import KINDS, kind_named
from mlops_operator.api.meta import API_VERSION, GROUP, SEMVER_PATTERN, VERSION
from mlops_operator.api.model_version import ArtifactFormat, check_semver
from mlops_operator.api.training_job import TEXT_ARCHITECTURES

pytestmark = pytest.mark.unit

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _load(relative: str) -> dict[str, Any]:
    document = yaml.safe_load((EXAMPLES / relative).read_text())
    assert isinstance(document, dict)
    return document


def _merge(base: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    merged = dict(base) if isinstance(base, dict) else {}
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = _merge(merged.get(key), value)
    return merged


INVALID: list[tuple[str, dict[str, Any], str]] = [
    ("gpu/trainingjob.yaml", {"spec": {"resources": {"gpu": -1}}}, "greater than or equal to 0"),
    ("distributed/trainingjob.yaml", {"spec": {"workers": 0}}, "greater than or equal to 1"),
    (
        "threat-classifier/trainingjob.yaml",
        {"spec": {"dataset": {"textColumn": None}}},
        "text models (lstm, cnn_text) need dataset.textColumn",
    ),
    (
        "tabular/trainingjob.yaml",
        {"spec": {"dataset": {"textColumn": "description"}}},
        "tabular models (logistic_regression, mlp) take no dataset.textColumn",
    ),
    (
        "tabular/trainingjob.yaml",
        {"spec": {"resources": {"gpuProduct": "NVIDIA-H100-80GB-HBM3"}}},
        "gpuProduct applies only with gpu > 0",
    ),
    (
        "tabular/trainingjob.yaml",
        {"spec": {"registration": {"version": "v2"}}},
        "registration.version 'v2' must be a semantic version",
    ),
    (
        "tabular/trainingjob.yaml",
        {"spec": {"resources": {"cpu": "lots"}}},
        "cpu must be a Kubernetes quantity such as 500m, 1 or 2.5",
    ),
    (
        "tabular/trainingjob.yaml",
        {"spec": {"resources": {"memory": "2GB"}}},
        "memory must be a Kubernetes quantity such as 512Mi or 2Gi",
    ),
    ("tabular/trainingjob.yaml", {"spec": {"unknownField": 1}}, "Extra inputs are not permitted"),
    ("registry/modelversion.yaml", {"spec": {"version": "1.0"}}, "must be a semantic version"),
    (
        "registry/modelversion.yaml",
        {"spec": {"artifact": {"digest": "md5:00"}}},
        "should match pattern",
    ),
    (
        "experiment/experiment.yaml",
        {"spec": {"maxTrials": 3, "parallelTrials": 4}},
        "parallelTrials must not exceed maxTrials",
    ),
    (
        "experiment/experiment.yaml",
        {
            "spec": {
                "searchSpace": [{"name": "model.dropout", "type": "float", "low": 1, "high": 0}]
            }
        },
        "low must be less than high",
    ),
    (
        "experiment/experiment.yaml",
        {
            "spec": {
                "searchSpace": [
                    {"name": "model.dropout", "type": "float", "low": 0, "high": 1, "log": True}
                ]
            }
        },
        "a log-scaled range needs low > 0",
    ),
    (
        "experiment/experiment.yaml",
        {"spec": {"searchSpace": [{"name": "training.batchSize", "type": "categorical"}]}},
        "categorical parameters need values",
    ),
    (
        "experiment/experiment.yaml",
        {
            "spec": {
                "searchSpace": [{"name": "model.hiddenDim", "type": "int", "low": 1.5, "high": 9}]
            }
        },
        "int parameters need whole-number low and high",
    ),
    ("experiment/experiment.yaml", {"spec": {"strategy": "grid"}}, "grid search needs a finite"),
    (
        "experiment/experiment.yaml",
        {"spec": {"searchSpace": [{"name": "model.layers", "type": "int", "low": 1, "high": 4}]}},
        "'model.layers' is not a tunable field of the trial template; choose one of",
    ),
    (
        "experiment/experiment.yaml",
        {
            "spec": {
                "searchSpace": [
                    {"name": "model.dropout", "type": "float", "low": 0, "high": 0.5},
                    {"name": "model.dropout", "type": "float", "low": 0, "high": 0.3},
                ]
            }
        },
        "names a parameter more than once: model.dropout",
    ),
    (
        "deployments/canary.yaml",
        {"spec": {"strategy": {"canary": {"stepWeights": [10, 50, 25]}}}},
        "canary step weights must strictly increase",
    ),
    (
        "deployments/canary.yaml",
        {"spec": {"strategy": {"canary": {"stepWeights": [10, 101]}}}},
        "less than or equal to 100",
    ),
    (
        "deployments/ab-test.yaml",
        {
            "spec": {
                "strategy": {
                    "abTest": {
                        "variants": [
                            {"version": "1.0.0", "weight": 60},
                            {"version": "1.1.0", "weight": 60},
                        ]
                    }
                }
            }
        },
        "A/B variant weights must add up to 100",
    ),
    ("deployments/ab-test.yaml", {"spec": {"version": "1.0.0"}}, "an ab-test serves the versions"),
    ("deployments/direct.yaml", {"spec": {"version": "1.0.0"}}, "set exactly one of version"),
    ("deployments/direct.yaml", {"spec": {"followStage": None}}, "set exactly one of version"),
    (
        "deployments/direct.yaml",
        {"spec": {"strategy": {"canary": {"stepWeights": [50]}}}},
        "strategy.canary applies only to strategy type canary",
    ),
    (
        "deployments/canary.yaml",
        {"spec": {"alerts": [{"name": "owners", "type": "email", "secretName": "smtp"}]}},
        "an email channel needs to",
    ),
]


@pytest.mark.parametrize(("example", "patch", "expected"), INVALID)
def test_invalid_manifest_is_refused_in_python(
    example: str, patch: dict[str, Any], expected: str
) -> None:
    base = _load(example)
    resource = kind_named(base["kind"]).resource
    resource.from_body(base)
    with pytest.raises(ValidationError) as caught:
        resource.from_body(_merge(base, patch))
    assert expected in str(caught.value)


@pytest.mark.parametrize("version", ["0.0.1", "1.4.0", "10.20.30", "2.0.0-rc.1", "1.0.0+build.7"])
def test_semantic_versions_pass(version: str) -> None:
    assert check_semver(version) == version


@pytest.mark.parametrize("version", ["1.0", "v1.0.0", "01.0.0", "1.0.0-", "latest", "1.0.0 "])
def test_other_versions_fail_with_the_reason(version: str) -> None:
    with pytest.raises(ValueError, match="must be a semantic version"):
        check_semver(version)


def test_the_semver_pattern_needs_no_escaping_inside_cel() -> None:
    assert "\\" not in SEMVER_PATTERN
    assert "'" not in SEMVER_PATTERN
    assert re.fullmatch(SEMVER_PATTERN, "1.2.3")


def test_api_agrees_with_the_shared_library() -> None:
    assert f"{GROUP}/{VERSION}" == API_VERSION
    assert ArtifactFormat.__args__ == (ARTIFACT_FORMAT,)  # type: ignore[attr-defined]
    assert TEXT_ARCHITECTURES == ("lstm", "cnn_text")


def test_kind_lookup_names_the_known_kinds() -> None:
    assert kind_named("TrainingJob").plural == "trainingjobs"
    with pytest.raises(KeyError, match="Model, ModelVersion, TrainingJob, Experiment, Deployment"):
        kind_named("Pipeline")
    assert len({kind.crd_name for kind in KINDS}) == len(KINDS)
    assert len({name for kind in KINDS for name in kind.short_names}) == sum(
        len(kind.short_names) for kind in KINDS
    )
