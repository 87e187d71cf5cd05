import json
from pathlib import Path

import pytest

from mlops_core.artifact import (
    ARTIFACT_FILES,
    CONFIG_FILE,
    MANIFEST_FILE,
    METRICS_FILE,
    WEIGHTS_FILE,
    ArtifactError,
    build_manifest,
    digest_of,
    manifest_bytes,
)
from mlops_core.storage import LocalStore
from mlops_operator.reconcile.artifact import flatten_metrics, verify_artifact

pytestmark = pytest.mark.unit


def _publish(root: Path) -> str:
    files = {name: f"content of {name}".encode() for name in ARTIFACT_FILES}
    files[METRICS_FILE] = json.dumps(
        {"bestEpoch": 3, "validation": {"val_accuracy": 0.93}, "test": {"test_f1": 0.9}}
    ).encode()
    files[CONFIG_FILE] = json.dumps(
        {
            "architecture": "mlp",
            "model": {"optimizer": {"learningRate": 0.01}},
            "classLabels": ["a", "b"],
        }
    ).encode()
    store = LocalStore(root)
    for name, data in files.items():
        store.write_bytes(name, data)
    data = manifest_bytes(build_manifest("m", "1.0.0", files))
    store.write_bytes(MANIFEST_FILE, data)
    return digest_of(data)


def test_a_complete_artifact_verifies(tmp_path: Path) -> None:
    digest = _publish(tmp_path)
    verified = verify_artifact(
        LocalStore(tmp_path), expected_digest=digest, expected_model="m", expected_version="1.0.0"
    )
    assert verified.digest == digest
    assert verified.metrics == {"test_f1": 0.9, "val_accuracy": 0.93}
    assert verified.hyperparameters["optimizer.learningRate"] == "0.01"
    assert verified.hyperparameters["architecture"] == "mlp"


def test_a_corrupted_file_is_named(tmp_path: Path) -> None:
    _publish(tmp_path)
    (tmp_path / WEIGHTS_FILE).write_bytes(b"tampered")
    with pytest.raises(ArtifactError, match=r"model\.safetensors does not match the manifest"):
        verify_artifact(LocalStore(tmp_path))


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    _publish(tmp_path)
    (tmp_path / CONFIG_FILE).unlink()
    with pytest.raises(ArtifactError, match=r"config\.json is listed in the manifest but missing"):
        verify_artifact(LocalStore(tmp_path))


def test_no_manifest_means_never_published(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match="never completely published"):
        verify_artifact(LocalStore(tmp_path))


def test_digest_model_and_version_must_match(tmp_path: Path) -> None:
    _publish(tmp_path)
    with pytest.raises(ArtifactError, match="not the expected"):
        verify_artifact(LocalStore(tmp_path), expected_digest="sha256:" + "0" * 64)
    with pytest.raises(ArtifactError, match="holds model 'm', not 'other'"):
        verify_artifact(LocalStore(tmp_path), expected_model="other")
    with pytest.raises(ArtifactError, match=r"holds version '1\.0\.0', not '2\.0\.0'"):
        verify_artifact(LocalStore(tmp_path), expected_version="2.0.0")


def test_flatten_metrics_skips_booleans_and_deep_nesting() -> None:
    assert flatten_metrics({"a": True, "b": 1, "c": {"d": 2.5, "e": {"f": 1}}}) == {
        "b": 1.0,
        "c_d": 2.5,
    }
    assert flatten_metrics({"val_loss": 0.5, "extra": {"f1": 0.9}}) == {
        "extra_f1": 0.9,
        "val_loss": 0.5,
    }
    assert flatten_metrics(None) == {}
