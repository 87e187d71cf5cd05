"""Publishing and loading whole model artifacts (torch side of ``mlops_core.artifact``).

``publish_artifact`` serialises a trained module and its companions into the five artifact files
and writes ``manifest.json`` last; ``load_artifact`` reads the manifest, checks the sha256 and
size of every file before deserialising any of them, loads the weights with safetensors only
and rebuilds the module from ``config.json`` through the model zoo.

A ``LoadedArtifact`` predicts in two steps so that a batcher can merge requests::

    x = loaded.encode(records)          # per request: preprocessing → tensor
    p = loaded.forward(torch.cat(xs))   # one forward pass → class probabilities
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from pydantic import Field, ValidationError
from safetensors import SafetensorError
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors
from torch import nn

from mlops_core.artifact import (
    ARTIFACT_FORMAT,
    CONFIG_FILE,
    METRICS_FILE,
    PREPROCESSING_FILE,
    REFERENCE_STATS_FILE,
    WEIGHTS_FILE,
    ArtifactError,
    ArtifactExistsError,
    Manifest,
    PublishedFiles,
    publish_files,
    read_verified_files,
)
from mlops_core.artifact_config import ArtifactConfig, Task
from mlops_core.models import build_model, input_dtype, probabilities
from mlops_core.preprocessing import (
    PreprocessingError,
    Records,
    TabularPreprocessor,
    TextPreprocessor,
    from_json,
)
from mlops_core.progress import EpochRecord
from mlops_core.reference_stats import ReferenceStats, drift_categories, drift_features
from mlops_core.storage import ObjectStore
from mlops_core.wire import WireModel

__all__ = [
    "ArtifactConfig",
    "ArtifactError",
    "ArtifactExistsError",
    "ArtifactMetrics",
    "LoadedArtifact",
    "Task",
    "load_artifact",
    "publish_artifact",
    "state_dict_bytes",
]

Preprocessor = TabularPreprocessor | TextPreprocessor


class ArtifactMetrics(WireModel):
    """``metrics.json``: validation metrics of the kept epoch, test metrics, and the history."""

    best_epoch: int | None = Field(default=None, ge=1, description="Epoch whose weights these are.")
    epochs_run: int = Field(ge=0, description="Epochs trained (early stopping may end sooner).")
    validation: dict[str, float] = Field(
        default_factory=dict, description="val_* metrics of the best epoch."
    )
    test: dict[str, float] = Field(
        default_factory=dict, description="test_* metrics of the published weights."
    )
    history: list[EpochRecord] = Field(default_factory=list, description="Metrics of every epoch.")

    def flat(self) -> dict[str, float]:
        """``val_*`` and ``test_*`` metrics in one map (what a ModelVersion records)."""
        return {**self.validation, **self.test}


def state_dict_bytes(module: nn.Module) -> bytes:
    """The module's weights as safetensors bytes (CPU, contiguous).

    The metadata holds one key only: safetensors orders several keys at random, and equal
    weights should give equal bytes (a reproducible run gives a reproducible digest).
    """
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in module.state_dict().items()}
    return save_safetensors(tensors, metadata={"format": ARTIFACT_FORMAT})


def _json(model: WireModel) -> bytes:
    return model.model_dump_json(by_alias=True, exclude_none=True, indent=1).encode() + b"\n"


def publish_artifact(
    store: ObjectStore,
    *,
    model: str,
    version: str,
    module: nn.Module,
    config: ArtifactConfig,
    preprocessor: Preprocessor,
    reference: ReferenceStats,
    metrics: ArtifactMetrics,
) -> PublishedFiles:
    """Publish a complete version; ArtifactExistsError when it already has a manifest."""
    files = {
        WEIGHTS_FILE: state_dict_bytes(module),
        CONFIG_FILE: _json(config),
        PREPROCESSING_FILE: preprocessor.to_json(),
        REFERENCE_STATS_FILE: reference.to_json(),
        METRICS_FILE: _json(metrics),
    }
    return publish_files(store, model=model, version=version, files=files)


@dataclass
class LoadedArtifact:
    """A verified model version, ready to predict (module in eval mode)."""

    uri: str
    config: ArtifactConfig
    module: nn.Module
    preprocessor: Preprocessor
    reference: ReferenceStats
    metrics: ArtifactMetrics
    manifest: Manifest
    digest: str
    size_bytes: int
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def class_labels(self) -> list[str]:
        return self.config.class_labels

    @property
    def input_columns(self) -> list[str]:
        return self.preprocessor.input_columns

    def encode(self, records: Records) -> torch.Tensor:
        """Preprocess raw records into the model's input tensor (PreprocessingError if bad)."""
        array = self.preprocessor.transform(records)
        return torch.from_numpy(array).to(self.device, dtype=input_dtype(self.config))

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        """Class probabilities ``[batch, num_classes]`` (float32, on CPU) for encoded inputs."""
        if inputs.shape[0] == 0:
            return torch.zeros((0, self.config.num_classes))
        with torch.inference_mode():
            return probabilities(self.module(inputs.to(self.device))).cpu()

    def predict_proba(self, records: Records) -> np.ndarray[Any, np.dtype[np.float32]]:
        return self.forward(self.encode(records)).numpy()

    def predict(self, records: Records) -> list[str]:
        """The most probable class label of each record."""
        proba = self.predict_proba(records)
        return [self.class_labels[i] for i in np.argmax(proba, axis=1)]

    def drift_features(self, records: Records) -> dict[str, list[float]]:
        """Numeric drift features of raw records, named as in ``reference``."""
        return drift_features(self.preprocessor, records)

    def drift_categories(self, records: Records) -> dict[str, list[str | None]]:
        """Categorical drift features of raw records, named as in ``reference``."""
        return drift_categories(self.preprocessor, records)


def load_artifact(
    store: ObjectStore, *, device: str | torch.device = "cpu", expected_digest: str | None = None
) -> LoadedArtifact:
    """Read, verify and rebuild the version at ``store``; ArtifactError says what is wrong
    (including a manifest whose digest is not ``expected_digest``, when given)."""
    verified = read_verified_files(store, expected_digest=expected_digest)
    files = verified.files
    try:
        config = ArtifactConfig.model_validate_json(files[CONFIG_FILE])
        preprocessor = from_json(files[PREPROCESSING_FILE])
        reference = ReferenceStats.from_json(files[REFERENCE_STATS_FILE])
        metrics = ArtifactMetrics.model_validate_json(files[METRICS_FILE])
    except (ValidationError, PreprocessingError, ValueError) as exc:
        raise ArtifactError(f"artifact {store.uri} has an invalid file: {exc}") from exc
    try:
        state = load_safetensors(files[WEIGHTS_FILE])
    except SafetensorError as exc:
        raise ArtifactError(f"{WEIGHTS_FILE} of {store.uri} is not safetensors: {exc}") from exc
    module = build_model(config)
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise ArtifactError(
            f"weights of {store.uri} do not fit architecture {config.architecture!r}: {exc}"
        ) from exc
    target = torch.device(device)
    module.to(target).eval()
    return LoadedArtifact(
        uri=store.uri,
        config=config,
        module=module,
        preprocessor=preprocessor,
        reference=reference,
        metrics=metrics,
        manifest=verified.manifest,
        digest=verified.digest,
        size_bytes=verified.size_bytes,
        device=target,
    )
