"""``config.json`` of an artifact: everything needed to rebuild the module without pickle.

This module imports no torch, so the operator can read a config too. ``mlops_core.models``
builds the module from it and ``mlops_core.artifact_io`` loads and publishes it.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from mlops_core.training_spec import Architecture, ModelSpec, TrainingSpec
from mlops_core.wire import WireModel

Task = Literal["tabular", "text"]
TEXT_ARCHITECTURES: frozenset[str] = frozenset({"lstm", "cnn_text"})


def task_of(architecture: Architecture) -> Task:
    return "text" if architecture in TEXT_ARCHITECTURES else "tabular"


class ArtifactConfig(WireModel):
    """Architecture, hyperparameters and input/output shape of a trained model."""

    architecture: Architecture = Field(description="Model zoo entry the weights belong to.")
    task: Task = Field(description="tabular (feature columns) or text (one text column).")
    model: ModelSpec = Field(description="The model spec the run was trained with.")
    training: TrainingSpec | None = Field(default=None, description="The training loop settings.")
    class_labels: list[str] = Field(
        min_length=2, description="Label of each output class, in output order."
    )
    label_column: str = Field(description="Column that held the label in training.")
    feature_names: list[str] = Field(
        description="Raw input columns a request must carry (for text: the text column)."
    )
    text_column: str | None = Field(default=None, description="The text column (text models).")
    num_features: int | None = Field(
        default=None, ge=1, description="Input width after preprocessing (tabular models)."
    )
    vocab_size: int | None = Field(default=None, ge=3, description="Vocabulary size (text).")
    max_sequence_length: int | None = Field(
        default=None, ge=1, description="Token ids per example (text models)."
    )
    run_fingerprint: str | None = Field(
        default=None,
        pattern=r"^[0-9a-f]{64}$",
        description="sha256 of the dataset, model and training spec of the run that trained "
        "it: a retry of that run (its pod died after publishing) recognises the version as "
        "its own by this, so nothing outside the artifact has to remember the publish.",
    )

    @property
    def num_classes(self) -> int:
        return len(self.class_labels)

    @property
    def output_size(self) -> int:
        """1 logit for binary cross-entropy, else one logit per class."""
        return 1 if self.model.loss == "binary_cross_entropy" else self.num_classes

    @model_validator(mode="after")
    def _consistent(self) -> ArtifactConfig:
        if self.model.architecture != self.architecture:
            raise ValueError(
                f"architecture {self.architecture!r} differs from model.architecture "
                f"{self.model.architecture!r}"
            )
        if self.task != task_of(self.architecture):
            raise ValueError(f"architecture {self.architecture!r} is not a {self.task} model")
        if self.task == "tabular" and self.num_features is None:
            raise ValueError("a tabular model needs numFeatures")
        if self.task == "text" and (
            self.vocab_size is None or self.max_sequence_length is None or not self.text_column
        ):
            raise ValueError("a text model needs textColumn, vocabSize and maxSequenceLength")
        if self.model.loss == "binary_cross_entropy" and self.num_classes != 2:
            raise ValueError(
                f"loss binary_cross_entropy needs exactly 2 classes, got {self.num_classes}: "
                "use cross_entropy"
            )
        if len(set(self.class_labels)) != len(self.class_labels):
            raise ValueError("classLabels must be distinct")
        return self
