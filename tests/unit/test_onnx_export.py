"""The trainer's ONNX export: every architecture of the zoo, checked against torch at export."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from test_models import _config, _inputs

from mlops_core.artifact import ONNX_FILE, ArtifactError, read_verified_files
from mlops_core.models import build_model, probabilities
from mlops_core.onnx_export import PROBABILITY_TOLERANCE, OnnxExportError, check_onnx, export_onnx
from mlops_core.onnx_network import OnnxNetwork, OnnxNetworkError
from mlops_core.storage import LocalStore

pytestmark = pytest.mark.unit

ARCHITECTURES = ["logistic_regression", "mlp", "lstm", "cnn_text"]


def _check_rows(config_arch: str, loss: str | None = None) -> tuple[object, np.ndarray]:
    config = _config(config_arch, **({"loss": loss} if loss else {}))
    torch.manual_seed(3)
    inputs = _inputs(config, batch=64).numpy()
    if config.task == "text":
        inputs[2, 1:] = 0  # one real token
        inputs[3, 11:] = 0  # all but the last
    return config, inputs


@pytest.mark.parametrize("architecture", ARCHITECTURES)
@pytest.mark.parametrize("loss", [None, "binary_cross_entropy"])
def test_every_architecture_exports_with_torchs_answers(
    architecture: str, loss: str | None
) -> None:
    config, inputs = _check_rows(architecture, loss)
    torch.manual_seed(0)
    module = build_model(config).eval()
    data = export_onnx(module, config, inputs)
    network = OnnxNetwork.from_bytes(data, config)
    for rows in (inputs, inputs[:1], inputs[5:6], inputs[:17]):  # batched and one by one
        with torch.inference_mode():
            expected = probabilities(module(torch.from_numpy(rows))).numpy()
        got = network.probabilities(rows)
        assert got.shape == (len(rows), config.num_classes)
        assert np.abs(got - expected).max() <= PROBABILITY_TOLERANCE
        assert (got.argmax(axis=1) == expected.argmax(axis=1)).all()
    assert network.probabilities(inputs[:0]).shape == (0, config.num_classes)


def test_an_export_that_answers_otherwise_fails_with_the_row() -> None:
    config, inputs = _check_rows("mlp")
    torch.manual_seed(0)
    module = build_model(config).eval()
    torch.manual_seed(1)
    other = build_model(config).eval()
    data = export_onnx(other, config, inputs)
    with pytest.raises(
        OnnxExportError, match=r"differs from torch by .* in the probabilities of check row \d+"
    ):
        check_onnx(data, module, config, inputs)


def test_an_export_without_check_rows_is_refused() -> None:
    config, inputs = _check_rows("mlp")
    with pytest.raises(OnnxExportError, match="at least one check row"):
        export_onnx(build_model(config), config, inputs[:0])


def test_bytes_that_are_no_graph_are_refused() -> None:
    config, _ = _check_rows("logistic_regression")
    with pytest.raises(OnnxNetworkError, match="cannot open"):
        OnnxNetwork.from_bytes(b"not an onnx graph", config)


def test_the_export_is_listed_and_verified_like_every_file(tmp_path: Path) -> None:
    from example_artifacts import publish_example

    store = publish_example(tmp_path / "logistic_regression", "logistic_regression", steps=2)
    verified = read_verified_files(store)
    assert ONNX_FILE in {entry.path for entry in verified.manifest.files}
    path = tmp_path / "logistic_regression" / ONNX_FILE
    data = bytearray(path.read_bytes())
    data[-1] ^= 1
    path.write_bytes(bytes(data))
    with pytest.raises(ArtifactError, match=r"model\.onnx does not match the manifest"):
        read_verified_files(LocalStore(tmp_path / "logistic_regression"))


def test_every_network_of_a_process_runs_on_one_thread_pool() -> None:
    config, inputs = _check_rows("mlp")
    data = export_onnx(build_model(config), config, inputs)
    threads = len(os.listdir("/proc/self/task"))
    networks = [OnnxNetwork.from_bytes(data, config, threads=3) for _ in range(12)]
    for network in networks:
        network.probabilities(inputs)
    assert len(os.listdir("/proc/self/task")) - threads <= 3  # the pool, made at most once
