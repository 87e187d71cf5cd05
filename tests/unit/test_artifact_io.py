"""Publishing and loading artifacts: manifest last, never overwritten, verified before loading."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import torch

from mlops_core.artifact import (
    CALIBRATION_FILE,
    CONFIG_FILE,
    MANIFEST_FILE,
    REFERENCE_STATS_FILE,
    WEIGHTS_FILE,
    build_manifest,
    manifest_bytes,
    read_verified_files,
)
from mlops_core.artifact_io import (
    ArtifactConfig,
    ArtifactError,
    ArtifactExistsError,
    ArtifactMetrics,
    load_artifact,
    publish_artifact,
)
from mlops_core.artifact_parts import parse_artifact_parts, read_artifact_parts
from mlops_core.calibration import Calibration
from mlops_core.models import build_model
from mlops_core.preprocessing import PreprocessingError, fit_tabular, fit_text
from mlops_core.reference_stats import compute_reference_stats
from mlops_core.storage import LocalStore
from mlops_core.training_spec import ModelSpec

pytestmark = pytest.mark.unit


@dataclass
class OrderedStore(LocalStore):
    """A LocalStore that remembers the order of writes."""

    written: list[str] = field(default_factory=list)

    def write_bytes(self, key: str, data: bytes) -> None:
        self.written.append(key)
        super().write_bytes(key, data)


def _train_tabular(seed: int = 0) -> dict[str, object]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=200)
    colour = rng.choice(["red", "blue"], size=200)
    label = np.where(x + (colour == "red") > 0.5, "yes", "no")
    columns = {"x": x.tolist(), "colour": colour.tolist()}
    pre = fit_tabular(columns, feature_columns=["x", "colour"])
    config = ArtifactConfig(
        architecture="logistic_regression",
        task="tabular",
        model=ModelSpec(architecture="logistic_regression"),
        class_labels=["no", "yes"],
        label_column="label",
        feature_names=["x", "colour"],
        num_features=pre.num_features,
    )
    torch.manual_seed(seed)
    module = build_model(config)
    inputs = torch.from_numpy(pre.transform_columns(columns))
    targets = torch.from_numpy((label == "yes").astype(np.int64))
    optimizer = torch.optim.Adam(module.parameters(), lr=0.1)
    for _ in range(100):
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(module(inputs), targets).backward()
        optimizer.step()
    module.eval()
    return {
        "module": module,
        "config": config,
        "preprocessor": pre,
        "reference": compute_reference_stats(pre, columns),
        "metrics": ArtifactMetrics(best_epoch=1, epochs_run=1, validation={"val_accuracy": 0.9}),
    }


@pytest.fixture(scope="module")
def trained() -> dict[str, object]:
    return _train_tabular()


def _publish(root: Path, trained: dict[str, object], version: str = "1.0.0") -> str:
    return publish_artifact(
        LocalStore(root),
        model="m",
        version=version,
        **trained,  # type: ignore[arg-type]
    ).digest


def test_round_trip_predicts_like_the_trained_module(tmp_path: Path, trained: dict) -> None:
    store = OrderedStore(tmp_path)
    published = publish_artifact(store, model="m", version="1.0.0", **trained)
    assert store.written[-1] == MANIFEST_FILE
    assert sorted(store.written[:-1]) == sorted(
        [
            "model.safetensors",
            "config.json",
            "preprocessing.json",
            "reference_stats.json",
            "metrics.json",
        ]
    )
    manifest_data = (tmp_path / MANIFEST_FILE).read_bytes()
    assert published.digest == "sha256:" + hashlib.sha256(manifest_data).hexdigest()

    loaded = load_artifact(LocalStore(tmp_path))
    assert loaded.digest == published.digest
    assert not loaded.module.training
    assert loaded.class_labels == ["no", "yes"]
    assert loaded.metrics.flat() == {"val_accuracy": 0.9}
    assert loaded.size_bytes == sum(e.size for e in loaded.manifest.files)
    records = [{"x": 2.0, "colour": "red"}, {"x": -2.0, "colour": "blue"}]
    expected = (
        torch.softmax(
            trained["module"](torch.from_numpy(trained["preprocessor"].transform(records))), dim=1
        )
        .detach()
        .numpy()
    )
    np.testing.assert_allclose(loaded.predict_proba(records), expected, rtol=1e-6)
    assert loaded.predict(records) == ["yes", "no"]


def test_batched_forward_equals_per_request_prediction(tmp_path: Path, trained: dict) -> None:
    _publish(tmp_path, trained)
    loaded = load_artifact(LocalStore(tmp_path))
    requests = [[{"x": 0.1 * i, "colour": "red"}] * (i + 1) for i in range(4)]
    merged = loaded.forward(torch.cat([loaded.encode(r) for r in requests]))
    separate = np.concatenate([loaded.predict_proba(r) for r in requests])
    np.testing.assert_allclose(merged.numpy(), separate, rtol=1e-6)
    assert loaded.forward(loaded.encode([])).shape == (0, 2)
    with pytest.raises(PreprocessingError, match=r"no column 'colour'"):
        loaded.encode([{"x": 1.0}])


def test_a_published_version_is_never_overwritten(tmp_path: Path, trained: dict) -> None:
    _publish(tmp_path, trained)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    with pytest.raises(ArtifactExistsError, match=r"already exists: version 1.0.0 of 'm'"):
        _publish(tmp_path, _train_tabular(seed=1))
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_leftovers_of_an_unfinished_attempt_are_replaced(tmp_path: Path, trained: dict) -> None:
    (tmp_path / WEIGHTS_FILE).write_bytes(b"half-written")
    _publish(tmp_path, trained)
    load_artifact(LocalStore(tmp_path))


def test_tampered_file_is_rejected_before_loading(tmp_path: Path, trained: dict) -> None:
    _publish(tmp_path, trained)
    weights = bytearray((tmp_path / WEIGHTS_FILE).read_bytes())
    weights[-1] ^= 0xFF
    (tmp_path / WEIGHTS_FILE).write_bytes(bytes(weights))
    with pytest.raises(ArtifactError, match=r"model.safetensors does not match the manifest"):
        load_artifact(LocalStore(tmp_path))


def test_missing_manifest_or_listed_file_is_an_error(tmp_path: Path, trained: dict) -> None:
    with pytest.raises(ArtifactError, match=r"manifest.json does not exist"):
        load_artifact(LocalStore(tmp_path))
    _publish(tmp_path, trained)
    (tmp_path / CONFIG_FILE).unlink()
    with pytest.raises(ArtifactError, match=r"config.json is listed in the manifest but missing"):
        load_artifact(LocalStore(tmp_path))


def test_weights_that_do_not_fit_the_config_are_an_error(tmp_path: Path, trained: dict) -> None:
    _publish(tmp_path, trained)
    config = json.loads((tmp_path / CONFIG_FILE).read_bytes())
    config["architecture"] = config["model"]["architecture"] = "mlp"
    files = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.name != MANIFEST_FILE}
    files[CONFIG_FILE] = json.dumps(config).encode()
    (tmp_path / CONFIG_FILE).write_bytes(files[CONFIG_FILE])
    (tmp_path / MANIFEST_FILE).write_bytes(manifest_bytes(build_manifest("m", "1.0.0", files)))
    with pytest.raises(ArtifactError, match=r"do not fit architecture 'mlp'"):
        load_artifact(LocalStore(tmp_path))


def test_weights_are_safetensors_not_pickle(tmp_path: Path, trained: dict) -> None:
    _publish(tmp_path, trained)
    header_size = int.from_bytes((tmp_path / WEIGHTS_FILE).read_bytes()[:8], "little")
    header = json.loads((tmp_path / WEIGHTS_FILE).read_bytes()[8 : 8 + header_size])
    assert header["__metadata__"] == {"format": "mlops-safetensors-v1"}


def test_text_artifact_round_trip(tmp_path: Path) -> None:
    texts = ["free prize click now", "meeting at noon", "click the prize link", "lunch at noon"]
    pre = fit_text({"t": texts}, text_column="t", max_vocab_size=100, max_length=6)
    config = ArtifactConfig(
        architecture="cnn_text",
        task="text",
        model=ModelSpec(architecture="cnn_text", embedding_dim=8, hidden_dim=8),
        class_labels=["ham", "spam"],
        label_column="label",
        feature_names=["t"],
        text_column="t",
        vocab_size=pre.vocab_size,
        max_sequence_length=6,
    )
    torch.manual_seed(0)
    module = build_model(config).eval()
    publish_artifact(
        LocalStore(tmp_path),
        model="spam",
        version="0.1.0",
        module=module,
        config=config,
        preprocessor=pre,
        reference=compute_reference_stats(pre, {"t": texts}),
        metrics=ArtifactMetrics(epochs_run=0),
    )
    loaded = load_artifact(LocalStore(tmp_path))
    records = [{"t": "click the free link"}]
    with torch.no_grad():
        expected = torch.softmax(module(torch.from_numpy(pre.transform(records))), dim=1)
    np.testing.assert_allclose(loaded.predict_proba(records), expected.numpy(), rtol=1e-6)
    assert set(loaded.drift_features(records)) == {"text_length", "oov_rate"}


def test_a_manifest_with_another_digest_than_expected_is_refused(
    tmp_path: Path, trained: dict
) -> None:
    digest = _publish(tmp_path, trained)
    assert load_artifact(LocalStore(tmp_path), expected_digest=digest).digest == digest
    other = "sha256:" + "0" * 64
    with pytest.raises(ArtifactError, match=f"has digest {digest}, not {other}"):
        load_artifact(LocalStore(tmp_path), expected_digest=other)


def test_calibration_is_published_listed_verified_and_optional(
    tmp_path: Path, trained: dict
) -> None:
    calibration = Calibration(temperature=1.7, samples=40, log_loss_before=0.5, log_loss_after=0.4)
    publish_artifact(
        LocalStore(tmp_path / "new"), model="m", version="1", calibration=calibration, **trained
    )
    parts = read_artifact_parts(LocalStore(tmp_path / "new"))
    assert CALIBRATION_FILE in {entry.path for entry in parts.manifest.files}
    assert parts.calibration == calibration
    # a version trained before calibration existed is read as uncalibrated
    _publish(tmp_path / "old", trained)
    assert read_artifact_parts(LocalStore(tmp_path / "old")).calibration is None
    # a changed calibration.json fails its sha256 before it is parsed
    path = tmp_path / "new" / CALIBRATION_FILE
    path.write_bytes(path.read_bytes().replace(b"1.7", b"9.7"))
    with pytest.raises(ArtifactError, match=r"calibration.json does not match the manifest"):
        read_artifact_parts(LocalStore(tmp_path / "new"))


def test_deferred_reference_statistics_are_read_and_checked_when_first_used(
    tmp_path: Path, trained: dict
) -> None:
    _publish(tmp_path, trained)
    store, reads = LocalStore(tmp_path), []
    read_bytes = store.read_bytes
    store.read_bytes = lambda key: reads.append(key) or read_bytes(key)  # type: ignore[method-assign]
    parts = parse_artifact_parts(store, read_verified_files(store, deferred=[REFERENCE_STATS_FILE]))
    assert REFERENCE_STATS_FILE not in reads
    assert REFERENCE_STATS_FILE not in parts.files
    assert parts.size_bytes == read_artifact_parts(LocalStore(tmp_path)).size_bytes  # counted
    assert parts.read_reference().features  # read now, matching the manifest
    stats = bytearray((tmp_path / REFERENCE_STATS_FILE).read_bytes())
    stats[-2] ^= 0x01
    (tmp_path / REFERENCE_STATS_FILE).write_bytes(bytes(stats))
    with pytest.raises(ArtifactError, match=r"reference_stats.json does not match the manifest"):
        parts.read_reference()
    (tmp_path / REFERENCE_STATS_FILE).unlink()
    with pytest.raises(ArtifactError, match=r"cannot read reference_stats.json"):
        parts.read_reference()
    with pytest.raises(ArtifactError, match=r"reference_stats.json is listed in the manifest"):
        read_artifact_parts(LocalStore(tmp_path))  # read at once unless deferred
