"""The serving contract: a Deployment's serving settings reach the server unchanged."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ValidationError

from mlops_core.serving_spec import (
    BATCH_SIZE_MAX,
    DRIFT_REFERENCE_MAX,
    ENV_BATCH_SIZE,
    ENV_DRIFT_REFERENCE,
    MODELS_IN_MEMORY_MAX,
    OPERATOR_ONLY,
    SPEC_VARIABLES,
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
        DriftSpec(
            method="kl",
            threshold=1000.0,
            window_size=1_000_000,
            reference="s3://mlops/references/fraud.json",
        ),
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
    assert settings.serving == serving
    assert settings.drift == drift


def test_every_setting_of_the_specs_has_a_variable_or_is_the_operators_alone() -> None:
    def paths(model: type[BaseModel], prefix: tuple[str, ...] = ()) -> set[tuple[str, ...]]:
        found: set[tuple[str, ...]] = set()
        for name, field in model.model_fields.items():
            inner = field.annotation
            if isinstance(inner, type) and issubclass(inner, BaseModel):
                found |= paths(inner, (*prefix, name))
            else:
                found.add((*prefix, name))
        return found

    declared = {(v.spec, v.path) for v in SPEC_VARIABLES} | set(OPERATOR_ONLY)
    fields = {("serving", p) for p in paths(ServingSpec)} | {("drift", p) for p in paths(DriftSpec)}
    assert declared == fields
    assert len({v.name for v in SPEC_VARIABLES}) == len(SPEC_VARIABLES)


def test_the_server_reads_the_drift_reference_with_the_contracts_bounds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    reference = "s3://mlops/references/fraud/2026-12.json"
    settings = _settings_from({ENV_DRIFT_REFERENCE: reference}, monkeypatch)
    assert settings.drift.reference == reference
    too_long = "s3://mlops/" + "r" * DRIFT_REFERENCE_MAX + ".json"
    with pytest.raises(ValidationError, match=ENV_DRIFT_REFERENCE):
        _settings_from({ENV_DRIFT_REFERENCE: too_long}, monkeypatch)


def test_a_bad_variable_is_named_in_the_error(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValidationError, match=f"{ENV_BATCH_SIZE}: Input should be less than"):
        _settings_from({ENV_BATCH_SIZE: str(BATCH_SIZE_MAX + 1)}, monkeypatch)


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
    assert settings.serving.max_models_in_memory == 2
    assert settings.serving.batching.enabled is False
    assert settings.batch_size_limit == 1  # off: every request runs alone
    assert settings.batch_wait_ms == 0.0
    assert settings.drift.method == "kl"
    assert settings.drift.window_size == 500


def test_batching_on_uses_the_configured_batch() -> None:
    batching = BatchingSpec(max_batch_size=16, max_latency_ms=3.0)
    settings = ServerSettings(serving=ServingSpec(batching=batching))
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
