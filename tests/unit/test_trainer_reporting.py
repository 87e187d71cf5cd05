"""Reporters: JSON lines, isolation of a failing reporter, the status patch, MLflow params."""

from __future__ import annotations

import io
import json
import logging

import pytest

from mlops_core.progress import EpochRecord, TrainingProgress, TrainingResult
from mlops_core.training_spec import TrainerConfig
from mlops_trainer.kube_reporter import kubernetes_reporter_from_env, progress_patch
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
