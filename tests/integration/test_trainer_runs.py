"""``python -m mlops_trainer`` end to end on real data: artifacts, bad input, retries, resume."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pa_parquet
import pytest
import yaml

from mlops_core.artifact import (
    ARTIFACT_FILES,
    CALIBRATION_FILE,
    MANIFEST_FILE,
    ONNX_FILE,
    WEIGHTS_FILE,
    digest_of,
)
from mlops_core.artifact_io import load_artifact
from mlops_core.progress import TrainingResult
from mlops_core.storage import LocalStore
from mlops_serving.runtimes import load_servable

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples" / "data"
CLEARED_ENV = (
    "MLFLOW_TRACKING_URI",
    "MLOPS_TRAININGJOB_NAME",
    "MLOPS_TRAININGJOB_NAMESPACE",
    "WORLD_SIZE",
    "RANK",
    "JOB_COMPLETION_INDEX",
    "MLOPS_TRAINER_CONFIG",
)


@dataclass
class Finished:
    returncode: int
    stdout: str
    stderr: str
    result: TrainingResult | None

    def events(self, kind: str) -> list[dict[str, Any]]:
        lines = [json.loads(line) for line in self.stdout.splitlines() if line.startswith("{")]
        return [line for line in lines if line["event"] == kind]


def trainer_env(tmp_path: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in CLEARED_ENV}
    env.update(OMP_NUM_THREADS="1", MLOPS_TERMINATION_MESSAGE_PATH=str(tmp_path / "termination"))
    env.update(extra or {})
    return env


def finished(tmp_path: Path, proc: subprocess.CompletedProcess[str]) -> Finished:
    term = tmp_path / "termination"
    result = TrainingResult.model_validate_json(term.read_bytes()) if term.exists() else None
    return Finished(proc.returncode, proc.stdout, proc.stderr, result)


def run_trainer(
    config: dict[str, Any], tmp_path: Path, *, env: dict[str, str] | None = None
) -> Finished:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    (tmp_path / "termination").unlink(missing_ok=True)
    proc = subprocess.run(
        [sys.executable, "-m", "mlops_trainer", "--config", str(path)],
        env=trainer_env(tmp_path, env),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    return finished(tmp_path, proc)


def breast_cancer_config(out: Path, **training: Any) -> dict[str, Any]:
    return {
        "dataset": {
            "train": str(EXAMPLES / "breast-cancer" / "train.csv"),
            "validation": str(EXAMPLES / "breast-cancer" / "validation.csv"),
            "test": str(EXAMPLES / "breast-cancer" / "test.csv"),
            "labelColumn": "diagnosis",
        },
        "model": {
            "architecture": "mlp",
            "hiddenSizes": [32],
            "optimizer": {"name": "adam", "learningRate": 0.01},
            "metrics": ["accuracy", "precision", "recall", "f1", "roc_auc", "loss"],
        },
        "training": {"epochs": 6, "batchSize": 32, **training},
        "output": {"modelName": "breast-cancer", "version": "1.0.0", "artifactUri": str(out)},
    }


def _csv_rows(path: Path) -> list[dict[str, Any]]:
    return pa_csv.read_csv(path).to_pylist()


def test_tabular_run_publishes_an_artifact_that_predicts(tmp_path: Path) -> None:
    out = tmp_path / "models" / "breast-cancer" / "1.0.0"
    done = run_trainer(breast_cancer_config(out), tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.result is not None
    assert done.result.succeeded
    assert done.result.digest == digest_of((out / MANIFEST_FILE).read_bytes())
    assert done.result.metrics["test_roc_auc"] > 0.95
    epochs = done.events("epoch")
    assert [e["epoch"] for e in epochs] == list(range(1, len(epochs) + 1))
    assert {"train_loss", "val_accuracy", "val_roc_auc", "val_loss"} <= set(
        epochs[-1]["latestMetrics"]
    )
    assert not (out / "checkpoints").exists() or not any((out / "checkpoints").glob("epoch-*"))

    loaded = load_artifact(LocalStore(out))
    assert loaded.digest == done.result.digest
    assert loaded.metrics.best_epoch == done.result.best_epoch
    test_rows = _csv_rows(EXAMPLES / "breast-cancer" / "test.csv")
    labels = [row.pop("diagnosis") for row in test_rows]
    accuracy = np.mean(np.array(loaded.predict(test_rows)) == np.array(labels))
    assert accuracy == pytest.approx(done.result.metrics["test_accuracy"])
    assert accuracy > 0.9
    served = load_servable(LocalStore(out), requested="onnx")  # the ONNX export, verified
    assert served.runtime == "onnx"
    assert np.abs(served.predict_proba(test_rows) - loaded.predict_proba(test_rows)).max() <= 1e-5
    mean_radius = loaded.reference.feature("mean_radius")
    assert mean_radius.kind == "numeric"
    assert len(mean_radius.counts) == 10  # type: ignore[union-attr]


@pytest.mark.parametrize("architecture", ["cnn_text", "lstm"])
def test_text_models_learn_the_threat_descriptions(tmp_path: Path, architecture: str) -> None:
    data = EXAMPLES / "threat-classifier"
    train = pa_csv.read_csv(data / "train.csv").slice(0, 800)
    pa_csv.write_csv(train, tmp_path / "train.csv")
    out = tmp_path / "artifact"
    config = {
        "dataset": {
            "train": str(tmp_path / "train.csv"),
            "validation": str(data / "validation.csv"),
            "test": str(data / "test.csv"),
            "textColumn": "description",
        },
        "model": {
            "architecture": architecture,
            "embeddingDim": 16,
            "hiddenDim": 16,
            "maxSequenceLength": 32,
            "dropout": 0.0,
            "optimizer": {"name": "adam", "learningRate": 0.01},
        },
        "training": {"epochs": 4, "batchSize": 32},
        "output": {"modelName": "threat-classifier", "version": "0.1.0", "artifactUri": str(out)},
    }
    done = run_trainer(config, tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.result is not None
    assert done.result.metrics["test_accuracy"] > 0.6  # four classes: chance is 0.25
    loaded = load_artifact(LocalStore(out))
    assert loaded.config.task == "text"
    prediction = loaded.predict(
        [{"description": "port scan from 10.1.2.3 hit 200 hosts on port 22 then ssh logins"}]
    )
    assert prediction[0] in {"benign", "phishing", "malware", "intrusion"}
    test_rows = _csv_rows(data / "test.csv")
    served = load_servable(LocalStore(out), requested="onnx")
    assert served.runtime == "onnx"
    assert np.abs(served.predict_proba(test_rows) - loaded.predict_proba(test_rows)).max() <= 1e-5
    assert [f.name for f in loaded.reference.features] == ["text_length", "oov_rate"]


@pytest.mark.parametrize("data_format", ["parquet", "jsonl"])
def test_parquet_and_json_lines_with_config_from_the_environment(
    tmp_path: Path, data_format: str
) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 2))
    table = pa.table(
        {
            "a": x[:, 0],
            "b": x[:, 1],
            "shape": rng.choice(["round", "square"], size=300),
            "label": np.where(x[:, 0] + x[:, 1] > 0, "pos", "neg"),
        }
    )
    path = tmp_path / f"train.{data_format}"
    if data_format == "parquet":
        pa_parquet.write_table(table, path)
    else:
        path.write_text("".join(json.dumps(row) + "\n" for row in table.to_pylist()))
    config = {
        "dataset": {"train": str(path), "format": data_format},
        "model": {
            "architecture": "logistic_regression",
            "optimizer": {"learningRate": 0.05},
            "loss": "binary_cross_entropy",
        },
        "training": {"epochs": 3},
        "output": {"modelName": "m", "version": "1.0.0", "artifactUri": str(tmp_path / "out")},
    }
    proc = subprocess.run(
        [sys.executable, "-m", "mlops_trainer"],
        env=trainer_env(tmp_path, {"MLOPS_TRAINER_CONFIG": json.dumps(config)}),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    done = finished(tmp_path, proc)
    assert done.returncode == 0, done.stderr
    assert done.result is not None
    assert done.result.metrics["val_accuracy"] > 0.85  # held out from train: no validation given
    loaded = load_artifact(LocalStore(tmp_path / "out"))
    assert loaded.config.output_size == 1
    assert loaded.predict([{"a": 2.0, "b": 2.0, "shape": "round"}]) == ["pos"]


def _tiny_csv(tmp_path: Path, *, rows: int = 60, label: list[Any] | None = None) -> Path:
    rng = np.random.default_rng(1)
    x = rng.normal(size=rows)
    labels = label if label is not None else np.where(x > 0, "yes", "no").tolist()
    path = tmp_path / "data.csv"
    pa_csv.write_csv(pa.table({"x": x, "label": labels}), path)
    return path


def _tiny_config(tmp_path: Path, train: str, **model: Any) -> dict[str, Any]:
    return {
        "dataset": {"train": train},
        "model": {"architecture": "logistic_regression", **model},
        "training": {"epochs": 2},
        "output": {"modelName": "m", "version": "1.0.0", "artifactUri": str(tmp_path / "out")},
    }


def _write(path: Path, text: str) -> str:
    path.write_text(text)
    return str(path)


def _missing_dataset(p: Path) -> dict[str, Any]:
    return _tiny_config(p, str(p / "nowhere.csv"))


def _unknown_column(p: Path) -> dict[str, Any]:
    config = _tiny_config(p, str(_tiny_csv(p)))
    config["dataset"]["featureColumns"] = ["height"]
    return config


def _unknown_architecture(p: Path) -> dict[str, Any]:
    return _tiny_config(p, str(_tiny_csv(p)), architecture="transformer")


def _empty_split(p: Path) -> dict[str, Any]:
    return _tiny_config(p, _write(p / "empty.csv", "x,label\n"))


def _one_class(p: Path) -> dict[str, Any]:
    return _tiny_config(p, str(_tiny_csv(p, label=["spam"] * 60)))


def _nan_loss(p: Path) -> dict[str, Any]:
    rows = "x,label\n1,a\ninf,b\n2,a\n3,b\n4,a\n5,b\n6,a\n"  # inf → NaN inputs → NaN loss
    return _tiny_config(p, _write(p / "inf.csv", rows))


BAD_INPUT: dict[str, tuple[Callable[[Path], dict[str, Any]], str]] = {
    "missing dataset": (_missing_dataset, r"dataset.train: .*nowhere.csv does not exist"),
    "unknown column": (
        _unknown_column,
        r"dataset.featureColumns entry 'height' is not a column of the train split",
    ),
    "unknown architecture": (
        _unknown_architecture,
        r"invalid config in .*model.architecture: Input should be",
    ),
    "empty split": (_empty_split, r"dataset.train: .*empty.csv has no rows"),
    "one class": (
        _one_class,
        r"label column 'label' has one class \('spam'\) in the training split",
    ),
    "nan loss": (_nan_loss, r"training loss became nan in epoch 1"),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUT))
def test_bad_input_fails_with_one_line_and_publishes_nothing(tmp_path: Path, case: str) -> None:
    make_config, reason = BAD_INPUT[case]
    done = run_trainer(make_config(tmp_path), tmp_path)
    assert done.returncode != 0
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ")
    assert re.search(reason, last), last
    assert done.result is not None
    assert not done.result.succeeded
    assert done.result.reason is not None
    assert "\n" not in done.result.reason
    assert re.search(reason, done.result.reason)
    assert not (tmp_path / "out" / MANIFEST_FILE).exists()


def test_published_version_is_refused_but_the_same_run_may_retry(tmp_path: Path) -> None:
    out = tmp_path / "out"
    config = breast_cancer_config(out, epochs=2, checkpointInterval=1)
    first = run_trainer(config, tmp_path)
    assert first.returncode == 0, first.stderr
    manifest = (out / MANIFEST_FILE).read_bytes()
    # the checkpoints (under the artifact by default) are gone after the publish, markers too:
    # the folder holds the artifact's files and nothing else
    left = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert left == sorted([*ARTIFACT_FILES, ONNX_FILE, CALIBRATION_FILE, MANIFEST_FILE])

    retry = run_trainer(config, tmp_path)  # e.g. the pod died after publishing
    assert retry.returncode == 0, retry.stderr
    assert retry.result is not None
    assert first.result is not None
    assert retry.result.digest == first.result.digest

    other = breast_cancer_config(out, epochs=2, seed=7, checkpointInterval=1)
    refused = run_trainer(other, tmp_path)
    assert refused.returncode == 1
    assert refused.result is not None
    assert "already exists" in (refused.result.reason or "")
    assert "is never overwritten" in refused.stderr
    assert (out / MANIFEST_FILE).read_bytes() == manifest


def test_a_killed_run_resumes_from_its_checkpoint_and_ends_like_an_uninterrupted_one(
    tmp_path: Path,
) -> None:
    settings = {"epochs": 20, "earlyStopping": {"enabled": False}, "checkpointInterval": 1}
    whole_dir, cut_dir = tmp_path / "whole", tmp_path / "cut"
    whole_dir.mkdir()
    cut_dir.mkdir()
    whole = run_trainer(breast_cancer_config(whole_dir / "out", **settings), whole_dir)
    assert whole.returncode == 0, whole.stderr

    config = breast_cancer_config(cut_dir / "out", **settings)
    (cut_dir / "config.json").write_text(json.dumps(config))
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlops_trainer", "--config", str(cut_dir / "config.json")],
        env=trainer_env(cut_dir),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        if json.loads(line).get("epoch") == 2:
            break  # epoch 1's checkpoint was written before epoch 2 began; 18 epochs remain
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    proc.stdout.close()
    assert not (cut_dir / "out" / MANIFEST_FILE).exists()

    resumed = run_trainer(config, cut_dir)
    assert resumed.returncode == 0, resumed.stderr
    first_epoch = resumed.events("epoch")[0]["epoch"]
    assert first_epoch > 1, "the retry started over instead of resuming"
    assert "resumed from checkpoint" in resumed.stderr
    assert (cut_dir / "out" / WEIGHTS_FILE).read_bytes() == (
        whole_dir / "out" / WEIGHTS_FILE
    ).read_bytes()
    assert resumed.result is not None
    assert whole.result is not None
    assert resumed.result.metrics == whole.result.metrics


@pytest.mark.parametrize(
    "example", ["trainer-breast-cancer.yaml", "trainer-threat-classifier.yaml"]
)
def test_example_trainer_configs_train_from_the_repository_root(
    tmp_path: Path, example: str
) -> None:
    config = yaml.safe_load((EXAMPLES / example).read_text())
    config["output"]["artifactUri"] = str(tmp_path / "out")
    config["training"]["epochs"] = 2  # the example, shortened for the test
    path = tmp_path / example
    path.write_text(yaml.safe_dump(config))
    proc = subprocess.run(
        [sys.executable, "-m", "mlops_trainer", "--config", str(path)],
        env=trainer_env(tmp_path),
        cwd=REPO,  # the examples name their data relative to the repository root
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    done = finished(tmp_path, proc)
    assert done.returncode == 0, done.stderr
    assert done.result is not None
    assert done.result.metrics["test_accuracy"] > 0.6
