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

import sys
import threading
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from mlops_core.artifact import (
    ONNX_FILE,
    REFERENCE_STATS_FILE,
    ArtifactError,
    Manifest,
    VerifiedFiles,
    read_verified_files,
)
from mlops_core.artifact_config import ArtifactConfig
from mlops_core.artifact_parts import ArtifactParts, Preprocessor, parse_artifact_parts
from mlops_core.calibration import Calibration
from mlops_core.onnx_network import OnnxNetwork, OnnxNetworkError
from mlops_core.preprocessing import Records
from mlops_core.reference_stats import ReferenceStats, drift_categories, drift_features
from mlops_core.serving_spec import ServingRuntime, runtime_for
from mlops_core.storage import ObjectStore

Probabilities = np.ndarray[Any, np.dtype[np.float32]]

#: a version whose files (those read at load) add up to no more opens on the event loop when
#: ``opens_quickly``: parsing them and an ONNX Runtime session take about a millisecond there,
#: while a thread would wait for the interpreter behind every request the loop serves
QUICK_OPEN_MAX_BYTES = 512 * 1024


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


def read_servable(store: ObjectStore, *, expected_digest: str | None = None) -> VerifiedFiles:
    """Read the version at ``store`` and check every file against its manifest (the I/O of a
    load); the reference statistics wait for the first drift report, which reads and checks
    them."""
    return read_verified_files(
        store, expected_digest=expected_digest, deferred=(REFERENCE_STATS_FILE,)
    )


def opens_quickly(verified: VerifiedFiles, *, requested: ServingRuntime, gpu: bool) -> bool:
    """Whether opening ``verified`` costs about a millisecond of CPU: an ONNX network on the
    CPU with ONNX Runtime already imported, and files small enough to parse at once."""
    return (
        ONNX_FILE in verified.files
        and not gpu
        and runtime_for(requested, has_onnx=True) == "onnx"
        and "onnxruntime" in sys.modules
        and sum(len(data) for data in verified.files.values()) <= QUICK_OPEN_MAX_BYTES
    )


def open_servable(
    store: ObjectStore,
    verified: VerifiedFiles,
    *,
    requested: ServingRuntime,
    gpu: bool = False,
    threads: int = 1,
) -> ServableArtifact:
    """Parse the files ``read_servable`` checked and open the network in the runtime that
    serves it (``runtime_for``); ArtifactError says what is wrong."""
    parts = parse_artifact_parts(store, verified)
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


def load_servable(
    store: ObjectStore,
    *,
    requested: ServingRuntime,
    gpu: bool = False,
    threads: int = 1,
    expected_digest: str | None = None,
) -> ServableArtifact:
    """``read_servable`` then ``open_servable``: verify the version at ``store`` and open it."""
    verified = read_servable(store, expected_digest=expected_digest)
    return open_servable(store, verified, requested=requested, gpu=gpu, threads=threads)
