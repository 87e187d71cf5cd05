"""Reporters: JSON lines, isolation of a failing reporter, the status patch, MLflow params."""

from __future__ import annotations

import http.server
import io
import json
import logging
import shutil
import ssl
import threading
from pathlib import Path

import pytest

from mlops_core.progress import EpochRecord, TrainingProgress, TrainingResult
from mlops_core.training_spec import TrainerConfig
from mlops_devcluster.pki import Pki, ensure_pki
from mlops_trainer.kube_reporter import (
    InClusterPatcher,
    kubernetes_reporter_from_env,
    progress_patch,
)
from mlops_trainer.mlflow_tracking import flatten_params, mlflow_reporter_from_env, run_params
from mlops_trainer.reporting import JsonLinesReporter, Reporters

pytestmark = pytest.mark.unit

CONFIG = TrainerConfig.model_validate(
    {
        "dataset": {"train": "train.csv"},
        "model": {"architecture": "mlp", "hiddenSizes": [8, 4]},
        "training": {"epochs": 3},
        "output": {"modelName": "m", "version": "1.0.0", "artifactUri": "/tmp/m"},
    }
)
PROGRESS = TrainingProgress(
    epoch=2,
    total_epochs=3,
    latest_metrics={"val_loss": 0.4},
    best_metrics={"val_loss": 0.3},
    best_epoch=1,
    history=[EpochRecord(epoch=1, metrics={"val_loss": 0.3})],
)


def test_json_lines_one_object_per_event() -> None:
    stream = io.StringIO()
    reporter = JsonLinesReporter(stream)
    reporter.start(CONFIG, rank=0, world_size=1)
    reporter.epoch(PROGRESS, samples_per_second=1234.56)
    reporter.finish(TrainingResult(succeeded=True, digest="sha256:" + "0" * 64))
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [line["event"] for line in lines] == ["start", "epoch", "result"]
    assert lines[1]["totalEpochs"] == 3
    assert lines[1]["samplesPerSecond"] == 1234.6
    assert "history" not in lines[1]


def test_a_failing_reporter_is_logged_once_and_switched_off(
    caplog: pytest.LogCaptureFixture,
) -> None:
    broken, healthy = io.StringIO(), io.StringIO()
    broken.close()  # writing raises ValueError: I/O operation on closed file
    reporters = Reporters([JsonLinesReporter(broken), JsonLinesReporter(healthy)])
    with caplog.at_level(logging.WARNING):
        reporters.epoch(PROGRESS, samples_per_second=1.0)
        reporters.epoch(PROGRESS, samples_per_second=1.0)
    assert len([r for r in caplog.records if "switched off" in r.getMessage()]) == 1
    assert len(healthy.getvalue().splitlines()) == 2


def test_status_patch_is_the_wire_form_of_training_progress() -> None:
    patch = progress_patch(PROGRESS)
    progress = patch["status"]["progress"]
    assert progress["totalEpochs"] == 3
    assert progress["bestEpoch"] == 1
    assert progress["history"] == [{"epoch": 1, "metrics": {"val_loss": 0.3}}]
    assert TrainingProgress.model_validate(progress) == PROGRESS


def test_reporters_are_off_without_their_environment() -> None:
    assert kubernetes_reporter_from_env({}) is None
    assert kubernetes_reporter_from_env({"MLOPS_TRAININGJOB_NAME": "x"}) is None
    assert mlflow_reporter_from_env(env={}) is None
    assert mlflow_reporter_from_env(env={"MLFLOW_TRACKING_URI": "file:///tmp/mlruns"}) is None
    assert mlflow_reporter_from_env(env={"MLFLOW_TRACKING_URI": "http://mlflow:5000"}) is not None


def test_mlflow_params_are_the_flattened_config() -> None:
    params = run_params(CONFIG)
    assert params["model.hiddenSizes"] == "[8, 4]"
    assert params["model.optimizer.learningRate"] == "0.001"
    assert params["training.earlyStopping.monitor"] == "val_loss"
    assert params["output.version"] == "1.0.0"
    assert flatten_params("x", "y" * 600) == {"x": "y" * 500}


def test_in_a_pod_the_status_patch_is_one_https_request_with_the_pods_token(
    tmp_path: Path,
) -> None:
    pki = Pki(tmp_path / "pki")
    ensure_pki(pki)
    account = tmp_path / "serviceaccount"
    account.mkdir()
    shutil.copy(pki.ca_cert, account / "ca.crt")
    (account / "token").write_text("token-1\n")
    seen: list[tuple[str, str, str, str, dict[str, object]]] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_PATCH(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            seen.append(
                (
                    self.command,
                    self.path,
                    self.headers["Authorization"],
                    self.headers["Content-Type"],
                    body,
                )
            )
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args: object) -> None:
            return None

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(pki.apiserver_cert, pki.apiserver_key)
    server.socket = tls.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        patch = InClusterPatcher(
            host="127.0.0.1", port=str(server.server_address[1]), account=account
        )
        patch("team-a", "run-1", progress_patch(PROGRESS))
        (account / "token").write_text("token-2\n")  # rotated: the next request reads it again
        patch("team-a", "run-1", {"status": {}})
    finally:
        server.shutdown()
        server.server_close()
    assert [entry[:4] for entry in seen] == [
        (
            "PATCH",
            "/apis/mlops.dev/v1alpha1/namespaces/team-a/trainingjobs/run-1/status",
            f"Bearer {token}",
            "application/merge-patch+json",
        )
        for token in ("token-1", "token-2")
    ]
    assert seen[0][4] == progress_patch(PROGRESS)
    assert (
        InClusterPatcher(host="fd00::1", port="443", account=account)
        .url("a", "b")
        .startswith("https://[fd00::1]:443/apis/")
    )
