"""The serving contract: a Deployment's serving settings reach the server unchanged."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from mlops_core.serving_spec import (
    MODELS_IN_MEMORY_MAX,
    BatchingSpec,
    DriftSpec,
    ServingSpec,
    model_digests_value,
    server_environment,
)
from mlops_operator.api.deployment import DeploymentSpec
from mlops_serving.settings import ServerSettings

pytestmark = pytest.mark.unit

SPECS = [
    (ServingSpec(runtime="torch"), DriftSpec()),
    (ServingSpec(), DriftSpec()),
    (
        ServingSpec(
            max_models_in_memory=MODELS_IN_MEMORY_MAX,
            warmup=False,
            batching=BatchingSpec(enabled=False, max_batch_size=7, max_latency_ms=0.0),
        ),
        DriftSpec(enabled=False, method="wasserstein", threshold=0.35, window_size=10),
    ),
    (
        ServingSpec(batching=BatchingSpec(max_batch_size=4096, max_latency_ms=2.5)),
        DriftSpec(method="kl", threshold=1000.0, window_size=1_000_000),
    ),
]


def _settings_from(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> ServerSettings:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return ServerSettings()


@pytest.mark.parametrize(("serving", "drift"), SPECS)
def test_a_spec_round_trips_into_the_server_settings(
    serving: ServingSpec, drift: DriftSpec, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = _settings_from(server_environment(serving, drift), monkeypatch)
    assert settings.serving_spec() == serving
    assert settings.drift_spec() == drift


def test_the_crd_embeds_the_contract_as_written_in_yaml(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = DeploymentSpec.model_validate(
        {
            "model": "fraud",
            "version": "1.0.0",
            "serving": {"maxModelsInMemory": 2, "batching": {"enabled": False, "maxLatencyMs": 0}},
            "monitoring": {"method": "kl", "windowSize": 500},
        }
    )
    settings = _settings_from(server_environment(spec.serving, spec.monitoring), monkeypatch)
    assert settings.max_models_in_memory == 2
    assert settings.batching_enabled is False
    assert settings.batch_size_limit == 1  # off: every request runs alone
    assert settings.batch_wait_ms == 0.0
    assert settings.drift_detection_method == "kl"
    assert settings.drift_window_size == 500


def test_batching_on_uses_the_configured_batch() -> None:
    settings = ServerSettings(max_batch_size=16, max_latency_ms=3.0)
    assert (settings.batch_size_limit, settings.batch_wait_ms) == (16, 3.0)


@pytest.mark.parametrize(
    "bad",
    [
        {"maxModelsInMemory": MODELS_IN_MEMORY_MAX + 1},
        {"batching": {"maxLatencyMs": -1}},
        {"batching": {"maxBatchSize": 0}},
    ],
)
def test_the_crd_and_the_server_reject_the_same_values(
    bad: dict[str, object], monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ValidationError):
        ServingSpec.model_validate(bad)
    env = {
        "MAX_MODELS_IN_MEMORY": str(bad.get("maxModelsInMemory", 4)),
        "MAX_LATENCY_MS": str(dict(bad.get("batching") or {}).get("maxLatencyMs", 5)),  # type: ignore[call-overload]
        "MAX_BATCH_SIZE": str(dict(bad.get("batching") or {}).get("maxBatchSize", 32)),  # type: ignore[call-overload]
    }
    with pytest.raises(ValidationError):
        _settings_from(env, monkeypatch)


def test_the_servers_expected_digests_are_the_builders(monkeypatch: pytest.MonkeyPatch) -> None:
    digests = {("fraud", "1.2.0"): "sha256:" + "a" * 64, ("spam", "2.0.0"): "sha256:" + "b" * 64}
    settings = _settings_from({"MODEL_DIGESTS": model_digests_value(digests)}, monkeypatch)
    assert settings.expected_digests() == digests


@pytest.mark.parametrize(
    "value", ["fraud:1.2.0=md5:abc", "fraud=sha256:" + "a" * 64, "fraud:1.2.0=sha256:" + "A" * 64]
)
def test_a_malformed_digest_setting_says_what_to_write(
    value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ValidationError, match="model:version=sha256:<64 hex digits>"):
        _settings_from({"MODEL_DIGESTS": value}, monkeypatch)
