from pathlib import Path

import kopf
import pytest
import yaml

from mlops_operator.kopf_config import FINALIZER, backoff_seconds, configure_kopf
from mlops_operator.local_operator import operator_rules
from mlops_operator.settings import OperatorSettings

pytestmark = pytest.mark.unit

CHART = Path(__file__).resolve().parents[2] / "helm" / "mlops-operator"


def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLOPS_WATCH_NAMESPACE", "team-a, team-b")
    monkeypatch.setenv("USE_MLOPS_TRAINING", "false")
    monkeypatch.setenv("MLOPS_BUCKET", "models-bucket")
    settings = OperatorSettings()
    assert settings.watch_namespaces == ["team-a", "team-b"]
    assert settings.use_training is False
    assert settings.use_registry is True
    assert settings.artifact_root == "s3://models-bucket/models"


def test_bad_settings_name_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLOPS_S3_SECRET", "Not_A_Name")
    with pytest.raises(ValueError, match="MLOPS_S3_SECRET"):
        OperatorSettings()


def test_kopf_settings_for_production() -> None:
    kopf_settings = kopf.OperatorSettings()
    configure_kopf(kopf_settings, OperatorSettings(MLOPS_WATCH_NAMESPACE="team-a"))
    assert kopf_settings.persistence.finalizer == FINALIZER == "mlops.dev/finalizer"
    assert isinstance(kopf_settings.persistence.progress_storage, kopf.AnnotationsProgressStorage)
    assert kopf_settings.peering.mandatory is True
    assert kopf_settings.peering.clusterwide is False
    assert kopf_settings.peering.name == "mlops-operator"
    assert kopf_settings.scanning.disabled is True
    assert kopf_settings.posting.enabled is True


def test_backoff_grows_and_is_bounded() -> None:
    delays = [backoff_seconds(n) for n in range(12)]
    assert delays[:3] == [2.0, 4.0, 8.0]
    assert max(delays) == 120.0
    assert delays == sorted(delays)


def test_rbac_has_no_wildcards_and_no_secrets() -> None:
    rules = operator_rules(CHART.parents[1])
    for rule in rules:
        for key in ("apiGroups", "resources", "verbs"):
            assert "*" not in rule[key], rule
        assert "secrets" not in rule["resources"]
        assert "delete" not in rule["verbs"]
        assert "escalate" not in rule["verbs"]
        assert "bind" not in rule["verbs"]


def test_chart_renders_the_rules_file_and_runs_one_replica() -> None:
    rbac = (CHART / "templates" / "rbac.yaml").read_text()
    assert '.Files.Get "files/rbac-rules.yaml"' in rbac
    deployment = (CHART / "templates" / "deployment.yaml").read_text()
    assert "replicas: 1" in deployment
    assert "type: Recreate" in deployment
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert values["features"] == {
        "registry": True,
        "training": True,
        "serving": False,
        "monitoring": False,
    }
