from datetime import UTC, datetime, timedelta

import pytest

from mlops_operator.api.training_job import TrainingJob
from mlops_operator.reconcile.training_status import (
    differs,
    failed_status,
    progress_status,
    started_status,
    succeeded_status,
)

pytestmark = pytest.mark.unit

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _tj(status: dict[str, object] | None = None) -> TrainingJob:
    return TrainingJob.from_body(
        {
            "metadata": {"name": "run", "namespace": "ns", "uid": "u-1", "generation": 1},
            "spec": {
                "modelName": "m",
                "dataset": {"train": "s3://b/train.csv"},
                "model": {"architecture": "mlp"},
            },
            "status": status or {},
        }
    )


def _conditions(patch: dict[str, object]) -> dict[str, tuple[str, str]]:
    return {c["type"]: (c["status"], c["reason"]) for c in patch["conditions"]}  # type: ignore[attr-defined]


def test_started_records_version_and_location_first() -> None:
    patch = started_status(
        _tj(), version="1.0.0", artifact_uri="s3://b/m/1.0.0/", job_name="run", now=NOW
    )
    assert patch["version"] == "1.0.0"
    assert patch["artifact"] == {"uri": "s3://b/m/1.0.0/"}
    assert patch["phase"] == "Pending"
    assert _conditions(patch)["Succeeded"] == ("Unknown", "Starting")
    assert _conditions(patch)["Reconciling"] == ("True", "Starting")


def test_running_is_reconciling_and_never_touches_progress() -> None:
    tj = _tj({"progress": {"epoch": 2, "totalEpochs": 5}})
    patch = progress_status(
        tj, phase="Running", reason="Training", message="training", attempts=1, now=NOW
    )
    assert "progress" not in patch
    assert _conditions(patch) == {
        "Ready": ("False", "Training"),
        "Reconciling": ("True", "Training"),
        "Stalled": ("False", "Training"),
        "Succeeded": ("Unknown", "Training"),
    }


def test_failed_is_stalled_with_the_reason() -> None:
    patch = failed_status(_tj(), reason="OOMKilled", message="raise memory", attempts=2, now=NOW)
    assert patch["phase"] == "Failed"
    assert _conditions(patch)["Succeeded"] == ("False", "OOMKilled")
    assert _conditions(patch)["Stalled"] == ("True", "OOMKilled")
    succeeded = next(c for c in patch["conditions"] if c["type"] == "Succeeded")  # type: ignore[attr-defined]
    assert succeeded["message"] == "raise memory"
    assert patch["attempts"] == 2


def test_succeeded_names_the_model_version() -> None:
    patch = succeeded_status(
        _tj(),
        model_version="m-v1-0-0",
        version="1.0.0",
        artifact_uri="s3://b/m/1.0.0/",
        digest="sha256:" + "a" * 64,
        metrics={"val_accuracy": 0.9},
        attempts=1,
        now=NOW,
    )
    assert _conditions(patch)["Succeeded"] == ("True", "ModelVersionCreated")
    assert _conditions(patch)["Ready"] == ("True", "ModelVersionCreated")
    assert patch["modelVersion"] == "m-v1-0-0"
    assert patch["metrics"] == {"val_accuracy": 0.9}


def test_a_repeated_reconcile_writes_nothing_new() -> None:
    patch = progress_status(
        _tj(), phase="Running", reason="Training", message="m", attempts=1, now=NOW
    )
    applied = _tj(patch)
    again = progress_status(
        applied, phase="Running", reason="Training", message="m", attempts=1, now=NOW + timedelta(1)
    )
    assert not differs(applied, again)
    assert differs(applied, failed_status(applied, reason="X", message="m", attempts=1, now=NOW))
