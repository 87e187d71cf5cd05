"""The termination message: the TrainingResult as JSON, always within 4 KiB."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlops_core.progress import TrainingResult
from mlops_trainer.termination import termination_message, write_termination_message

pytestmark = pytest.mark.unit


def test_small_result_is_written_whole(tmp_path: Path) -> None:
    result = TrainingResult(
        succeeded=True,
        artifact_uri="s3://mlops/models/m/1.0.0",
        digest="sha256:" + "a" * 64,
        metrics={"val_accuracy": 0.9, "test_accuracy": 0.88},
        best_epoch=3,
        epochs_run=5,
    )
    write_termination_message(result, str(tmp_path / "term"))
    assert TrainingResult.model_validate_json((tmp_path / "term").read_bytes()) == result


def test_oversized_result_drops_test_metrics_first_then_shortens_reason() -> None:
    metrics = {f"val_m{i}": 0.1 for i in range(8)} | {f"test_m{i}": 0.2 for i in range(8)}
    result = TrainingResult(
        succeeded=False, reason="x" * 1024, artifact_uri="s3://b/" + "k" * 1000, metrics=metrics
    )
    data = termination_message(result, limit=2200)
    assert len(data) <= 2200
    parsed = TrainingResult.model_validate_json(data)
    assert not any(k.startswith("test_") for k in parsed.metrics)
    tight = TrainingResult.model_validate_json(termination_message(result, limit=1200))
    assert tight.metrics == {}
    assert tight.reason is not None
    assert tight.reason.endswith("…")


def test_reason_becomes_one_line() -> None:
    result = TrainingResult(succeeded=False, reason="bad\n  data\tin row 3")
    assert json.loads(termination_message(result))["reason"] == "bad data in row 3"


def test_unwritable_path_is_not_fatal(tmp_path: Path) -> None:
    write_termination_message(TrainingResult(succeeded=True), str(tmp_path / "no" / "dir"))
