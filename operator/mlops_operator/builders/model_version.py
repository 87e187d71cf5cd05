"""The ModelVersion that registers a successful run's verified artifact."""

from __future__ import annotations

from typing import Any

from mlops_core.artifact import ARTIFACT_FORMAT
from mlops_operator.api.meta import API_VERSION, METRICS_MAX
from mlops_operator.api.model_version import HYPERPARAMETERS_MAX
from mlops_operator.api.training_job import TrainingJob
from mlops_operator.builders.names import (
    LABEL_MANAGED_BY,
    LABEL_MODEL,
    LABEL_TRAINING_JOB,
    LABEL_VERSION,
    MANAGED_BY,
    label_value,
    model_version_name,
)

Manifest = dict[str, Any]
HYPERPARAMETER_VALUE_MAX = 256


def training_hyperparameters(tj: TrainingJob) -> dict[str, str]:
    """The hyperparameters a person compares versions by, as text."""
    model, training = tj.spec.model, tj.spec.training
    values: dict[str, object] = {
        "architecture": model.architecture,
        "optimizer": model.optimizer.name,
        "learningRate": model.optimizer.learning_rate,
        "weightDecay": model.optimizer.weight_decay,
        "dropout": model.dropout,
        "loss": model.loss,
        "epochs": training.epochs,
        "batchSize": training.batch_size,
        "seed": training.seed,
        "workers": tj.spec.workers,
    }
    if model.architecture == "mlp":
        values["hiddenSizes"] = ",".join(str(size) for size in model.hidden_sizes)
    if model.architecture in ("lstm", "cnn_text"):
        values["embeddingDim"] = model.embedding_dim
        values["hiddenDim"] = model.hidden_dim
        values["maxSequenceLength"] = model.max_sequence_length
    return {k: str(v)[:HYPERPARAMETER_VALUE_MAX] for k, v in values.items()}


def build_model_version(
    tj: TrainingJob,
    *,
    version: str,
    artifact_uri: str,
    digest: str,
    metrics: dict[str, float],
    stage: str | None = None,
    experiment: str | None = None,
    trial: int | None = None,
) -> Manifest:
    """A ModelVersion for the artifact of ``tj``; deliberately not owned by the TrainingJob,
    so deleting the run keeps the version it registered. ``stage`` overrides the run's
    registration stage, and ``experiment`` and ``trial`` complete the lineage of a search's
    winner."""
    model = tj.spec.model_name
    top_metrics = dict(sorted(metrics.items())[:METRICS_MAX])
    hyperparameters = dict(list(training_hyperparameters(tj).items())[:HYPERPARAMETERS_MAX])
    return {
        "apiVersion": API_VERSION,
        "kind": "ModelVersion",
        "metadata": {
            "name": model_version_name(model, version),
            "namespace": tj.metadata.namespace,
            "labels": {
                LABEL_MANAGED_BY: MANAGED_BY,
                LABEL_MODEL: label_value(model),
                LABEL_VERSION: label_value(version),
                LABEL_TRAINING_JOB: label_value(tj.metadata.name),
            },
        },
        "spec": {
            "model": model,
            "version": version,
            "stage": stage or tj.spec.registration.stage,
            "artifact": {"uri": artifact_uri, "digest": digest, "format": ARTIFACT_FORMAT},
            "metrics": top_metrics,
            "hyperparameters": hyperparameters,
            "lineage": {
                "trainingJob": tj.metadata.name,
                **({"experiment": experiment} if experiment else {}),
                **({"trial": trial} if trial is not None else {}),
            },
        },
    }
