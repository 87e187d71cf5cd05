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
from safetensors import SafetensorError
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors
from torch import nn

from mlops_core.artifact import (
    ARTIFACT_FORMAT,
    CALIBRATION_FILE,
    CONFIG_FILE,
    METRICS_FILE,
    ONNX_FILE,
    PREPROCESSING_FILE,
    REFERENCE_STATS_FILE,
    WEIGHTS_FILE,
    ArtifactError,
    ArtifactExistsError,
    Manifest,
    PublishedFiles,
    publish_files,
)
from mlops_core.artifact_config import ArtifactConfig, Task
from mlops_core.artifact_parts import (
    ArtifactMetrics,
    ArtifactParts,
    Preprocessor,
    read_artifact_parts,
)
from mlops_core.calibration import Calibration
from mlops_core.models import build_model, input_dtype, probabilities
from mlops_core.preprocessing import Records
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
    "TorchNetwork",
    "load_artifact",
    "publish_artifact",
    "rebuild_module",
    "state_dict_bytes",
]


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
    onnx: bytes | None = None,
    calibration: Calibration | None = None,
) -> PublishedFiles:
    """Publish a complete version; ArtifactExistsError when it already has a manifest.

    ``onnx`` is the network's ``model.onnx`` (``onnx_export.export_onnx``, checked against
    ``module``); without it the version is served by the torch runtime only. ``calibration``
    is the map fitted on the validation split (``calibration.fit_temperature``); without it
    the version is served uncalibrated and has no performance estimate."""
    files = {
        WEIGHTS_FILE: state_dict_bytes(module),
        CONFIG_FILE: _json(config),
        PREPROCESSING_FILE: preprocessor.to_json(),
        REFERENCE_STATS_FILE: reference.to_json(),
        METRICS_FILE: _json(metrics),
    }
    if onnx is not None:
        files[ONNX_FILE] = onnx
    if calibration is not None:
        files[CALIBRATION_FILE] = calibration.to_json()
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


class TorchNetwork:
    """The torch runtime: a rebuilt module, encoded inputs (numpy) → probabilities (numpy)."""

    runtime = "torch"

    def __init__(self, module: nn.Module, config: ArtifactConfig, device: torch.device) -> None:
        self.module = module
        self.device = device
        self._dtype = input_dtype(config)
        self._num_classes = config.num_classes

    def probabilities(self, inputs: np.ndarray[Any, Any]) -> np.ndarray[Any, np.dtype[np.float32]]:
        if inputs.shape[0] == 0:
            return np.zeros((0, self._num_classes), dtype=np.float32)
        tensor = torch.from_numpy(inputs).to(self.device, dtype=self._dtype)
        with torch.inference_mode():
            out: np.ndarray[Any, np.dtype[np.float32]] = (
                probabilities(self.module(tensor)).cpu().numpy()
            )
        return out


def rebuild_module(parts: ArtifactParts, device: str | torch.device = "cpu") -> nn.Module:
    """The module of a verified version, from its safetensors weights (eval mode, on ``device``)."""
    try:
        state = load_safetensors(parts.files[WEIGHTS_FILE])
    except SafetensorError as exc:
        raise ArtifactError(f"{WEIGHTS_FILE} of {parts.uri} is not safetensors: {exc}") from exc
    module = build_model(parts.config)
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise ArtifactError(
            f"weights of {parts.uri} do not fit architecture {parts.config.architecture!r}: {exc}"
        ) from exc
    module.to(torch.device(device)).eval()
    return module


def load_artifact(
    store: ObjectStore, *, device: str | torch.device = "cpu", expected_digest: str | None = None
) -> LoadedArtifact:
    """Read, verify and rebuild the version at ``store``; ArtifactError says what is wrong
    (including a manifest whose digest is not ``expected_digest``, when given)."""
    parts = read_artifact_parts(store, expected_digest=expected_digest)
    target = torch.device(device)
    module = rebuild_module(parts, target)
    return LoadedArtifact(
        uri=parts.uri,
        config=parts.config,
        module=module,
        preprocessor=parts.preprocessor,
        reference=parts.read_reference(),
        metrics=parts.metrics,
        manifest=parts.manifest,
        digest=parts.digest,
        size_bytes=parts.size_bytes,
        device=target,
    )
