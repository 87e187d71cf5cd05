"""Artifacts of every architecture trained briefly on the example datasets (examples/data), with
their ONNX export: what the runtime and explanation tests serve."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mlops_core.artifact_config import ArtifactConfig
from mlops_core.artifact_io import ArtifactMetrics, publish_artifact
from mlops_core.calibration import fit_temperature
from mlops_core.models import build_model, probabilities
from mlops_core.onnx_export import export_onnx
from mlops_core.preprocessing import fit_tabular, fit_text
from mlops_core.reference_stats import compute_reference_stats
from mlops_core.storage import LocalStore
from mlops_core.training_spec import ModelSpec

DATA = Path(__file__).resolve().parents[2] / "examples" / "data"
TABULAR = ("logistic_regression", "mlp")
TEXT = ("lstm", "cnn_text")
LABEL = {"breast-cancer": "diagnosis", "threat-classifier": "label"}


def dataset_of(architecture: str) -> str:
    return "breast-cancer" if architecture in TABULAR else "threat-classifier"


def example_columns(dataset: str, split: str) -> dict[str, list[Any]]:
    with (DATA / dataset / f"{split}.csv").open(newline="") as file:
        rows = list(csv.DictReader(file))
    columns: dict[str, list[Any]] = {name: [row[name] for row in rows] for name in rows[0]}
    if dataset == "breast-cancer":
        for name in columns:
            if name != LABEL[dataset]:
                columns[name] = [float(v) for v in columns[name]]
    return columns


def example_records(dataset: str, split: str) -> list[dict[str, Any]]:
    columns = example_columns(dataset, split)
    features = [name for name in columns if name != LABEL[dataset]]
    return [{f: columns[f][i] for f in features} for i in range(len(columns[features[0]]))]


def publish_example(
    folder: Path,
    architecture: str,
    *,
    onnx: bool = True,
    steps: int = 40,
    seed: int = 0,
    model: str = "m",
    calibrate: bool = False,
) -> LocalStore:
    """Train ``architecture`` for a few steps on its example dataset and publish it as version
    1.0.0 of ``model`` (with ``model.onnx`` unless ``onnx`` is False, and ``calibration.json``
    fitted on the validation split when ``calibrate``) in ``folder``."""
    dataset = dataset_of(architecture)
    train = example_columns(dataset, "train")
    label_column = LABEL[dataset]
    labels = sorted(set(train[label_column]))
    if architecture in TABULAR:
        features = [name for name in train if name != label_column]
        pre: Any = fit_tabular(train, feature_columns=features)
        spec = ModelSpec(architecture=architecture, hidden_sizes=[16, 8], dropout=0.0)
        extra: dict[str, Any] = {"num_features": pre.num_features}
    else:
        features = ["description"]
        pre = fit_text(train, text_column="description", max_vocab_size=400, max_length=24)
        spec = ModelSpec(architecture=architecture, embedding_dim=16, hidden_dim=16, dropout=0.0)
        extra = {
            "text_column": "description",
            "vocab_size": pre.vocab_size,
            "max_sequence_length": 24,
        }
    config = ArtifactConfig(
        architecture=architecture,
        task="tabular" if architecture in TABULAR else "text",
        model=spec,
        class_labels=labels,
        label_column=label_column,
        feature_names=features,
        **extra,
    )
    torch.manual_seed(seed)
    module = build_model(config)
    x = torch.from_numpy(pre.transform_columns(train))
    y = torch.tensor([labels.index(v) for v in train[label_column]])
    optimizer = torch.optim.Adam(module.parameters(), lr=0.02)
    for _ in range(steps):
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(module(x), y).backward()
        optimizer.step()
    module.eval()
    validation_columns = example_columns(dataset, "validation")
    validation = pre.transform_columns(validation_columns)
    calibration = None
    if calibrate:
        with torch.no_grad():
            proba = probabilities(module(torch.from_numpy(validation))).numpy()
        targets = np.array([labels.index(v) for v in validation_columns[label_column]])
        calibration = fit_temperature(proba, targets)
    store = LocalStore(folder)
    publish_artifact(
        store,
        model=model,
        version="1.0.0",
        module=module,
        config=config,
        preprocessor=pre,
        reference=compute_reference_stats(pre, train),
        metrics=ArtifactMetrics(epochs_run=1),
        onnx=export_onnx(module, config, np.asarray(validation)) if onnx else None,
        calibration=calibration,
    )
    return store
