"""Model server and router manifests: pure functions of the Deployment and its versions."""

from __future__ import annotations

import json
from typing import Any

import pytest

from mlops_core.routing import ROUTER_CONFIG_KEY, MirrorSpec, parse_router_config
from mlops_operator.api.deployment import Deployment
from mlops_operator.builders.model_server import (
    ArtifactLayoutError,
    ServedVersion,
    build_server_deployment,
    build_server_service,
    repository_root,
)
from mlops_operator.builders.names import server_name
from mlops_operator.builders.router import (
    build_router_account,
    build_router_config_map,
    build_router_deployment,
    build_router_service,
    endpoint_url,
    router_config,
)
from mlops_operator.settings import OperatorSettings

pytestmark = pytest.mark.unit

SETTINGS = OperatorSettings()
ARTIFACT = "s3://mlops/models/team-a/fraud/1.2.0/"
DIGEST = "sha256:" + "a" * 64


def deployment(**spec: Any) -> Deployment:
    return Deployment.model_validate(
        {
            "apiVersion": "mlops.dev/v1alpha1",
            "kind": "Deployment",
            "metadata": {"name": "fraud", "namespace": "team-a", "uid": "u-1", "generation": 1},
            "spec": {"model": "fraud", "version": "1.2.0", **spec},
        }
    )


def served() -> ServedVersion:
    return ServedVersion(version="1.2.0", artifact_uri=ARTIFACT, digest=DIGEST)


def env_of(manifest: dict[str, Any]) -> dict[str, str]:
    container = manifest["spec"]["template"]["spec"]["containers"][0]
    return {e["name"]: e.get("value", "") for e in container["env"]}


def test_server_pods_preload_the_version_from_its_artifact_root() -> None:
    manifest = build_server_deployment(deployment(), served(), replicas=3, settings=SETTINGS)
    assert manifest["metadata"]["name"] == "fraud-v1-2-0"
    assert manifest["spec"]["replicas"] == 3
    env = env_of(manifest)
    assert env["MODEL_REPOSITORY_URI"] == "s3://mlops/models/team-a"
    assert env["PRELOAD_MODELS"] == env["MODEL_VERSIONS"] == "fraud:1.2.0"
    assert env["BATCHING_ENABLED"] == "true"
    assert manifest["metadata"]["annotations"]["mlops.dev/artifact-digest"] == DIGEST
    assert env["MODEL_DIGESTS"] == f"fraud:1.2.0={DIGEST}"
    pod = manifest["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["args"][0] == "serve"
    assert container["image"] == SETTINGS.serving_image
    assert container["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"
    assert container["envFrom"] == [{"secretRef": {"name": "mlops-s3"}}]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert pod["automountServiceAccountToken"] is False
    owner = manifest["metadata"]["ownerReferences"][0]
    assert (owner["kind"], owner["uid"], owner["controller"]) == ("Deployment", "u-1", True)


def test_gpu_servers_are_placed_like_gpu_trainers() -> None:
    dep = deployment(resources={"cpu": "2", "memory": "4Gi", "gpu": 1, "gpuProduct": "H100"})
    pod = build_server_deployment(dep, served(), replicas=1, settings=SETTINGS)["spec"]["template"][
        "spec"
    ]
    assert pod["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert pod["nodeSelector"] == {
        "nvidia.com/gpu.present": "true",
        "nvidia.com/gpu.product": "H100",
    }
    assert pod["tolerations"][-1]["key"] == "nvidia.com/gpu"


def test_servers_run_onnx_without_torch_unless_the_spec_asks_for_torch() -> None:
    default = build_server_deployment(deployment(), served(), replicas=1, settings=SETTINGS)
    assert env_of(default)["SERVING_RUNTIME"] == "onnx"
    assert env_of(default)["SERVING_GPU"] == "false"
    assert default["spec"]["template"]["spec"]["containers"][0]["image"] == SETTINGS.serving_image
    torch = build_server_deployment(
        deployment(serving={"runtime": "torch"}), served(), replicas=1, settings=SETTINGS
    )
    assert env_of(torch)["SERVING_RUNTIME"] == "torch"
    container = torch["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == SETTINGS.serving_torch_image != SETTINGS.serving_image
    gpu = build_server_deployment(
        deployment(resources={"cpu": "2", "memory": "4Gi", "gpu": 1}),
        served(),
        replicas=1,
        settings=SETTINGS,
    )
    assert env_of(gpu)["SERVING_GPU"] == "true"  # ONNX Runtime's CUDA provider


def test_the_storage_secret_of_the_spec_wins() -> None:
    manifest = build_server_deployment(
        deployment(storageSecretName="team-s3"), served(), replicas=1, settings=SETTINGS
    )
    assert manifest["spec"]["template"]["spec"]["containers"][0]["envFrom"] == [
        {"secretRef": {"name": "team-s3"}}
    ]


def test_an_artifact_outside_the_layout_is_an_error_that_says_so() -> None:
    assert repository_root("/data/fraud/1.0.0", model="fraud", version="1.0.0") == "/data"
    with pytest.raises(ArtifactLayoutError, match=r"<root>/fraud/1\.2\.0/"):
        repository_root("s3://b/elsewhere/", model="fraud", version="1.2.0")


def test_server_service_selects_exactly_its_version() -> None:
    service = build_server_service(deployment(), "1.2.0")
    assert service["metadata"]["name"] == server_name("fraud", "1.2.0")
    assert service["spec"]["selector"]["mlops.dev/version"] == "1.2.0"
    assert service["spec"]["ports"][0]["name"] == "http"


def test_long_names_stay_valid_service_names() -> None:
    name = server_name("a" * 60, "1.2.0-rc.1")
    assert len(name) <= 63
    assert name != server_name("a" * 60, "1.2.0-rc.2")


def test_router_config_names_each_versions_service_and_lists_the_mirror() -> None:
    config = router_config(
        deployment(), {"1.2.0": 90, "1.3.0": 10}, mirror=MirrorSpec(version="0.9.0", percent=5)
    )
    assert [(b.version, b.weight, b.service) for b in config.backends] == [
        ("1.2.0", 90, "fraud-v1-2-0"),
        ("1.3.0", 10, "fraud-v1-3-0"),
        ("0.9.0", 0, "fraud-v0-9-0"),
    ]
    config_map = build_router_config_map(deployment(), config)
    assert parse_router_config(config_map["data"][ROUTER_CONFIG_KEY]) == config
    assert json.loads(config_map["data"][ROUTER_CONFIG_KEY])["model"] == "fraud"


def test_router_is_the_stable_endpoint_named_after_the_deployment() -> None:
    dep = deployment()
    service = build_router_service(dep)
    assert service["metadata"]["name"] == "fraud"
    assert service["spec"]["ports"][0]["port"] == 80
    assert endpoint_url(dep) == "http://fraud.team-a.svc"
    router = build_router_deployment(dep, SETTINGS)
    pod = router["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "fraud-router"
    env = env_of(router)
    assert env["ROUTER_CONFIG_MAP"] == "fraud-router"
    assert env["ROUTER_NAMESPACE"] == "team-a"
    assert pod["containers"][0]["securityContext"]["readOnlyRootFilesystem"] is True


def test_router_account_may_only_read_endpointslices_and_its_own_config_map() -> None:
    dep = deployment()
    account, role, binding = build_router_account(dep)
    assert [m["kind"] for m in (account, role, binding)] == [
        "ServiceAccount",
        "Role",
        "RoleBinding",
    ]
    assert {m["metadata"]["name"] for m in (account, role, binding)} == {"fraud-router"}
    for manifest in (account, role, binding):
        owner = manifest["metadata"]["ownerReferences"][0]
        assert (owner["kind"], owner["uid"]) == ("Deployment", "u-1")
    slices, config_maps = role["rules"]
    assert slices == {
        "apiGroups": ["discovery.k8s.io"],
        "resources": ["endpointslices"],
        "verbs": ["get", "list", "watch"],
    }
    assert config_maps == {
        "apiGroups": [""],
        "resources": ["configmaps"],
        "resourceNames": [
            build_router_config_map(dep, router_config(dep, {"1.2.0": 100}))["metadata"]["name"]
        ],
        "verbs": ["get", "list", "watch"],
    }
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "fraud-router", "namespace": "team-a"}
    ]
    router = build_router_deployment(dep, SETTINGS)
    assert router["spec"]["template"]["spec"]["serviceAccountName"] == "fraud-router"


def test_servers_and_routers_get_time_to_start_before_liveness_counts() -> None:
    server = build_server_deployment(deployment(), served(), replicas=1, settings=SETTINGS)
    router = build_router_deployment(deployment(), SETTINGS)
    for manifest in (server, router):
        container = manifest["spec"]["template"]["spec"]["containers"][0]
        startup = container["startupProbe"]
        assert startup["httpGet"] == container["livenessProbe"]["httpGet"]
        assert startup["periodSeconds"] * startup["failureThreshold"] >= 300
