"""Tiny real models for the serving tests: trained with the shared core library in seconds.

The functions here are imported by the other serving and router tests; the tests below check
that what they produce is a genuinely trained, verifiable artifact.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import pytest
import torch

from mlops_core.artifact_config import ArtifactConfig
from mlops_core.artifact_io import ArtifactMetrics, load_artifact, publish_artifact
from mlops_core.calibration import fit_temperature
from mlops_core.models import build_model
from mlops_core.onnx_export import export_onnx
from mlops_core.preprocessing import fit_tabular, fit_text
from mlops_core.reference_stats import compute_reference_stats
from mlops_core.storage import ObjectStore, join_uri, open_store
from mlops_core.training_spec import ModelSpec

FEATURES = ["amount", "age", "score", "segment"]
TEXT_WORDS_ALERT = ["breach", "malware", "phishing", "exploit", "ransomware", "intrusion"]
TEXT_WORDS_OK = ["meeting", "lunch", "report", "weekly", "holiday", "schedule"]


def tabular_data(n: int, *, seed: int, shift: float = 0.0) -> dict[str, list[object]]:
    """Synthetic fraud-like data: label 'fraud' when amount and score are high."""
    rng = np.random.default_rng(seed)
    amount = rng.normal(100 + shift, 30, n)
    age = rng.integers(18, 80, n).astype(float)
    score = rng.normal(0, 1, n)
    segment = rng.choice(["retail", "business", "vip"], n)
    logit = (amount - 100) / 30 + 1.5 * score + (segment == "vip") * 0.5
    label = np.where(logit > 0.3, "fraud", "ok")
    return {
        "amount": amount.tolist(),
        "age": age.tolist(),
        "score": score.tolist(),
        "segment": segment.tolist(),
        "label": label.tolist(),
    }


def text_data(n: int, *, seed: int) -> dict[str, list[object]]:
    rng = np.random.default_rng(seed)
    texts, labels = [], []
    for _ in range(n):
        alert = bool(rng.integers(0, 2))
        words = list(rng.choice(TEXT_WORDS_ALERT if alert else TEXT_WORDS_OK, 4))
        words += list(rng.choice(TEXT_WORDS_OK + TEXT_WORDS_ALERT, 2))
        texts.append(" ".join(str(w) for w in words))
        labels.append("threat" if alert else "benign")
    return {"text": texts, "label": labels}


def _fit(module: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, epochs: int) -> None:
    optimizer = torch.optim.Adam(module.parameters(), lr=0.02)
    loss_fn = torch.nn.CrossEntropyLoss()
    module.train()
    for _ in range(epochs):
        optimizer.zero_grad()
        loss = loss_fn(module(x), y)
        loss.backward()
        optimizer.step()
    module.eval()


def train_tabular(
    store: ObjectStore,
    *,
    model: str = "fraud",
    version: str = "1.0.0",
    hidden: tuple[int, ...] = (32, 16),
    seed: int = 0,
    epochs: int = 60,
    onnx: bool = True,
) -> str:
    """Train a small MLP on synthetic data and publish it (with its ONNX export unless
    ``onnx`` is False: a version served by torch); returns the version digest."""
    torch.manual_seed(seed)
    data = tabular_data(1500, seed=seed)
    pre = fit_tabular(data, feature_columns=FEATURES, categorical_columns=["segment"])
    labels = ["fraud", "ok"]
    config = ArtifactConfig(
        architecture="mlp",
        task="tabular",
        model=ModelSpec(architecture="mlp", hidden_sizes=list(hidden), dropout=0.0),
        class_labels=labels,
        label_column="label",
        feature_names=FEATURES,
        num_features=pre.num_features,
    )
    module = build_model(config)
    x = torch.from_numpy(pre.transform_columns(data))
    y = torch.tensor([labels.index(str(v)) for v in data["label"]])
    _fit(module, x, y, epochs)
    accuracy = float((module(x).argmax(1) == y).float().mean())
    published = publish_artifact(
        store,
        model=model,
        version=version,
        module=module,
        config=config,
        preprocessor=pre,
        reference=compute_reference_stats(pre, data),
        metrics=ArtifactMetrics(epochs_run=epochs, validation={"val_accuracy": accuracy}),
        onnx=export_onnx(module, config, x.numpy()) if onnx else None,
        calibration=fit_temperature(torch.softmax(module(x), 1).detach().numpy(), y.numpy()),
    )
    return published.digest


def train_text(store: ObjectStore, *, model: str = "threats", version: str = "1.0.0") -> str:
    torch.manual_seed(1)
    data = text_data(400, seed=1)
    pre = fit_text(data, text_column="text", max_vocab_size=64, max_length=16)
    labels = ["benign", "threat"]
    spec = ModelSpec(architecture="cnn_text", embedding_dim=16, hidden_dim=16, dropout=0.0)
    config = ArtifactConfig(
        architecture="cnn_text",
        task="text",
        model=spec,
        class_labels=labels,
        label_column="label",
        feature_names=["text"],
        text_column="text",
        vocab_size=pre.vocab_size,
        max_sequence_length=16,
    )
    module = build_model(config)
    x = torch.from_numpy(pre.transform_columns(data))
    y = torch.tensor([labels.index(str(v)) for v in data["label"]])
    _fit(module, x, y, 40)
    published = publish_artifact(
        store,
        model=model,
        version=version,
        module=module,
        config=config,
        preprocessor=pre,
        reference=compute_reference_stats(pre, data),
        metrics=ArtifactMetrics(epochs_run=40),
        onnx=export_onnx(module, config, x.numpy()),
    )
    return published.digest


def build_repository(root: Path) -> Path:
    """fraud 1.0.0 and 1.1.0 (tabular MLP) and threats 1.0.0 (text CNN) under ``root``."""
    train_tabular(open_store(join_uri(str(root), "fraud", "1.0.0")), version="1.0.0", seed=0)
    train_tabular(open_store(join_uri(str(root), "fraud", "1.1.0")), version="1.1.0", seed=1)
    train_text(open_store(join_uri(str(root), "threats", "1.0.0")))
    return root


@pytest.mark.integration
def test_tiny_models_are_really_trained(tmp_path: Path) -> None:
    root = build_repository(tmp_path)
    fraud = load_artifact(open_store(str(root / "fraud" / "1.0.0")))
    holdout = tabular_data(400, seed=99)
    records = [{f: holdout[f][i] for f in FEATURES} for i in range(len(holdout["label"]))]
    predicted = fraud.predict(records)
    accuracy = np.mean([p == t for p, t in zip(predicted, holdout["label"], strict=True)])
    assert accuracy > 0.85
    threats = load_artifact(open_store(str(root / "threats" / "1.0.0")))
    assert threats.predict([{"text": "malware breach exploit phishing"}]) == ["threat"]
    assert threats.predict([{"text": "weekly lunch meeting schedule"}]) == ["benign"]


# ---- real server processes on loopback --------------------------------------------------


def free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@dataclass
class ServerProcess:
    process: subprocess.Popen[bytes]
    host: str
    port: int
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]


def wait_until(
    url: str, *, process: subprocess.Popen[bytes], log: Path, timeout: float = 60
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"process exited early:\n{log.read_text()[-4000:]}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{url} not ready in {timeout}s:\n{log.read_text()[-4000:]}")


@contextlib.contextmanager
def run_process(
    command: str,
    *,
    host: str,
    env: dict[str, str],
    log_dir: Path,
    ready_path: str,
    port: int | None = None,
) -> Iterator[ServerProcess]:
    """``python -m mlops_serving <command>`` on ``host``; killed (only it) at the end."""
    port = port or free_port(host)
    log_path = log_dir / f"{command}-{host}-{port}.log"
    full_env = {**os.environ, "TORCH_NUM_THREADS": "1", **env}
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "mlops_serving", command, "--host", host, "--port", str(port)],
            env=full_env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = ServerProcess(process, host, port, log_path)
    try:
        wait_until(server.url + ready_path, process=process, log=log_path)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def run_server(
    repository: Path | str,
    *,
    host: str,
    log_dir: Path,
    ready_path: str = "/v2/health/ready",
    **env: str,
) -> contextlib.AbstractContextManager[ServerProcess]:
    settings = {"MODEL_REPOSITORY_URI": str(repository), "MAX_LATENCY_MS": "2", **env}
    return run_process("serve", host=host, env=settings, log_dir=log_dir, ready_path=ready_path)
