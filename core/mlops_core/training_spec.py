"""What a training run is asked to do: dataset, model, training loop and output.

These types are shared on purpose. The TrainingJob custom resource embeds ``DatasetSpec``,
``ModelSpec`` and ``TrainingSpec`` in its spec, and the trainer's config (``TrainerConfig``)
embeds the same three, so the operator passes a spec through unchanged and the CRD schema is
generated from the very types the trainer validates with.

Every string, list and map is bounded and every field described, because the CRD generator
turns these models into a structural OpenAPI schema whose CEL cost must be estimable.
Cross-field invariants carry ``x-kubernetes-validations`` rules (enforced by the API server)
and the equivalent pydantic validators (enforced by the trainer for a config given directly).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from mlops_core.wire import WireModel

URI_MAX = 1024
NAME_MAX = 253
COLUMN_MAX = 128
COLUMNS_MAX = 512

ColumnName = Annotated[str, Field(min_length=1, max_length=COLUMN_MAX)]

DatasetFormat = Literal["csv", "parquet", "jsonl"]
Architecture = Literal["logistic_regression", "mlp", "lstm", "cnn_text"]
OptimizerName = Literal["adam", "adamw", "sgd"]
LossName = Literal["cross_entropy", "binary_cross_entropy"]
MetricName = Literal["accuracy", "precision", "recall", "f1", "roc_auc", "loss"]
MonitorMode = Literal["min", "max"]


class DatasetSpec(WireModel):
    """Where the data is and which columns mean what."""

    train: str = Field(
        min_length=1,
        max_length=URI_MAX,
        description="URI of the training split: s3://bucket/key or a local path.",
    )
    validation: str | None = Field(
        default=None,
        min_length=1,
        max_length=URI_MAX,
        description="URI of the validation split; early stopping and per-epoch metrics use it. "
        "When omitted, 10% of the training split (seeded) is held out.",
    )
    test: str | None = Field(
        default=None,
        min_length=1,
        max_length=URI_MAX,
        description="URI of the optional test split, evaluated once with the published weights.",
    )
    format: DatasetFormat = Field(
        default="csv", description="File format of every split: csv, parquet or jsonl."
    )
    label_column: str = Field(
        default="label",
        min_length=1,
        max_length=COLUMN_MAX,
        description="Column holding the class label.",
    )
    text_column: str | None = Field(
        default=None,
        min_length=1,
        max_length=COLUMN_MAX,
        description="Column holding free text. Set it for text models (lstm, cnn_text); "
        "leave it unset for tabular data.",
    )
    feature_columns: list[ColumnName] | None = Field(
        default=None,
        max_length=COLUMNS_MAX,
        description="Tabular feature columns, in order. Default: every column but the label.",
    )
    categorical_columns: list[ColumnName] = Field(
        default_factory=list,
        max_length=COLUMNS_MAX,
        description="Feature columns to one-hot encode instead of standardise.",
    )


class OptimizerSpec(WireModel):
    """The optimizer and its hyperparameters."""

    name: OptimizerName = Field(default="adam", description="adam, adamw or sgd.")
    learning_rate: float = Field(default=1e-3, gt=0, le=10, description="Learning rate (> 0).")
    weight_decay: float = Field(default=0.0, ge=0, le=1, description="L2 weight decay.")
    momentum: float = Field(default=0.0, ge=0, lt=1, description="Momentum, sgd only.")


class ModelSpec(WireModel):
    """The architecture from the model zoo and how it is optimised and scored."""

    architecture: Architecture = Field(
        description="Model zoo entry: logistic_regression or mlp for tabular data, "
        "lstm or cnn_text for text."
    )
    hidden_sizes: list[Annotated[int, Field(ge=1, le=65536)]] = Field(
        default_factory=lambda: [64, 32],
        max_length=16,
        description="Widths of the hidden layers of an mlp.",
    )
    dropout: float = Field(default=0.1, ge=0, lt=1, description="Dropout probability.")
    embedding_dim: int = Field(
        default=64, ge=2, le=4096, description="Token embedding width (text models)."
    )
    hidden_dim: int = Field(
        default=64, ge=2, le=4096, description="LSTM hidden size / CNN filters (text models)."
    )
    max_vocab_size: int = Field(
        default=20000, ge=16, le=1_000_000, description="Vocabulary cap (text models)."
    )
    max_sequence_length: int = Field(
        default=128, ge=4, le=8192, description="Tokens kept per text (text models)."
    )
    optimizer: OptimizerSpec = Field(
        default_factory=OptimizerSpec, description="Optimizer settings."
    )
    loss: LossName = Field(
        default="cross_entropy",
        description="Training loss. cross_entropy works for any number of classes.",
    )
    metrics: list[MetricName] = Field(
        default_factory=lambda: list[MetricName](["accuracy", "f1", "loss"]),
        max_length=6,
        description="Metrics computed on validation every epoch and on test at the end; "
        "roc_auc applies to binary labels only.",
    )


class EarlyStoppingSpec(WireModel):
    """Stop when the monitored validation metric stops improving."""

    enabled: bool = Field(default=True, description="Whether early stopping is on.")
    monitor: str = Field(
        default="val_loss",
        min_length=1,
        max_length=64,
        description="Metric to watch, e.g. val_loss or val_accuracy.",
    )
    mode: MonitorMode = Field(
        default="min", description="min when lower is better, max when higher is better."
    )
    patience: int = Field(
        default=3, ge=1, le=1000, description="Epochs without improvement before stopping."
    )
    min_delta: float = Field(
        default=0.0, ge=0, description="Smallest change that counts as an improvement."
    )


class TrainingSpec(WireModel):
    """The training loop."""

    epochs: int = Field(default=10, ge=1, le=10000, description="Maximum number of epochs.")
    batch_size: int = Field(default=64, ge=1, le=65536, description="Mini-batch size.")
    seed: int = Field(default=42, ge=0, le=2**31 - 1, description="Random seed.")
    early_stopping: EarlyStoppingSpec = Field(
        default_factory=EarlyStoppingSpec, description="Early stopping."
    )
    checkpoint_interval: int = Field(
        default=1,
        ge=0,
        le=10000,
        description="Write a resumable checkpoint every N epochs (0 = never).",
    )
    mixed_precision: bool = Field(
        default=False, description="Use automatic mixed precision on CUDA (ignored on CPU)."
    )


class OutputSpec(WireModel):
    """Where the trainer publishes. Filled in by the operator from the TrainingJob."""

    model_name: str = Field(min_length=1, max_length=NAME_MAX, description="Registry model.")
    version: str = Field(min_length=1, max_length=64, description="Semantic version to publish.")
    artifact_uri: str = Field(
        min_length=1,
        max_length=URI_MAX,
        description="Root of the artifact: s3://bucket/models/<model>/<version>/ or a path.",
    )
    checkpoint_uri: str | None = Field(
        default=None,
        min_length=1,
        max_length=URI_MAX,
        description="Where checkpoints of this run go; a retry resumes from the latest there.",
    )


class TrainerConfig(WireModel):
    """The trainer's whole input: ``python -m mlops_trainer --config FILE``."""

    dataset: DatasetSpec
    model: ModelSpec
    training: TrainingSpec = Field(default_factory=TrainingSpec)
    output: OutputSpec
    mlflow_experiment: str | None = Field(
        default=None,
        max_length=NAME_MAX,
        description="MLflow experiment to log to when MLFLOW_TRACKING_URI is set.",
    )

    @model_validator(mode="after")
    def _text_models_need_text(self) -> TrainerConfig:
        is_text_model = self.model.architecture in ("lstm", "cnn_text")
        if is_text_model and self.dataset.text_column is None:
            raise ValueError(
                f"architecture {self.model.architecture!r} is a text model: "
                "set dataset.textColumn to the column holding the text"
            )
        if not is_text_model and self.dataset.text_column is not None:
            raise ValueError(
                f"architecture {self.model.architecture!r} is tabular: unset dataset.textColumn "
                "or choose lstm or cnn_text"
            )
        return self
