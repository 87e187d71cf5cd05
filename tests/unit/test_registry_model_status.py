from datetime import UTC, datetime

import pytest

from mlops_operator.api.model import RegisteredModelStatus
from mlops_operator.api.model_version import ModelVersion
from mlops_operator.registry.model_status import aggregate_model_status

pytestmark = pytest.mark.unit

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _mv(version: str, stage: str, promoted: str | None = None) -> ModelVersion:
    return ModelVersion.from_body(
        {
            "metadata": {"name": f"m-v{version.replace('.', '-')}", "namespace": "ns"},
            "spec": {
                "model": "m",
                "version": version,
                "stage": stage,
                "artifact": {"uri": "s3://b/x/", "digest": "sha256:" + "0" * 64},
            },
            "status": {"promotedAt": promoted} if promoted else {},
        }
    )


def test_aggregates_latest_production_staging_and_count() -> None:
    versions = [
        _mv("1.0.0", "archived"),
        _mv("1.10.0", "staging"),
        _mv("1.2.0", "production", "2026-01-01T00:00:00Z"),
        _mv("1.9.0", "staging"),
        _mv("2.0.0-rc.1", "draft"),
    ]
    status = aggregate_model_status(versions, RegisteredModelStatus(), generation=3, now=NOW)
    assert status.latest_version == "2.0.0-rc.1"
    assert status.production_version == "1.2.0"
    assert status.staging_versions == ["1.10.0", "1.9.0"]
    assert status.version_count == 5
    ready = status.condition("Ready")
    assert ready is not None
    assert ready.status == "True"
    assert ready.observed_generation == 3


def test_with_two_in_production_the_latest_promotion_wins() -> None:
    versions = [
        _mv("2.0.0", "production", "2026-01-01T00:00:00Z"),
        _mv("1.0.0", "production", "2026-02-01T00:00:00Z"),
    ]
    status = aggregate_model_status(versions, RegisteredModelStatus(), generation=1, now=NOW)
    assert status.production_version == "1.0.0"


def test_no_versions() -> None:
    status = aggregate_model_status([], RegisteredModelStatus(), generation=1, now=NOW)
    assert (status.latest_version, status.production_version, status.version_count) == (
        None,
        None,
        0,
    )
