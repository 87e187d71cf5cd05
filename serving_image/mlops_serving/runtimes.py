"""The two serving runtimes behind one interface: ONNX Runtime (default) and torch.

A ``ServableArtifact`` is a verified version's parsed files plus a ``Network`` that turns encoded
inputs (numpy, from the preprocessing in ``mlops_core``) into class probabilities. Everything
else the server does (batching, warm-up, LRU, drift, metrics, protocols, digests, safety checks,
the fast path) sees only this interface, so it behaves the same on both runtimes.

Which runtime serves a version is ``serving_spec.runtime_for``: ONNX Runtime when the serving
contract asks for it and the artifact has ``model.onnx``; torch when asked, or for versions
trained before the export. torch is imported only then: a server whose versions all run on
ONNX Runtime never imports it, and the torch-free image does not even have it.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from mlops_core.artifact import ArtifactError, Manifest
from mlops_core.artifact_config import ArtifactConfig
from mlops_core.artifact_parts import ArtifactParts, Preprocessor, read_artifact_parts
from mlops_core.calibration import Calibration
from mlops_core.onnx_network import OnnxNetwork, OnnxNetworkError
from mlops_core.preprocessing import Records
from mlops_core.reference_stats import ReferenceStats, drift_categories, drift_features
from mlops_core.serving_spec import ServingRuntime, runtime_for
from mlops_core.storage import ObjectStore

Probabilities = np.ndarray[Any, np.dtype[np.float32]]


class Network(Protocol):
    """A network in one runtime: encoded inputs → class probabilities ``[batch, classes]``."""

    @property
    def runtime(self) -> str: ...

    def probabilities(self, inputs: np.ndarray[Any, Any]) -> Probabilities: ...


@dataclass(frozen=True)
class ServableArtifact:
    """A verified version with its network in the runtime that serves it."""

    parts: ArtifactParts
    network: Network

    @property
    def runtime(self) -> str:
        return self.network.runtime

    @property
    def config(self) -> ArtifactConfig:
        return self.parts.config

    @property
    def preprocessor(self) -> Preprocessor:
        return self.parts.preprocessor

    @property
    def reference(self) -> ReferenceStats:
        """The training data's statistics, parsed (and read again, if need be) at each call."""
        return self.parts.read_reference()

    @property
    def calibration(self) -> Calibration | None:
        """The version's calibration map (None for a version trained before it existed)."""
        return self.parts.calibration

    @property
    def manifest(self) -> Manifest:
        return self.parts.manifest

    @property
    def digest(self) -> str:
        return self.parts.digest

    @property
    def size_bytes(self) -> int:
        return self.parts.size_bytes

    @property
    def class_labels(self) -> list[str]:
        return self.parts.config.class_labels

    @property
    def input_columns(self) -> list[str]:
        return self.parts.preprocessor.input_columns

    def encode(self, records: Records) -> np.ndarray[Any, Any]:
        """The network's input for raw records (PreprocessingError when they do not fit)."""
        return self.parts.preprocessor.transform(records)

    def predict_proba(self, records: Records) -> Probabilities:
        return self.network.probabilities(self.encode(records))

    def drift_features(self, records: Records) -> dict[str, list[float]]:
        return drift_features(self.parts.preprocessor, records)

    def drift_categories(self, records: Records) -> dict[str, list[str | None]]:
        return drift_categories(self.parts.preprocessor, records)


_torch_threads_set = threading.Lock()
_torch_threads: list[int] = []


def _torch_network(parts: ArtifactParts, *, gpu: bool, threads: int) -> Network:
    try:
        import torch

        from mlops_core.artifact_io import TorchNetwork, rebuild_module
    except ImportError:
        raise ArtifactError(
            f"{parts.uri} needs the torch runtime ("
            + (
                "the serving contract asks for it"
                if parts.onnx is not None
                else "it has no model.onnx: it was trained before the ONNX export"
            )
            + ") and this serving image has no torch: serve it with serving.runtime: torch "
            "(the torch flavour of the image), or train the version again"
        ) from None
    with _torch_threads_set:
        if not _torch_threads:
            torch.set_num_threads(threads)
            _torch_threads.append(threads)
    device = torch.device("cuda" if gpu and torch.cuda.is_available() else "cpu")
    return TorchNetwork(rebuild_module(parts, device), parts.config, device)


def load_servable(
    store: ObjectStore,
    *,
    requested: ServingRuntime,
    gpu: bool = False,
    threads: int = 1,
    expected_digest: str | None = None,
) -> ServableArtifact:
    """Verify the version at ``store`` and open its network in the runtime that serves it
    (``runtime_for``); ArtifactError says what is wrong. The reference statistics wait for
    the first drift report, which reads and checks them."""
    parts = read_artifact_parts(store, expected_digest=expected_digest, defer_reference=True)
    onnx = parts.onnx
    network: Network
    if runtime_for(requested, has_onnx=onnx is not None) == "torch" or onnx is None:
        network = _torch_network(parts, gpu=gpu, threads=threads)
    else:
        try:
            network = OnnxNetwork.from_bytes(onnx, parts.config, gpu=gpu, threads=threads)
        except OnnxNetworkError as exc:
            raise ArtifactError(f"{parts.uri}: {exc}") from exc
    return ServableArtifact(parts.without_files(), network)
