from typing import Any

import pytest

from mlops_operator.api.training_job import TrainingJob
from mlops_operator.reconcile.versioning import VersionConflictError, choose_version

pytestmark = pytest.mark.unit


def _tj(**registration: Any) -> TrainingJob:
    return TrainingJob.from_body(
        {
            "metadata": {"name": "run", "namespace": "ns", "uid": "u-1"},
            "spec": {
                "modelName": "m",
                "dataset": {"train": "s3://b/train.csv"},
                "model": {"architecture": "mlp"},
                "registration": registration,
            },
        }
    )


def test_first_version_is_1_0_0() -> None:
    assert choose_version(_tj(), registered=[], reserved=[]) == "1.0.0"


def test_bump_counts_versions_other_runs_reserved() -> None:
    tj = _tj(bump="minor")
    assert choose_version(tj, registered=["1.0.0"], reserved=["1.1.0"]) == "1.2.0"
    assert choose_version(_tj(bump="patch"), registered=["1.0.0", "0.9.0"], reserved=[]) == "1.0.1"
    assert choose_version(_tj(bump="major"), registered=["1.4.2"], reserved=[]) == "2.0.0"


def test_explicit_version_must_be_free() -> None:
    assert choose_version(_tj(version="3.0.0"), registered=["1.0.0"], reserved=[]) == "3.0.0"
    with pytest.raises(VersionConflictError, match="already exists or is being trained"):
        choose_version(_tj(version="1.0.0"), registered=["1.0.0"], reserved=[])


def test_unregistered_run_gets_a_run_scoped_prerelease() -> None:
    version = choose_version(_tj(enabled=False), registered=["1.0.0"], reserved=[])
    assert version.startswith("0.0.0-run-")
    assert version == choose_version(_tj(enabled=False), registered=[], reserved=[])
