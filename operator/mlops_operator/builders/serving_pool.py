"""A ServingPool's children: its model servers and routers, their Services, the pool's router
config and the routers' account; and the Service a pooled Deployment is reached by.

Pure functions of the typed ServingPool and the operator's settings. The servers run with
``POOL_CONFIG_FILE`` (the pool's ConfigMap, mounted: a server only preloads from it, so the
kubelet's refresh is soon enough, and it needs no API access, hence no token) and
``POOL_SERVER_NAME`` (its pod name, which placement uses). The routers follow the same ConfigMap
through the API (``ROUTER_CONFIG_MAP``, within a second) and find the server pods by name in the
EndpointSlices of the pool's server Service. A pooled Deployment's own Service selects the
pool's routers, so ``http://<deployment>.<namespace>.svc`` reaches them with that Host.
"""

from __future__ import annotations

import json
from typing import Any, Final

from mlops_core.routing import (
    ENV_ROUTER_POOL,
    ROUTER_CONFIG_KEY,
    PoolRouterConfig,
    router_environment,
)
from mlops_core.serving_spec import (
    ENV_MODEL_MEMORY_BUDGET,
    ENV_MODEL_OVERHEAD,
    ENV_MODEL_REPOSITORY,
    ENV_MODELS_IN_MEMORY,
    ENV_POOL_CONFIG_FILE,
    ENV_POOL_SERVER_NAME,
)
from mlops_operator.api.meta import API_VERSION
from mlops_operator.api.serving_pool import ServingPool
from mlops_operator.builders.model_server import HTTP_PORT, LIVE_PATH, READY_PATH
from mlops_operator.builders.names import (
    LABEL_COMPONENT,
    LABEL_MANAGED_BY,
    MANAGED_BY,
    label_value,
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
    pod_account,
    pod_ip_env,
    pod_security_context,
    scratch_env,
)
from mlops_operator.builders.router import CONFIG_POLL_SECONDS, SERVICE_PORT
from mlops_operator.settings import OperatorSettings

Manifest = dict[str, Any]

LABEL_POOL: Final = "mlops.dev/servingpool"
POOL_SERVER_COMPONENT: Final = "pool-server"
POOL_ROUTER_COMPONENT: Final = "pool-router"
POOL_CONFIG_DIR: Final = "/etc/mlops/pool"
ROUTER_CONFIG_DIR: Final = "/var/run/mlops-router"


def pool_server_name(pool: str) -> str:
    """The servers' Deployment and Service (``<pool>-server``)."""
    return f"{pool}-server"


def pool_router_name(pool: str) -> str:
    """The routers' Deployment, the pool's ConfigMap, the routers' account: ``<pool>-router``."""
    return f"{pool}-router"


def pool_selector(pool: str, component: str) -> dict[str, str]:
    return {LABEL_POOL: label_value(pool), LABEL_COMPONENT: component}


def pool_servers_selector(pool: str) -> str:
    """Label selector of the pool's server pods (status.labelSelector, for scale)."""
    return ",".join(f"{k}={v}" for k, v in pool_selector(pool, POOL_SERVER_COMPONENT).items())


def pool_owner(pool: ServingPool) -> dict[str, Any]:
    if not pool.metadata.uid:
        raise ValueError(f"ServingPool {pool.metadata.name} has no uid: read it from the API")
    return {
        "apiVersion": API_VERSION,
        "kind": "ServingPool",
        "name": pool.metadata.name,
        "uid": pool.metadata.uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def _metadata(pool: ServingPool, name: str, component: str) -> dict[str, Any]:
    return {
        "name": name,
        "namespace": pool.metadata.namespace,
        "labels": {LABEL_MANAGED_BY: MANAGED_BY, **pool_selector(pool.metadata.name, component)},
        "ownerReferences": [pool_owner(pool)],
    }


def repository_root(pool: ServingPool, settings: OperatorSettings) -> str:
    """Where the pool's servers find ``<model>/<version>/``: the namespace's artifacts."""
    return f"{settings.artifact_root}/{pool.metadata.namespace}"


def build_pool_server_deployment(pool: ServingPool, settings: OperatorSettings) -> Manifest:
    name = pool.metadata.name
    spec = pool.spec
    metadata = _metadata(pool, pool_server_name(name), POOL_SERVER_COMPONENT)
    env = [
        pod_ip_env(),
        {"name": ENV_POOL_SERVER_NAME, "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        *env_list(
            {
                ENV_MODEL_REPOSITORY: repository_root(pool, settings),
                ENV_MODEL_MEMORY_BUDGET: str(spec.model_memory_bytes),
                ENV_MODEL_OVERHEAD: str(spec.model_overhead_bytes),
                ENV_MODELS_IN_MEMORY: str(spec.max_models_per_server),
                ENV_POOL_CONFIG_FILE: f"{POOL_CONFIG_DIR}/{ROUTER_CONFIG_KEY}",
            }
        ),
        *scratch_env(),
    ]
    container: dict[str, Any] = {
        "name": "server",
        "image": settings.serving_image,
        "imagePullPolicy": settings.image_pull_policy,
        "args": ["serve", "--host", f"$({POD_IP_ENV})", "--port", str(HTTP_PORT)],
        "ports": [{"name": "http", "containerPort": HTTP_PORT, "protocol": "TCP"}],
        "env": env,
        "envFrom": [{"secretRef": {"name": spec.storage_secret_name or settings.s3_secret}}],
        "resources": container_resources(spec.resources, settings),
        **http_probes(live=LIVE_PATH, ready=READY_PATH),
        "securityContext": container_security_context(),
        "volumeMounts": [
            {"name": SCRATCH_VOLUME, "mountPath": SCRATCH_DIR},
            {"name": "pool-config", "mountPath": POOL_CONFIG_DIR, "readOnly": True},
        ],
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata,
        "spec": {
            "replicas": spec.replicas,
            "selector": {"matchLabels": pool_selector(name, POOL_SERVER_COMPONENT)},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
            },
            "template": {
                "metadata": {"labels": metadata["labels"]},
                "spec": {
                    "automountServiceAccountToken": False,
                    "terminationGracePeriodSeconds": 30,
                    "securityContext": pod_security_context(),
                    "containers": [container],
                    "volumes": [
                        {"name": SCRATCH_VOLUME, "emptyDir": {}},
                        {"name": "pool-config", "configMap": {"name": pool_router_name(name)}},
                    ],
                    **placement(spec.resources, spec.scheduling, settings),
                },
            },
        },
    }


def build_pool_router_deployment(pool: ServingPool, settings: OperatorSettings) -> Manifest:
    name = pool.metadata.name
    metadata = _metadata(pool, pool_router_name(name), POOL_ROUTER_COMPONENT)
    variables = router_environment(
        namespace=str(pool.metadata.namespace),
        config_map=pool_router_name(name),
        config_file=f"{ROUTER_CONFIG_DIR}/{ROUTER_CONFIG_KEY}",
        poll_seconds=CONFIG_POLL_SECONDS,
        backend_port=HTTP_PORT,
    )
    env = [pod_ip_env(), *env_list({ENV_ROUTER_POOL: "true", **variables})]
    container = {
        "name": "router",
        "image": settings.serving_image,
        "imagePullPolicy": settings.image_pull_policy,
        "args": ["route", "--host", f"$({POD_IP_ENV})", "--port", str(HTTP_PORT)],
        "ports": [{"name": "http", "containerPort": HTTP_PORT, "protocol": "TCP"}],
        "env": env,
        "resources": {
            "requests": {"cpu": "100m", "memory": "128Mi"},
            "limits": {"cpu": "1", "memory": "512Mi"},
        },
        **http_probes(live="/healthz", ready="/readyz"),
        "securityContext": container_security_context(),
        "volumeMounts": [{"name": "config", "mountPath": ROUTER_CONFIG_DIR}],
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata,
        "spec": {
            "replicas": pool.spec.router_replicas,
            "selector": {"matchLabels": pool_selector(name, POOL_ROUTER_COMPONENT)},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
            },
            "template": {
                "metadata": {"labels": metadata["labels"]},
                "spec": {
                    "serviceAccountName": pool_router_name(name),
                    "automountServiceAccountToken": True,
                    "terminationGracePeriodSeconds": 30,
                    "securityContext": pod_security_context(),
                    "containers": [container],
                    "volumes": [{"name": "config", "emptyDir": {}}],
                },
            },
        },
    }


def build_pool_server_service(pool: ServingPool) -> Manifest:
    """The servers' Service: its EndpointSlices give the routers each server pod by name."""
    name = pool.metadata.name
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _metadata(pool, pool_server_name(name), POOL_SERVER_COMPONENT),
        "spec": {
            "selector": pool_selector(name, POOL_SERVER_COMPONENT),
            "ports": [{"name": "http", "port": HTTP_PORT, "targetPort": "http", "protocol": "TCP"}],
        },
    }


def build_pool_config_map(pool: ServingPool, config: PoolRouterConfig) -> Manifest:
    """The pool's router config, read by its routers (through the API) and servers (mounted)."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _metadata(pool, pool_router_name(pool.metadata.name), POOL_ROUTER_COMPONENT),
        "data": {ROUTER_CONFIG_KEY: json.dumps(config.to_wire(), sort_keys=True)},
    }


def build_pool_router_account(pool: ServingPool) -> list[Manifest]:
    """The routers may read EndpointSlices and the pool's ConfigMap by name, nothing else."""
    name = pool_router_name(pool.metadata.name)
    read = ["get", "list", "watch"]
    rules = [
        {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": read},
        {"apiGroups": [""], "resources": ["configmaps"], "resourceNames": [name], "verbs": read},
    ]
    return pod_account(_metadata(pool, name, POOL_ROUTER_COMPONENT), rules)


def build_pooled_service(
    *, deployment: str, namespace: str, owner: dict[str, Any], pool: str
) -> Manifest:
    """``http://<deployment>.<namespace>.svc``: a pooled Deployment's stable endpoint, selecting
    the pool's routers (which find the Deployment by this name in the request's Host)."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": deployment,
            "namespace": namespace,
            "labels": {LABEL_MANAGED_BY: MANAGED_BY, LABEL_POOL: label_value(pool)},
            "ownerReferences": [owner],
        },
        "spec": {
            "selector": pool_selector(pool, POOL_ROUTER_COMPONENT),
            "ports": [
                {"name": "http", "port": SERVICE_PORT, "targetPort": "http", "protocol": "TCP"}
            ],
        },
    }
