from pathlib import Path
from typing import Any

import kopf
import kubernetes.client as k8s
import pytest
import yaml

from mlops_devcluster.local_operator import operator_rules
from mlops_operator.context import OperatorContext
from mlops_operator.handlers import build_registry
from mlops_operator.kopf_config import (
    FINALIZER,
    WATCH_ONLY_KINDS,
    LeanDiffBaseStorage,
    backoff_seconds,
    configure_kopf,
)
from mlops_operator.kube import Kube
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


def test_rbac_has_no_wildcards_and_secrets_only_by_name() -> None:
    rules = operator_rules(CHART.parents[1])
    for rule in rules:
        for key in ("apiGroups", "resources", "verbs"):
            assert "*" not in rule[key], rule
        if "secrets" in rule["resources"]:  # alert channels' credentials, read when sending
            assert rule["resources"] == ["secrets"]
            assert rule["verbs"] == ["get"]
        if "delete" in rule["verbs"]:
            # only the serving children: versions no longer served are removed once drained
            assert set(rule["resources"]) <= {"deployments", "services", "configmaps"}, rule
            assert set(rule["apiGroups"]) <= {"", "apps"}, rule
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


def _bodies_with_history() -> list[dict[str, Any]]:
    """A ModelVersion (with kopf's own annotations and a user's) and a Job, as watched."""
    version: dict[str, Any] = {
        "apiVersion": "mlops.dev/v1alpha1",
        "kind": "ModelVersion",
        "metadata": {
            "name": "m-v1-0-0",
            "namespace": "team-a",
            "uid": "0b7c",
            "resourceVersion": "42",
            "generation": 3,
            "labels": {"app": "m"},
            "annotations": {
                "team": "search",
                "mlops.dev/last-handled-configuration": '{"spec": {"stage": "draft"}}',
                "mlops.dev/reconcile": '{"started": "2026-01-01T00:00:00"}',
                "kubectl.kubernetes.io/last-applied-configuration": "{}",
            },
            "managedFields": [{"manager": "kubectl", "fieldsV1": {"f:spec": {}}}],
            "finalizers": ["mlops.dev/finalizer"],
        },
        "spec": {"model": "m", "version": "1.0.0", "stage": "production"},
        "status": {"stageHistory": [{"stage": "draft"}], "artifactVerified": True},
    }
    job: dict[str, Any] = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "run", "namespace": "team-a", "ownerReferences": [{"uid": "1"}]},
        "spec": {"template": {"spec": {"containers": [{"name": "trainer", "env": []}]}}},
        "status": {"active": 1},
    }
    return [version, job]


def test_the_lean_diff_base_is_kopfs_own() -> None:
    index = 0
    raw = _bodies_with_history()[index]
    ours = LeanDiffBaseStorage(prefix="mlops.dev", key="last-handled-configuration")
    kopfs = kopf.AnnotationsDiffBaseStorage(prefix="mlops.dev", key="last-handled-configuration")
    body = kopf.Body(raw)  # type: ignore[arg-type]
    assert ours.build(body=body) == kopfs.build(body=body)
    assert ours.build(body=body, extra_fields=["status.artifactVerified"]) == kopfs.build(
        body=body, extra_fields=["status.artifactVerified"]
    )
    assert "status" not in ours.build(body=body)
    assert raw == _bodies_with_history()[index], "building the essence changed the body"


def test_only_the_trainer_pods_are_watched() -> None:
    kopf_settings = kopf.OperatorSettings()
    configure_kopf(kopf_settings, OperatorSettings())
    pods = kopf.Resource("", "v1", "pods", "Pod")
    selectors = kopf_settings.watching.label_selectors
    assert selectors.collect(pods) == [
        "app.kubernetes.io/managed-by=mlops-operator,app.kubernetes.io/component=training"
    ]
    jobs = kopf.Resource("batch", "v1", "jobs", "Job")
    assert selectors.collect(jobs) == []


def test_kopf_uses_the_lean_diff_base() -> None:
    kopf_settings = kopf.OperatorSettings()
    configure_kopf(kopf_settings, OperatorSettings())
    assert isinstance(kopf_settings.persistence.diffbase_storage, LeanDiffBaseStorage)


def test_watch_only_kinds_have_no_handler_that_reads_kopfs_diff() -> None:
    """An empty essence is only safe while nothing but watch-event handlers and indexes
    serve these kinds."""
    settings = OperatorSettings(USE_MLOPS_SERVING="true", USE_MLOPS_MONITORING="true")
    registry = build_registry(OperatorContext(settings=settings, kube=Kube(k8s.ApiClient())))
    plurals = {"Job": "jobs", "Pod": "pods", "TrainingJob": "trainingjobs"}
    resources = [
        kopf.Resource(
            api_version.rpartition("/")[0], api_version.rpartition("/")[2], plurals[kind], kind
        )
        for api_version, kind in sorted(WATCH_ONLY_KINDS)
    ]
    assert {(r.group, r.plural) for r in resources} == {
        ("batch", "jobs"),
        ("", "pods"),
        ("mlops.dev", "trainingjobs"),
    }
    model_versions = kopf.Resource("mlops.dev", "v1alpha1", "modelversions", "ModelVersion")
    assert registry._changing.has_handlers(resource=model_versions), "the check can fail"
    for resource in resources:
        assert registry._watching.has_handlers(resource=resource), resource
        assert not registry._changing.has_handlers(resource=resource), resource
        assert not registry._spawning.has_handlers(resource=resource), resource


def test_watch_only_kinds_get_an_empty_essence() -> None:
    storage = LeanDiffBaseStorage(prefix="mlops.dev", key="last-handled-configuration")
    job = kopf.Body(_bodies_with_history()[1])  # type: ignore[arg-type]
    assert storage.build(body=job) == {}
    version = kopf.Body(_bodies_with_history()[0])  # type: ignore[arg-type]
    assert storage.build(body=version)["spec"] == {
        "model": "m",
        "version": "1.0.0",
        "stage": "production",
    }
