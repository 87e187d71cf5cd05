"""A served version's children: an apps/v1 Deployment of model server pods and its Service.

Pure functions of the typed Deployment, the version to serve (from its ModelVersion) and the
operator's settings. The pods preload and warm the one version, pin it as the model's default
(the variables of ``mlops_core.serving_spec``), read the artifact with the credentials of the
storage Secret and run under the restricted Pod Security profile, with the resources and GPU
placement a TrainingJob's pods get.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from mlops_core.serving_spec import (
    ENV_MODEL_DIGESTS,
    ENV_MODEL_REPOSITORY,
    ENV_MODEL_VERSIONS,
    ENV_PRELOAD_MODELS,
    model_digests_value,
    server_environment,
)
from mlops_operator.api.deployment import Deployment
from mlops_operator.api.meta import API_VERSION
from mlops_operator.builders.names import (
    LABEL_COMPONENT,
    LABEL_DEPLOYMENT,
    LABEL_MANAGED_BY,
    LABEL_MODEL,
    LABEL_VERSION,
    MANAGED_BY,
    label_value,
    server_name,
)
from mlops_operator.builders.pods import (
    POD_IP_ENV,
    SCRATCH_DIR,
    SCRATCH_VOLUME,
    container_resources,
    container_security_context,
    env_list,
    http_probes,
    placement,
    pod_ip_env,
    pod_security_context,
    scratch_env,
)
from mlops_operator.settings import OperatorSettings

Manifest = dict[str, Any]

SERVER_CONTAINER: Final = "server"
HTTP_PORT: Final = 8080
SERVING_COMPONENT: Final = "serving"
READY_PATH: Final = "/v2/health/ready"
LIVE_PATH: Final = "/healthz"
#: the pod's own annotation of the artifact digest it serves (the server verifies every file's
#: sha256 against the artifact's manifest before it loads)
DIGEST_ANNOTATION: Final = "mlops.dev/artifact-digest"


class ArtifactLayoutError(ValueError):
    """An artifact URI the model server cannot address as ``<root>/<model>/<version>/``."""


@dataclass(frozen=True)
class ServedVersion:
    """One version to run, as its ModelVersion describes it."""

    version: str
    artifact_uri: str
    digest: str
    #: bytes of the artifact's files (None until its ModelVersion records them)
    size_bytes: int | None = None


def repository_root(artifact_uri: str, *, model: str, version: str) -> str:
    """``s3://b/models/ns/fraud/1.2.0/`` → ``s3://b/models/ns``: the server finds a version at
    ``<root>/<model>/<version>/``."""
    suffix = f"/{model}/{version}"
    trimmed = artifact_uri.rstrip("/")
    if not trimmed.endswith(suffix) or len(trimmed) == len(suffix):
        raise ArtifactLayoutError(
            f"artifact {artifact_uri} is not laid out as <root>/{model}/{version}/, where the "
            "model server looks for it: register the version with such an artifact.uri"
        )
    return trimmed[: -len(suffix)]


def deployment_owner(dep: Deployment) -> dict[str, Any]:
    if not dep.metadata.uid:
        raise ValueError(f"Deployment {dep.metadata.name} has no uid: read it from the API first")
    return {
        "apiVersion": API_VERSION,
        "kind": "Deployment",
        "name": dep.metadata.name,
        "uid": dep.metadata.uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def server_selector(dep: Deployment, version: str) -> dict[str, str]:
    return {
        LABEL_DEPLOYMENT: label_value(dep.metadata.name),
        LABEL_COMPONENT: SERVING_COMPONENT,
        LABEL_VERSION: label_value(version),
    }


def server_labels(dep: Deployment, version: str) -> dict[str, str]:
    return {
        LABEL_MANAGED_BY: MANAGED_BY,
        LABEL_MODEL: label_value(dep.spec.model),
        **server_selector(dep, version),
    }


def all_servers_selector(dep: Deployment) -> str:
    """Label selector of every server pod of the Deployment (status.labelSelector)."""
    return (
        f"{LABEL_DEPLOYMENT}={label_value(dep.metadata.name)},{LABEL_COMPONENT}={SERVING_COMPONENT}"
    )


def _env(dep: Deployment, served: ServedVersion) -> list[dict[str, Any]]:
    model, version = dep.spec.model, served.version
    root = repository_root(served.artifact_uri, model=model, version=version)
    variables = {
        ENV_MODEL_REPOSITORY: root,
        ENV_PRELOAD_MODELS: f"{model}:{version}",
        ENV_MODEL_VERSIONS: f"{model}:{version}",
        ENV_MODEL_DIGESTS: model_digests_value({(model, version): served.digest}),
    }
    return [
        pod_ip_env(),
        *env_list(variables),
        *scratch_env(),
        *env_list(
            server_environment(
                dep.spec.serving, dep.spec.monitoring, gpu=dep.spec.resources.gpu > 0
            )
        ),
    ]


def server_image(dep: Deployment, settings: OperatorSettings) -> str:
    """The serving image without torch, unless the Deployment asks for the torch runtime."""
    if dep.spec.serving.runtime == "torch":
        return settings.serving_torch_image
    return settings.serving_image


def build_server_deployment(
    dep: Deployment, served: ServedVersion, *, replicas: int, settings: OperatorSettings
) -> Manifest:
    name = server_name(dep.metadata.name, served.version)
    labels = server_labels(dep, served.version)
    storage_secret = dep.spec.storage_secret_name or settings.s3_secret
    container: dict[str, Any] = {
        "name": SERVER_CONTAINER,
        "image": server_image(dep, settings),
        "imagePullPolicy": settings.image_pull_policy,
        "args": ["serve", "--host", f"$({POD_IP_ENV})", "--port", str(HTTP_PORT)],
        "ports": [{"name": "http", "containerPort": HTTP_PORT, "protocol": "TCP"}],
        "env": _env(dep, served),
        "envFrom": [{"secretRef": {"name": storage_secret}}],
        "resources": container_resources(dep.spec.resources, settings),
        **http_probes(live=LIVE_PATH, ready=READY_PATH),
        "securityContext": container_security_context(),
        "volumeMounts": [{"name": SCRATCH_VOLUME, "mountPath": SCRATCH_DIR}],
    }
    pod_spec: dict[str, Any] = {
        "automountServiceAccountToken": False,
        "terminationGracePeriodSeconds": 30,
        "securityContext": pod_security_context(),
        "containers": [container],
        "volumes": [{"name": SCRATCH_VOLUME, "emptyDir": {}}],
        **placement(dep.spec.resources, dep.spec.scheduling, settings),
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": name,
            "namespace": dep.metadata.namespace,
            "labels": labels,
            "annotations": {DIGEST_ANNOTATION: served.digest},
            "ownerReferences": [deployment_owner(dep)],
        },
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": server_selector(dep, served.version)},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
            },
            "template": {
                "metadata": {
                    "labels": labels,
                    "annotations": {DIGEST_ANNOTATION: served.digest},
                },
                "spec": pod_spec,
            },
        },
    }


def build_server_service(dep: Deployment, version: str) -> Manifest:
    """The version's Service: the router finds its ready pods through its EndpointSlices."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": server_name(dep.metadata.name, version),
            "namespace": dep.metadata.namespace,
            "labels": server_labels(dep, version),
            "ownerReferences": [deployment_owner(dep)],
        },
        "spec": {
            "selector": server_selector(dep, version),
            "ports": [{"name": "http", "port": HTTP_PORT, "targetPort": "http", "protocol": "TCP"}],
        },
    }
