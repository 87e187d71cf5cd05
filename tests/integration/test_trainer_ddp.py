"""Distributed data parallel: two real worker processes on loopback (gloo) match one worker."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from mlops_core.artifact import MANIFEST_FILE, digest_of
from mlops_core.artifact_io import load_artifact
from mlops_core.progress import TrainingResult
from mlops_core.storage import LocalStore

pytestmark = pytest.mark.integration

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "data" / "breast-cancer"
CLEARED_ENV = (
    "MLFLOW_TRACKING_URI",
    "MLOPS_TRAININGJOB_NAME",
    "MLOPS_TRAININGJOB_NAMESPACE",
    "WORLD_SIZE",
    "RANK",
    "JOB_COMPLETION_INDEX",
    "MLOPS_TRAINER_CONFIG",
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _config(out: Path) -> dict[str, Any]:
    return {
        "dataset": {
            "train": str(EXAMPLES / "train.csv"),
            "validation": str(EXAMPLES / "validation.csv"),
            "test": str(EXAMPLES / "test.csv"),
            "labelColumn": "diagnosis",
        },
        "model": {
            "architecture": "mlp",
            "hiddenSizes": [16],
            "optimizer": {"name": "adam", "learningRate": 0.01},
            "metrics": ["accuracy", "roc_auc", "loss"],
        },
        "training": {"epochs": 5, "batchSize": 32, "earlyStopping": {"enabled": False}},
        "output": {"modelName": "breast-cancer", "version": "1.0.0", "artifactUri": str(out)},
    }


def _start(config_path: Path, workdir: Path, extra: dict[str, str]) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if k not in CLEARED_ENV}
    env.update(OMP_NUM_THREADS="1", MLOPS_TERMINATION_MESSAGE_PATH=str(workdir / "termination"))
    env.update(extra)
    return subprocess.Popen(
        [sys.executable, "-m", "mlops_trainer", "--config", str(config_path)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _run_workers(ddp_dir: Path) -> list[tuple[str, str]]:
    """Two workers of one run, as the pods of an Indexed Job; both must succeed."""
    port = str(_free_port())
    workers = [
        _start(
            ddp_dir / "config.json",
            ddp_dir / f"rank{rank}",
            {
                "WORLD_SIZE": "2",
                "MASTER_ADDR": "127.0.0.1",
                "MASTER_PORT": port,
                # rank 1 finds its rank the way a pod of an Indexed Job does
                **({"RANK": "0"} if rank == 0 else {"JOB_COMPLETION_INDEX": "1"}),
            },
        )
        for rank in (0, 1)
    ]
    outputs = [worker.communicate(timeout=300) for worker in workers]
    for worker, (_, err) in zip(workers, outputs, strict=True):
        assert worker.returncode == 0, err
    return outputs


def _result(workdir: Path) -> TrainingResult:
    return TrainingResult.model_validate_json((workdir / "termination").read_bytes())


def test_two_workers_on_loopback_reach_the_quality_of_one(tmp_path: Path) -> None:
    single_dir, ddp_dir = tmp_path / "single", tmp_path / "ddp"
    for folder in (single_dir, ddp_dir, ddp_dir / "rank0", ddp_dir / "rank1"):
        folder.mkdir(parents=True)
    (single_dir / "config.json").write_text(json.dumps(_config(single_dir / "out")))
    (ddp_dir / "config.json").write_text(json.dumps(_config(ddp_dir / "out")))

    single = _start(single_dir / "config.json", single_dir, {})
    single_out, single_err = single.communicate(timeout=300)
    assert single.returncode == 0, single_err

    outputs = _run_workers(ddp_dir)
    first, second = _result(ddp_dir / "rank0"), _result(ddp_dir / "rank1")
    manifest = (ddp_dir / "out" / MANIFEST_FILE).read_bytes()
    assert first.digest == second.digest == digest_of(manifest)
    assert first.artifact_uri == second.artifact_uri
    start = json.loads(outputs[1][0].splitlines()[0])
    assert (start["rank"], start["worldSize"]) == (1, 2)

    one = _result(single_dir)
    assert one.metrics["test_roc_auc"] > 0.95
    assert first.metrics["test_roc_auc"] > 0.95
    assert abs(first.metrics["test_accuracy"] - one.metrics["test_accuracy"]) <= 0.05
    assert abs(first.metrics["val_loss"] - one.metrics["val_loss"]) <= 0.1
    loaded = load_artifact(LocalStore(ddp_dir / "out"))
    assert loaded.metrics.epochs_run == 5
    assert single_out.count('"event": "epoch"') == 5

    # a retry of both pods after the publish: every rank reports the published digest
    outputs = _run_workers(ddp_dir)
    assert _result(ddp_dir / "rank1").digest == first.digest
    assert '"event": "epoch"' not in outputs[1][0]
