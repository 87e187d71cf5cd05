"""The router in front of a Deployment's versions: its apps/v1 Deployment, its Service (named
after the Deployment: the stable endpoint), the ConfigMap with its weights, and the Deployment's
own ServiceAccount, Role and RoleBinding that let its router pods watch EndpointSlices and that
one ConfigMap (by name: no other ConfigMap of the namespace).

The router pods read their weights from the ConfigMap through the API (a watch), not from a
mounted file: a kubelet refreshes mounted ConfigMaps only every minute or so, far too slowly
for a canary step.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final

from mlops_core.routing import (
    ROUTER_CONFIG_KEY,
    MirrorSpec,
    RouteBackend,
    RouterConfig,
    router_environment,
)
from mlops_operator.api.deployment import Deployment
from mlops_operator.builders.model_server import HTTP_PORT, deployment_owner
from mlops_operator.builders.names import (
    LABEL_COMPONENT,
    LABEL_DEPLOYMENT,
    LABEL_MANAGED_BY,
    LABEL_MODEL,
    MANAGED_BY,
    label_value,
    router_account_name,
    router_config_map_name,
    server_name,
)
from mlops_operator.builders.pods import (
    POD_IP_ENV,
    container_security_context,
    env_list,
    http_probes,
    pod_account,
    pod_ip_env,
    pod_security_context,
)
from mlops_operator.settings import OperatorSettings

Manifest = dict[str, Any]

ROUTER_COMPONENT: Final = "router"
ROUTER_CONTAINER: Final = "router"
SERVICE_PORT: Final = 80
CONFIG_DIR: Final = "/var/run/mlops-router"
CONFIG_POLL_SECONDS: Final = 0.2


def router_selector(dep: Deployment) -> dict[str, str]:
    return {
        LABEL_DEPLOYMENT: label_value(dep.metadata.name),
        LABEL_COMPONENT: ROUTER_COMPONENT,
    }


def router_pods_selector(dep: Deployment) -> str:
    return ",".join(f"{key}={value}" for key, value in router_selector(dep).items())


def _labels(dep: Deployment) -> dict[str, str]:
    return {
        LABEL_MANAGED_BY: MANAGED_BY,
        LABEL_MODEL: label_value(dep.spec.model),
        **router_selector(dep),
    }


def _metadata(dep: Deployment, name: str) -> dict[str, Any]:
    return {
        "name": name,
        "namespace": dep.metadata.namespace,
        "labels": _labels(dep),
        "ownerReferences": [deployment_owner(dep)],
    }


def router_config(
    dep: Deployment, weights: Mapping[str, int], *, mirror: MirrorSpec | None = None
) -> RouterConfig:
    """The weights as the router reads them: each version's Service by name. A mirrored
    version that takes no share of traffic is listed with weight 0."""
    backends = {
        version: RouteBackend(
            version=version, weight=weight, service=server_name(dep.metadata.name, version)
        )
        for version, weight in weights.items()
    }
    if mirror is not None and mirror.version not in backends:
        backends[mirror.version] = RouteBackend(
            version=mirror.version,
            weight=0,
            service=server_name(dep.metadata.name, mirror.version),
        )
    ab_test = dep.spec.strategy.ab_test
    return RouterConfig(
        model=dep.spec.model,
        backends=list(backends.values()),
        mirror=mirror,
        sticky_header=ab_test.sticky_header if ab_test is not None else None,
    )


def build_router_config_map(dep: Deployment, config: RouterConfig) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _metadata(dep, router_config_map_name(dep.metadata.name)),
        "data": {ROUTER_CONFIG_KEY: json.dumps(config.to_wire(), sort_keys=True)},
    }


def build_router_deployment(dep: Deployment, settings: OperatorSettings) -> Manifest:
    namespace = dep.metadata.namespace or "default"
    variables = router_environment(
        namespace=namespace,
        config_map=router_config_map_name(dep.metadata.name),
        config_file=f"{CONFIG_DIR}/{ROUTER_CONFIG_KEY}",
        poll_seconds=CONFIG_POLL_SECONDS,
        backend_port=HTTP_PORT,
    )
    env = [pod_ip_env(), *env_list(variables)]
    container = {
        "name": ROUTER_CONTAINER,
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
        "volumeMounts": [{"name": "config", "mountPath": CONFIG_DIR}],
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _metadata(dep, dep.metadata.name),
        "spec": {
            "replicas": settings.router_replicas,
            "selector": {"matchLabels": router_selector(dep)},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
            },
            "template": {
                "metadata": {"labels": _labels(dep)},
                "spec": {
                    "serviceAccountName": router_account_name(dep.metadata.name),
                    "automountServiceAccountToken": True,
                    "terminationGracePeriodSeconds": 30,
                    "securityContext": pod_security_context(),
                    "containers": [container],
                    "volumes": [{"name": "config", "emptyDir": {}}],
                },
            },
        },
    }


def build_router_service(dep: Deployment) -> Manifest:
    """``http://<deployment>.<namespace>.svc``: the stable endpoint for predictions."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _metadata(dep, dep.metadata.name),
        "spec": {
            "selector": router_selector(dep),
            "ports": [
                {"name": "http", "port": SERVICE_PORT, "targetPort": "http", "protocol": "TCP"}
            ],
        },
    }


def endpoint_url(dep: Deployment) -> str:
    return f"http://{dep.metadata.name}.{dep.metadata.namespace}.svc"


def build_router_account(dep: Deployment) -> list[Manifest]:
    """ServiceAccount + Role + RoleBinding of the Deployment's router pods, owned by it: they may
    read EndpointSlices (to find ready server pods; their names are generated) and their own
    ConfigMap by name (``resourceNames``; a list or watch must select it by
    ``metadata.name``), nothing else."""
    name = router_account_name(dep.metadata.name)
    metadata = _metadata(dep, name)
    read = ["get", "list", "watch"]
    rules = [
        {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": read},
        {
            "apiGroups": [""],
            "resources": ["configmaps"],
            "resourceNames": [router_config_map_name(dep.metadata.name)],
            "verbs": read,
        },
    ]
    return pod_account(metadata, rules)
