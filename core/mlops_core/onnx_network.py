"""The ONNX form of a network, run by ONNX Runtime: the torch-free side of ``onnx_export``.

The graph in ``model.onnx`` takes the model's input tensor, named ``inputs`` (float32
``[batch, num_features]`` for tabular models, int64 token ids ``[batch, max_sequence_length]``
for text) and returns class probabilities, named ``probabilities`` (float32
``[batch, num_classes]``): the softmax or sigmoid of ``mlops_core.models.probabilities`` is part
of the graph, so a runtime needs nothing besides it but the preprocessing (numpy). Importing this
module imports neither torch nor onnx: ONNX Runtime only, when a network is opened.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final

import numpy as np

from mlops_core.artifact_config import ArtifactConfig

if TYPE_CHECKING:
    import onnxruntime

ONNX_INPUT: Final = "inputs"
ONNX_OUTPUT: Final = "probabilities"
#: the opset the trainer exports with (ONNX Runtime 1.20 and later run it)
ONNX_OPSET: Final = 18
CPU_PROVIDER: Final = "CPUExecutionProvider"
CUDA_PROVIDER: Final = "CUDAExecutionProvider"

Probabilities = np.ndarray[Any, np.dtype[np.float32]]

_one_pool_lock = threading.Lock()
_one_pool_made = False


def _use_one_thread_pool(onnxruntime_module: Any, threads: int | None) -> None:
    """Make the process's one intra-op thread pool unless made, sized by the first session's
    ``threads`` (None: ONNX Runtime's default). Every session runs on it: a pool per session
    would give each of a server's hundreds of versions threads of its own, slowing both
    opening and running them (docs/pools.md has the figures)."""
    global _one_pool_made
    with _one_pool_lock:
        if not _one_pool_made:
            onnxruntime_module.set_global_thread_pool_sizes(threads or 0, 1)
            _one_pool_made = True


class OnnxNetworkError(ValueError):
    """``model.onnx`` cannot be opened, or does not have the inputs and outputs it should."""


def input_dtype(config: ArtifactConfig) -> type[np.generic]:
    """The numpy dtype of the network's input: token ids for text, float32 features else."""
    return np.int64 if config.task == "text" else np.float32


def execution_providers(*, gpu: bool, available: Sequence[str]) -> list[str]:
    """ONNX Runtime's providers in order of preference: CUDA first when the pod has a GPU and
    the installed ONNX Runtime offers it (onnxruntime-gpu), always CPU last."""
    if gpu and CUDA_PROVIDER in available:
        return [CUDA_PROVIDER, CPU_PROVIDER]
    return [CPU_PROVIDER]


class OnnxNetwork:
    """One ``model.onnx`` in an ONNX Runtime session: encoded inputs → probabilities."""

    runtime: Final = "onnx"

    def __init__(self, session: onnxruntime.InferenceSession, config: ArtifactConfig) -> None:
        self._session = session
        self._dtype = input_dtype(config)
        self._num_classes = config.num_classes
        self.providers: list[str] = list(session.get_providers())

    @classmethod
    def from_bytes(
        cls, data: bytes, config: ArtifactConfig, *, gpu: bool = False, threads: int | None = None
    ) -> OnnxNetwork:
        """Open ``model.onnx`` (already verified against the manifest) on the process's one
        thread pool (``_use_one_thread_pool``: ``threads`` sizes it when this is the first);
        OnnxNetworkError when ONNX Runtime cannot, or the graph's inputs and outputs are not
        the contract's."""
        import onnxruntime

        _use_one_thread_pool(onnxruntime, threads)
        options = onnxruntime.SessionOptions()
        options.use_per_session_threads = False
        options.log_severity_level = 3  # warnings of the graph optimiser are not the caller's
        # a server holds many small sessions: no arena kept per session (its high-water mark
        # stays allocated) nor per-shape allocation plans; 41 KiB less per session of a small
        # MLP (229 -> 188 KiB), at the same run time
        options.enable_cpu_mem_arena = False
        options.enable_mem_pattern = False
        providers = execution_providers(gpu=gpu, available=onnxruntime.get_available_providers())
        try:
            session = onnxruntime.InferenceSession(data, options, providers=providers)
        except Exception as exc:  # ONNX Runtime raises its own untyped errors
            raise OnnxNetworkError(f"ONNX Runtime cannot open model.onnx: {exc}") from exc
        inputs = [i.name for i in session.get_inputs()]
        outputs = [o.name for o in session.get_outputs()]
        if inputs != [ONNX_INPUT] or outputs != [ONNX_OUTPUT]:
            raise OnnxNetworkError(
                f"model.onnx has inputs {inputs} and outputs {outputs}, not [{ONNX_INPUT!r}] "
                f"and [{ONNX_OUTPUT!r}]: export it again with this version of the trainer"
            )
        return cls(session, config)

    def probabilities(self, inputs: np.ndarray[Any, Any]) -> Probabilities:
        """Class probabilities ``[batch, num_classes]`` (float32) for encoded inputs."""
        if inputs.shape[0] == 0:
            return np.zeros((0, self._num_classes), dtype=np.float32)
        feed = {ONNX_INPUT: np.ascontiguousarray(inputs, dtype=self._dtype)}
        out: Probabilities = self._session.run([ONNX_OUTPUT], feed)[0]
        return out
