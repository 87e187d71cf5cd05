"""What every pod the operator builds shares: the restricted Pod Security settings, the
resources and the GPU placement (trainer Jobs and model server Deployments alike)."""

from __future__ import annotations

from typing import Any, Final

from mlops_operator.api.resources import ComputeResources, Scheduling
from mlops_operator.settings import OperatorSettings

RUN_AS_USER: Final = 10001
#: the one writable folder of the read-only root filesystem (HOME and TMPDIR point there)
SCRATCH_DIR: Final = "/var/tmp"
SCRATCH_VOLUME: Final = "scratch"


def pod_security_context() -> dict[str, Any]:
    """Non-root, RuntimeDefault seccomp: the ``restricted`` Pod Security profile."""
    return {
        "runAsNonRoot": True,
        "runAsUser": RUN_AS_USER,
        "runAsGroup": RUN_AS_USER,
        "fsGroup": RUN_AS_USER,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def container_security_context() -> dict[str, Any]:
    return {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


#: the pod's own address (downward API); servers and routers bind to it (``--host $(POD_IP)``)
POD_IP_ENV: Final = "POD_IP"


def pod_ip_env() -> dict[str, Any]:
    return {"name": POD_IP_ENV, "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}


def env_list(variables: dict[str, str]) -> list[dict[str, Any]]:
    """A container's ``env`` entries for plain ``name: value`` variables, in their order."""
    return [{"name": name, "value": value} for name, value in variables.items()]


def scratch_env() -> list[dict[str, Any]]:
    return [
        {"name": "HOME", "value": SCRATCH_DIR},
        {"name": "TMPDIR", "value": SCRATCH_DIR},
        {"name": "TORCH_HOME", "value": f"{SCRATCH_DIR}/torch"},
    ]


def container_resources(res: ComputeResources, settings: OperatorSettings) -> dict[str, Any]:
    """Requests = limits (Guaranteed QoS); GPUs as the configured extended resource."""
    amounts: dict[str, str] = {"cpu": res.cpu, "memory": res.memory}
    limits = dict(amounts)
    requests = dict(amounts)
    if res.gpu:
        limits[settings.gpu_resource] = str(res.gpu)
        requests[settings.gpu_resource] = str(res.gpu)
    return {"requests": requests, "limits": limits}


def placement(
    res: ComputeResources, scheduling: Scheduling, settings: OperatorSettings
) -> dict[str, Any]:
    """Node selector, tolerations and priority class of a pod spec (GPU nodes for GPU pods)."""
    node_selector = dict(scheduling.node_selector)
    tolerations = [t.to_wire() for t in scheduling.tolerations]
    if res.gpu:
        node_selector[settings.gpu_node_label] = "true"
        if res.gpu_product:
            node_selector[settings.gpu_product_label] = res.gpu_product
        tolerations.append(
            {"key": settings.gpu_toleration_key, "operator": "Exists", "effect": "NoSchedule"}
        )
    result: dict[str, Any] = {}
    if node_selector:
        result["nodeSelector"] = node_selector
    if tolerations:
        result["tolerations"] = tolerations
    if scheduling.priority_class_name:
        result["priorityClassName"] = scheduling.priority_class_name
    return result


#: a process that has not answered its liveness path within this long is restarted; the
#: liveness probe itself only starts once the process has answered (startup probe), so a slow
#: start — importing torch and loading a model on a busy node — is never mistaken for a hang
STARTUP_SECONDS = 300
STARTUP_PERIOD = 2


def http_probe(path: str, *, period: int, failures: int) -> dict[str, Any]:
    """An HTTP GET probe on the container's ``http`` port."""
    return {
        "httpGet": {"path": path, "port": "http"},
        "periodSeconds": period,
        "timeoutSeconds": 2,
        "failureThreshold": failures,
    }


def http_probes(*, live: str, ready: str) -> dict[str, Any]:
    """Startup, liveness and readiness probes of an HTTP server container."""
    return {
        "startupProbe": http_probe(
            live, period=STARTUP_PERIOD, failures=STARTUP_SECONDS // STARTUP_PERIOD
        ),
        "readinessProbe": http_probe(ready, period=1, failures=2),
        "livenessProbe": http_probe(live, period=10, failures=3),
    }


def pod_account(metadata: dict[str, Any], rules: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """ServiceAccount + Role + RoleBinding of one name (``metadata``: name, namespace, labels,
    owner): the pods running as the account get ``rules`` in their namespace, nothing else,
    and no token mounted unless a pod asks for one."""
    name, namespace = metadata["name"], metadata["namespace"]
    return [
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": metadata,
            "automountServiceAccountToken": False,
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": metadata,
            "rules": rules,
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": metadata,
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
            "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": namespace}],
        },
    ]
