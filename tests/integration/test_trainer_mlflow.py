"""MLflow tracking against a real ``mlflow server`` (sqlite backend) started by the test: a
training run's parameters and metrics, and an Experiment's trial runs nested under the search's
parent run."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mlops_core.progress import TrainingResult
from mlops_core.trainer_environment import ENV_MLFLOW_PARENT_RUN
from mlops_operator.adapters.mlflow_runs import MlflowRuns

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples" / "data" / "breast-cancer"
MLFLOW = Path(sys.executable).parent / "mlflow"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def mlflow_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("mlflow")
    port = _free_port()
    log = (root / "server.log").open("w")
    server = subprocess.Popen(
        [
            str(MLFLOW),
            "server",
            "--backend-store-uri",
            f"sqlite:///{root / 'mlflow.db'}",
            "--default-artifact-root",
            str(root / "artifacts"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: the server and its uvicorn worker
    )
    uri = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{uri}/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"mlflow server did not start: {(root / 'server.log').read_text()[-2000:]}"
                )
            time.sleep(0.5)
        yield uri
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        log.close()


def _api(uri: str, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    request = urllib.request.Request(
        f"{uri}/api/2.0/mlflow/{path}",
        data=json.dumps(body).encode() if body is not None else None,
        method=method,
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        result: dict[str, Any] = json.loads(response.read())
        return result


def test_parameters_epoch_metrics_and_artifact_uri_reach_mlflow(
    tmp_path: Path, mlflow_uri: str
) -> None:
    out = tmp_path / "out"
    config = {
        "dataset": {
            "train": str(EXAMPLES / "train.csv"),
            "validation": str(EXAMPLES / "validation.csv"),
            "test": str(EXAMPLES / "test.csv"),
            "labelColumn": "diagnosis",
        },
        "model": {"architecture": "logistic_regression", "optimizer": {"learningRate": 0.05}},
        "training": {"epochs": 3, "earlyStopping": {"enabled": False}},
        "output": {"modelName": "breast-cancer", "version": "2.1.0", "artifactUri": str(out)},
        "mlflowExperiment": "trainer-test",
    }
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLOPS_", "WORLD_SIZE"))}
    env.update(
        MLFLOW_TRACKING_URI=mlflow_uri,
        OMP_NUM_THREADS="1",
        MLOPS_TERMINATION_MESSAGE_PATH=str(tmp_path / "termination"),
        MLOPS_TRAINER_CONFIG=json.dumps(config),
    )
    proc = subprocess.run(
        [sys.executable, "-m", "mlops_trainer"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "failed" not in proc.stderr  # no reporter was switched off
    result = TrainingResult.model_validate_json((tmp_path / "termination").read_bytes())

    query = urllib.parse.urlencode({"experiment_name": "trainer-test"})
    experiment = _api(mlflow_uri, "GET", f"experiments/get-by-name?{query}")["experiment"]
    runs = _api(
        mlflow_uri, "POST", "runs/search", {"experiment_ids": [experiment["experiment_id"]]}
    )["runs"]
    assert len(runs) == 1
    run = runs[0]
    assert run["info"]["run_name"] == "breast-cancer-2.1.0"
    assert run["info"]["status"] == "FINISHED"
    params = {p["key"]: p["value"] for p in run["data"]["params"]}
    assert params["model.architecture"] == "logistic_regression"
    assert params["model.optimizer.learningRate"] == "0.05"
    assert params["training.epochs"] == "3"
    tags = {t["key"]: t["value"] for t in run["data"]["tags"]}
    assert tags["mlops.artifact_uri"] == result.artifact_uri == str(out)
    assert tags["mlops.digest"] == result.digest
    latest = {m["key"]: m["value"] for m in run["data"]["metrics"]}
    assert latest["test_accuracy"] == pytest.approx(result.metrics["test_accuracy"])

    query = urllib.parse.urlencode({"run_id": run["info"]["run_id"], "metric_key": "val_loss"})
    history = _api(mlflow_uri, "GET", f"metrics/get-history?{query}")["metrics"]
    assert sorted(m["step"] for m in history) == [1, 2, 3]


def test_a_trial_run_nests_under_the_search_run(tmp_path: Path, mlflow_uri: str) -> None:
    runs = MlflowRuns(mlflow_uri, timeout=120)  # a fresh server's first answers are slow
    settings = {"strategy": "bayesian", "space.model.dropout": "0.0..0.5"}
    parent = runs.parent_run(
        mlflow_experiment="search-test", uid="uid-1", name="s", params=settings
    )
    assert (
        runs.parent_run(mlflow_experiment="search-test", uid="uid-1", name="s", params={}) == parent
    )

    config = {
        "dataset": {
            "train": str(EXAMPLES / "train.csv"),
            "validation": str(EXAMPLES / "validation.csv"),
            "labelColumn": "diagnosis",
        },
        "model": {"architecture": "logistic_regression"},
        "training": {"epochs": 2},
        "output": {
            "modelName": "breast-cancer",
            "version": "0.0.3",
            "artifactUri": str(tmp_path / "a"),
        },
        "mlflowExperiment": "search-test",
    }
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLOPS_", "WORLD_SIZE"))}
    env.update(
        MLFLOW_TRACKING_URI=mlflow_uri,
        OMP_NUM_THREADS="1",
        MLOPS_TERMINATION_MESSAGE_PATH=str(tmp_path / "termination"),
        MLOPS_TRAINER_CONFIG=json.dumps(config),
        **{ENV_MLFLOW_PARENT_RUN: parent},
    )
    proc = subprocess.run(
        [sys.executable, "-m", "mlops_trainer"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    runs.finish(
        parent,
        succeeded=True,
        metrics={"best_val_accuracy": 0.97},
        tags={"mlops.best_trial": "s-t0"},
    )

    query = urllib.parse.urlencode({"experiment_name": "search-test"})
    experiment = _api(mlflow_uri, "GET", f"experiments/get-by-name?{query}")["experiment"]
    found = _api(
        mlflow_uri, "POST", "runs/search", {"experiment_ids": [experiment["experiment_id"]]}
    )["runs"]
    assert len(found) == 2
    by_id = {run["info"]["run_id"]: run for run in found}
    child = next(run for run_id, run in by_id.items() if run_id != parent)
    child_tags = {tag["key"]: tag["value"] for tag in child["data"]["tags"]}
    assert child_tags["mlflow.parentRunId"] == parent
    assert child["info"]["status"] == "FINISHED"
    search_run = by_id[parent]
    assert search_run["info"]["status"] == "FINISHED"
    assert {m["key"]: m["value"] for m in search_run["data"]["metrics"]} == {
        "best_val_accuracy": 0.97
    }
    assert {p["key"] for p in search_run["data"]["params"]} == set(settings)
