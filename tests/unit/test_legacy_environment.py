"""The replaced service's environment variables, taken by the processes that have their
meaning (``mlops_core.legacy_environment``)."""

from __future__ import annotations

import os

import pytest

from mlops_core.legacy_environment import (
    LegacyEnvironmentError,
    adopt_legacy_environment,
    legacy_environment,
)
from mlops_operator.rest.settings import RestSettings
from mlops_operator.settings import OperatorSettings
from mlops_serving.settings import ServerSettings

pytestmark = pytest.mark.unit

SERVICE = {
    "MODEL_STORAGE_TYPE": "s3",
    "MODEL_STORAGE_PATH": "/models/",
    "S3_ENDPOINT": "http://minio:9000",
    "MODEL_BUCKET": "ml-models",
    "MAX_MODELS_IN_MEMORY": "7",
    "PRELOAD_MODELS": "threat-classifier",
    "WARMUP_ON_LOAD": "false",
    "MODEL_CACHE_TTL": "3600",
    "DRIFT_DETECTION_METHOD": "wasserstein",
    "DRIFT_DETECTION_THRESHOLD": "0.1",
    "DRIFT_WINDOW_SIZE": "500",
    "USE_MLOPS_SERVING": "true",
    "USE_MLOPS_MONITORING": "true",
}


def test_the_services_variables_become_this_projects() -> None:
    assert legacy_environment(SERVICE) == {
        "AWS_ENDPOINT_URL": "http://minio:9000",
        "MLOPS_BUCKET": "ml-models",
        "MODEL_REPOSITORY_URI": "s3://ml-models/models",
    }
    local = {"MODEL_STORAGE_TYPE": "local", "MODEL_STORAGE_PATH": "/data/models"}
    assert legacy_environment(local) == {"MODEL_REPOSITORY_URI": "/data/models"}
    assert legacy_environment({}) == {}


def test_adopting_sets_what_is_missing() -> None:
    environ = dict(SERVICE)
    assert adopt_legacy_environment(environ)["MLOPS_BUCKET"] == "ml-models"
    assert environ["AWS_ENDPOINT_URL"] == "http://minio:9000"


def test_this_projects_own_variable_wins() -> None:
    given = {**SERVICE, "MLOPS_BUCKET": "mlops", "MODEL_REPOSITORY_URI": "s3://mlops/models"}
    assert legacy_environment(given) == {"AWS_ENDPOINT_URL": "http://minio:9000"}


def test_a_storage_it_cannot_read_says_what_to_set() -> None:
    with pytest.raises(LegacyEnvironmentError, match="MODEL_REPOSITORY_URI"):
        legacy_environment({"MODEL_STORAGE_TYPE": "gcs"})
    with pytest.raises(LegacyEnvironmentError, match="MODEL_STORAGE_PATH"):
        legacy_environment({"MODEL_STORAGE_TYPE": "local"})


def test_the_server_the_operator_and_the_rest_api_run_on_the_services_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in SERVICE.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_ENDPOINT_URL", "MLOPS_BUCKET", "MODEL_REPOSITORY_URI"):
        monkeypatch.delenv(name, raising=False)
    for name, value in legacy_environment(os.environ).items():
        monkeypatch.setenv(name, value)  # what adopt_legacy_environment sets, undone after
    server = ServerSettings()
    assert server.model_repository_uri == "s3://ml-models/models"
    assert (server.serving.max_models_in_memory, server.serving.warmup) == (7, False)
    assert (server.preload_models, server.model_cache_ttl) == ("threat-classifier", 3600.0)
    drift = server.drift
    assert (drift.method, drift.threshold, drift.window_size) == ("wasserstein", 0.1, 500)
    operator = OperatorSettings()
    assert (operator.bucket, operator.s3_endpoint) == ("ml-models", "http://minio:9000")
    assert (operator.use_serving, operator.use_monitoring) == (True, True)
    assert RestSettings().bucket == "ml-models"
