from typing import Any

import pytest

from mlops_core.training_spec import TrainerConfig
from mlops_operator.api.training_job import TrainingJob
from mlops_operator.builders.names import model_version_name, training_job_child_name
from mlops_operator.builders.training_job import (
    build_job,
    build_status_reporter,
    build_training_children,
    run_plan,
)
from mlops_operator.settings import OperatorSettings

pytestmark = pytest.mark.unit

UID = "3f0b8a2c-1111-2222-3333-444455556666"


def _tj(**spec: Any) -> TrainingJob:
    body: dict[str, Any] = {
        "apiVersion": "mlops.dev/v1alpha1",
        "kind": "TrainingJob",
        "metadata": {"name": "run-1", "namespace": "team-a", "uid": UID, "generation": 1},
        "spec": {
            "modelName": "threat-classifier",
            "dataset": {"train": "s3://mlops/datasets/t/train.csv"},
            "model": {"architecture": "mlp"},
            **spec,
        },
    }
    return TrainingJob.from_body(body)


SETTINGS = OperatorSettings(MLOPS_TRAINER_IMAGE="ghcr.io/mlops-dev/mlops-trainer:9.9.9")


def _job(tj: TrainingJob) -> dict[str, Any]:
    return build_job(tj, run_plan(tj, version="1.2.0", settings=SETTINGS), SETTINGS)


def _container(job: dict[str, Any]) -> dict[str, Any]:
    container: dict[str, Any] = job["spec"]["template"]["spec"]["containers"][0]
    return container


def _env(job: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in _container(job)["env"]}


def test_run_plan_places_artifact_by_namespace_model_and_version() -> None:
    plan = run_plan(_tj(), version="1.2.0", settings=SETTINGS)
    assert plan.artifact_uri == "s3://mlops/models/team-a/threat-classifier/1.2.0/"
    assert plan.checkpoint_uri == "s3://mlops/checkpoints/team-a/run-1-3f0b8a2c/"


def test_cpu_job_has_no_gpu_and_no_gpu_placement() -> None:
    job = _job(_tj(resources={"cpu": "2", "memory": "1Gi"}))
    pod = job["spec"]["template"]["spec"]
    assert _container(job)["resources"] == {
        "requests": {"cpu": "2", "memory": "1Gi"},
        "limits": {"cpu": "2", "memory": "1Gi"},
    }
    assert "nodeSelector" not in pod
    assert "tolerations" not in pod
    assert job["spec"]["completionMode"] == "NonIndexed"


def test_gpu_job_asks_for_gpu_node_product_and_tolerates_the_taint() -> None:
    tj = _tj(
        resources={"gpu": 2, "gpuProduct": "NVIDIA-H100-80GB-HBM3"},
        scheduling={
            "nodeSelector": {"zone": "a"},
            "tolerations": [{"key": "x", "operator": "Exists"}],
        },
    )
    pod = _job(tj)["spec"]["template"]["spec"]
    assert _container(_job(tj))["resources"]["limits"]["nvidia.com/gpu"] == "2"
    assert pod["nodeSelector"] == {
        "zone": "a",
        "nvidia.com/gpu.present": "true",
        "nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3",
    }
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod[
        "tolerations"
    ]
    assert {"key": "x", "operator": "Exists"} in pod["tolerations"]


def test_job_limits_and_policy() -> None:
    job = _job(_tj(retries=3, deadlineSeconds=600))
    assert job["spec"]["backoffLimit"] == 3
    assert job["spec"]["activeDeadlineSeconds"] == 600
    assert job["spec"]["ttlSecondsAfterFinished"] == SETTINGS.job_ttl_seconds
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"
    assert "activeDeadlineSeconds" not in _job(_tj())["spec"]


def test_job_meets_the_restricted_pod_security_standard() -> None:
    job = _job(_tj())
    pod = job["spec"]["template"]["spec"]
    container = _container(job)
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert container["securityContext"]["readOnlyRootFilesystem"] is True


def test_trainer_gets_config_identity_and_s3_secret() -> None:
    job = _job(_tj(storageSecretName="team-a-s3"))
    env = _env(job)
    config = TrainerConfig.model_validate_json(env["MLOPS_TRAINER_CONFIG"])
    assert config.output.version == "1.2.0"
    assert config.output.artifact_uri.endswith("/threat-classifier/1.2.0/")
    assert config.model.architecture == "mlp"
    assert env["MLOPS_TRAININGJOB_NAME"] == "run-1"
    assert env["MLOPS_TRAININGJOB_NAMESPACE"] == "team-a"
    assert env["POD_IP"] == {"fieldRef": {"fieldPath": "status.podIP"}}
    assert _container(job)["envFrom"] == [{"secretRef": {"name": "team-a-s3"}}]
    assert _container(job)["image"] == "ghcr.io/mlops-dev/mlops-trainer:9.9.9"
    default = _job(_tj())
    assert _container(default)["envFrom"] == [{"secretRef": {"name": "mlops-s3"}}]
    assert "MASTER_ADDR" not in _env(default)


def test_distributed_run_is_an_indexed_job_with_a_headless_service() -> None:
    tj = _tj(workers=3)
    plan = run_plan(tj, version="1.0.0", settings=SETTINGS)
    children = build_training_children(tj, plan, SETTINGS)
    kinds = [c["kind"] for c in children]
    assert kinds == ["Service", "Job"]
    service, job = children
    assert service["spec"]["clusterIP"] == "None"
    assert job["spec"]["completionMode"] == "Indexed"
    assert job["spec"]["completions"] == job["spec"]["parallelism"] == 3
    assert job["spec"]["template"]["spec"]["subdomain"] == service["metadata"]["name"]
    env = _env(job)
    assert env["WORLD_SIZE"] == "3"
    assert env["MASTER_ADDR"] == "run-1-0.run-1.team-a.svc"


def test_every_child_is_owned_by_the_training_job() -> None:
    tj = _tj(workers=2)
    for child in build_training_children(
        tj, run_plan(tj, version="1.0.0", settings=SETTINGS), SETTINGS
    ):
        (owner,) = child["metadata"]["ownerReferences"]
        assert owner == {
            "apiVersion": "mlops.dev/v1alpha1",
            "kind": "TrainingJob",
            "name": "run-1",
            "uid": UID,
            "controller": True,
            "blockOwnerDeletion": True,
        }
        assert child["metadata"]["namespace"] == "team-a"


def test_status_reporter_may_only_read_and_report_training_jobs() -> None:
    sa, role, binding = build_status_reporter("team-a")
    assert {(r["resources"][0], tuple(r["verbs"])) for r in role["rules"]} == {
        ("trainingjobs", ("get",)),
        ("trainingjobs/status", ("get", "patch")),
    }
    assert {g for r in role["rules"] for g in r["apiGroups"]} == {"mlops.dev"}
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": sa["metadata"]["name"], "namespace": "team-a"}
    ]
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    assert _job(_tj())["spec"]["template"]["spec"]["serviceAccountName"] == sa["metadata"]["name"]


def test_the_same_spec_builds_the_same_job() -> None:
    assert _job(_tj()) == _job(_tj())


def test_names_are_deterministic_and_fit() -> None:
    long = "a" * 120
    name = training_job_child_name(long, UID)
    assert len(name) <= 52
    assert name == training_job_child_name(long, UID)
    assert name != training_job_child_name(long, "other-uid")
    assert training_job_child_name("7up", UID) == "tj-7up"
    assert model_version_name("threat-classifier", "1.2.0-rc.1") == "threat-classifier-v1-2-0-rc-1"
