"""The trainer's export of a network to ONNX, checked against torch before it is published.

``export_onnx`` wraps the module so that the graph ends in class probabilities (see
``onnx_network`` for the contract), exports it with torch's ONNX exporter and runs the result in
ONNX Runtime on the check inputs (the validation split): the probabilities must equal torch's
within ``PROBABILITY_TOLERANCE`` and the labels must be identical, else ``OnnxExportError`` says
by how much and where, and the run fails instead of publishing a network that answers otherwise.

The bidirectional LSTM packs its sequences (``pack_padded_sequence``), which no ONNX exporter
translates: it is exported in an equal form that runs each direction over the padded batch and
reads the hidden state at each text's last real token (the backward direction over the real
tokens reversed), which is what packing computes.
"""

from __future__ import annotations

import copy
import io
import warnings
from typing import Any, Final

import numpy as np
import torch
from torch import nn
from torch.jit._trace import TracerWarning

from mlops_core.artifact_config import ArtifactConfig
from mlops_core.models import LSTMClassifier, input_dtype, probabilities
from mlops_core.onnx_network import ONNX_INPUT, ONNX_OPSET, ONNX_OUTPUT, OnnxNetwork
from mlops_core.preprocessing import PAD_INDEX

#: the largest difference of a probability between ONNX Runtime and torch that passes
PROBABILITY_TOLERANCE: Final = 1e-5
#: check inputs run through both runtimes in batches of this many rows
CHECK_BATCH: Final = 1024


class OnnxExportError(RuntimeError):
    """The network could not be exported, or its ONNX form answers otherwise than torch."""


class _Probabilities(nn.Module):
    """The network followed by ``probabilities``: what the ONNX graph computes."""

    def __init__(self, network: nn.Module) -> None:
        super().__init__()
        self.network = network

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return probabilities(self.network(inputs))


def _direction(lstm: nn.LSTM, suffix: str) -> nn.LSTM:
    """One direction of a one-layer bidirectional LSTM as a unidirectional LSTM."""
    single = nn.LSTM(lstm.input_size, lstm.hidden_size, batch_first=True)
    single.load_state_dict(
        {
            f"{name}_l0": getattr(lstm, f"{name}_l0{suffix}").detach().clone()
            for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
        }
    )
    return single


class _UnpackedLSTM(nn.Module):
    """``LSTMClassifier`` without packing: equal outputs, exportable graph."""

    def __init__(self, model: LSTMClassifier) -> None:
        super().__init__()
        if model.lstm.num_layers != 1 or not model.lstm.bidirectional:
            raise OnnxExportError("only the zoo's one-layer bidirectional LSTM is exportable")
        self.embedding = model.embedding
        self.forward_lstm = _direction(model.lstm, "")
        self.backward_lstm = _direction(model.lstm, "_reverse")
        self.head = model.head

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        embedded = self.embedding(ids)  # [batch, time, embedding]
        _, steps, width = embedded.shape
        last = ((ids != PAD_INDEX).sum(dim=1).clamp(min=1) - 1).unsqueeze(1)  # [batch, 1]
        reversed_index = (last - torch.arange(steps).unsqueeze(0)).clamp(min=0)
        backward_in = embedded.gather(1, reversed_index.unsqueeze(2).expand(-1, -1, width))
        forward_out, _ = self.forward_lstm(embedded)
        backward_out, _ = self.backward_lstm(backward_in)
        at_last = last.unsqueeze(2).expand(-1, 1, forward_out.shape[2])
        features = torch.cat(
            [forward_out.gather(1, at_last).squeeze(1), backward_out.gather(1, at_last).squeeze(1)],
            dim=1,
        )
        out: torch.Tensor = self.head(features)
        return out


def _exportable(module: nn.Module) -> nn.Module:
    network = _UnpackedLSTM(module) if isinstance(module, LSTMClassifier) else module
    return _Probabilities(network).eval()


def _onnx_bytes(wrapped: nn.Module, example: torch.Tensor) -> bytes:
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        # torch announces the TorchScript-based exporter's eventual removal on every call
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", FutureWarning)
        # the trace fixes the binary/multi-class branch of probabilities (constant per model)
        warnings.simplefilter("ignore", TracerWarning)
        # the LSTM's initial states are zeros, never inputs: any batch size runs (checked below)
        warnings.filterwarnings(
            "ignore", message=".*batch_size other than 1.*", category=UserWarning
        )
        torch.onnx.export(
            wrapped,
            (example,),
            buffer,  # type: ignore[arg-type]  # a file object works; the stub names paths only
            input_names=[ONNX_INPUT],
            output_names=[ONNX_OUTPUT],
            dynamic_axes={ONNX_INPUT: {0: "batch"}, ONNX_OUTPUT: {0: "batch"}},
            opset_version=ONNX_OPSET,
            dynamo=False,
        )
    return buffer.getvalue()


def _torch_probabilities(module: nn.Module, inputs: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    with torch.inference_mode():
        return probabilities(module(torch.from_numpy(inputs))).numpy()


def check_onnx(
    data: bytes, module: nn.Module, config: ArtifactConfig, inputs: np.ndarray[Any, Any]
) -> float:
    """The largest probability difference between ``data`` in ONNX Runtime and ``module`` in
    torch on ``inputs``; OnnxExportError when it passes the tolerance or a label differs."""
    network = OnnxNetwork.from_bytes(data, config, threads=1)
    module = module.eval()
    worst = 0.0
    for start in range(0, len(inputs), CHECK_BATCH):
        rows = np.ascontiguousarray(inputs[start : start + CHECK_BATCH])
        expected = _torch_probabilities(module, rows)
        got = network.probabilities(rows)
        difference = np.abs(got - expected).max(axis=1)
        row = int(np.argmax(difference))
        worst = max(worst, float(difference[row]))
        if difference[row] > PROBABILITY_TOLERANCE:
            raise OnnxExportError(
                f"the ONNX export of {config.architecture} differs from torch by "
                f"{difference[row]:.3g} (more than {PROBABILITY_TOLERANCE:g}) in the "
                f"probabilities of check row {start + row}"
            )
        labels_differ = np.flatnonzero(got.argmax(axis=1) != expected.argmax(axis=1))
        if len(labels_differ):
            raise OnnxExportError(
                f"the ONNX export of {config.architecture} predicts another label than torch "
                f"for check row {start + int(labels_differ[0])}"
            )
    return worst


def export_onnx(
    module: nn.Module, config: ArtifactConfig, check_inputs: np.ndarray[Any, Any]
) -> bytes:
    """``model.onnx`` of a trained ``module`` (on any device), checked on ``check_inputs``
    (encoded rows, e.g. the validation split) against torch; OnnxExportError says why not."""
    cpu = copy.deepcopy(module).to("cpu").eval()
    example = torch.from_numpy(np.ascontiguousarray(check_inputs[:2])).to(input_dtype(config))
    if example.shape[0] == 0:
        raise OnnxExportError("the ONNX export needs at least one check row (validation split)")
    try:
        data = _onnx_bytes(_exportable(cpu), example)
    except OnnxExportError:
        raise
    except Exception as exc:  # the exporter raises many kinds of errors; all mean the same here
        raise OnnxExportError(
            f"torch could not export {config.architecture} to ONNX: {type(exc).__name__}: {exc}"
        ) from exc
    check_onnx(data, cpu, config, check_inputs)
    return data
