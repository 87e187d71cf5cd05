"""From raw splits to tensors: labels, preprocessing fitted on train only, reference statistics."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from pydantic import ValidationError

from mlops_core.artifact_config import ArtifactConfig, task_of
from mlops_core.preprocessing import (
    PreprocessingError,
    TabularPreprocessor,
    TextPreprocessor,
    category_values,
    fit_tabular,
    fit_text,
)
from mlops_core.reference_stats import ReferenceStats, compute_reference_stats
from mlops_core.training_spec import TrainerConfig
from mlops_trainer.checkpoint import run_fingerprint
from mlops_trainer.config_source import describe_validation_error
from mlops_trainer.dataset import Splits, Table
from mlops_trainer.errors import TrainerError


@dataclass(frozen=True)
class Examples:
    """Model inputs and class indices of one split."""

    inputs: torch.Tensor
    targets: torch.Tensor

    def __len__(self) -> int:
        return int(self.targets.shape[0])


@dataclass(frozen=True)
class PreparedData:
    config: ArtifactConfig
    preprocessor: TabularPreprocessor | TextPreprocessor
    reference: ReferenceStats
    train: Examples
    validation: Examples
    test: Examples | None


def _column(table: Table, name: str, split: str, what: str) -> Sequence[Any] | np.ndarray[Any, Any]:
    if name not in table:
        raise TrainerError(
            f"{what} {name!r} is not a column of the {split} split "
            f"(columns: {', '.join(table) or 'none'})"
        )
    return table[name]


def _sort_key(label: str) -> tuple[int, float, str]:
    try:
        return (0, float(label), label)
    except ValueError:
        return (1, 0.0, label)


def class_labels_of(values: Sequence[Any] | np.ndarray[Any, Any], column: str) -> list[str]:
    labels = category_values(values)
    if any(label is None for label in labels):
        missing = sum(1 for label in labels if label is None)
        raise TrainerError(f"label column {column!r} has {missing} missing value(s) in train")
    classes = sorted({str(label) for label in labels}, key=_sort_key)
    if len(classes) < 2:
        raise TrainerError(
            f"label column {column!r} has one class ({classes[0]!r}) in the training split: "
            "a classifier needs at least two"
        )
    return classes


def encode_labels(
    values: Sequence[Any] | np.ndarray[Any, Any], classes: list[str], *, split: str, column: str
) -> torch.Tensor:
    index = {label: i for i, label in enumerate(classes)}
    out = np.empty(len(values), dtype=np.int64)
    for row, label in enumerate(category_values(values)):
        if label not in index:
            raise TrainerError(
                f"the {split} split has label {label!r} in row {row}, which the training split "
                f"lacks (classes: {', '.join(classes)})"
            )
        out[row] = index[label]
    return torch.from_numpy(out)


def _features(config: TrainerConfig, train: Table) -> list[str]:
    spec = config.dataset
    if spec.feature_columns:
        for name in spec.feature_columns:
            _column(train, name, "train", "dataset.featureColumns entry")
        return list(spec.feature_columns)
    return [name for name in train if name != spec.label_column]


def build_artifact_config(
    config: TrainerConfig, preprocessor: TabularPreprocessor | TextPreprocessor, classes: list[str]
) -> ArtifactConfig:
    text = isinstance(preprocessor, TextPreprocessor)
    try:
        return ArtifactConfig(
            architecture=config.model.architecture,
            task=task_of(config.model.architecture),
            model=config.model,
            training=config.training,
            class_labels=classes,
            label_column=config.dataset.label_column,
            feature_names=preprocessor.input_columns,
            text_column=config.dataset.text_column,
            num_features=None if text else preprocessor.num_features,  # type: ignore[union-attr]
            vocab_size=preprocessor.vocab_size if text else None,  # type: ignore[union-attr]
            max_sequence_length=preprocessor.max_length if text else None,  # type: ignore[union-attr]
            run_fingerprint=run_fingerprint(config),
        )
    except ValidationError as exc:
        raise TrainerError(
            f"invalid model for this data: {describe_validation_error(exc)}"
        ) from exc


def prepare(config: TrainerConfig, splits: Splits) -> PreparedData:
    """Fit the preprocessing on train and turn every split into tensors."""
    spec, model = config.dataset, config.model
    label = spec.label_column
    classes = class_labels_of(_column(splits.train, label, "train", "dataset.labelColumn"), label)
    preprocessor: TabularPreprocessor | TextPreprocessor
    try:
        if spec.text_column is not None:
            _column(splits.train, spec.text_column, "train", "dataset.textColumn")
            preprocessor = fit_text(
                splits.train,
                text_column=spec.text_column,
                max_vocab_size=model.max_vocab_size,
                max_length=model.max_sequence_length,
            )
        else:
            features = _features(config, splits.train)
            preprocessor = fit_tabular(
                splits.train,
                feature_columns=features,
                categorical_columns=spec.categorical_columns,
            )
    except PreprocessingError as exc:
        raise TrainerError(f"training split: {exc}") from exc
    artifact_config = build_artifact_config(config, preprocessor, classes)

    def examples(table: Table, split: str) -> Examples:
        targets = encode_labels(
            _column(table, label, split, "dataset.labelColumn"), classes, split=split, column=label
        )
        try:
            inputs = torch.from_numpy(preprocessor.transform_columns(table))
        except PreprocessingError as exc:
            raise TrainerError(f"{split} split: {exc}") from exc
        return Examples(inputs=inputs, targets=targets)

    return PreparedData(
        config=artifact_config,
        preprocessor=preprocessor,
        reference=compute_reference_stats(preprocessor, splits.train),
        train=examples(splits.train, "train"),
        validation=examples(splits.validation, "validation"),
        test=examples(splits.test, "test") if splits.test is not None else None,
    )
