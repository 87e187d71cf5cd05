"""The two nodes the agent registers, their status and their Lease (pure builders)."""

from __future__ import annotations

import datetime
import os
import platform
from dataclasses import dataclass, field
from typing import Any, Final

from mlops_devcluster.binaries import KUBERNETES_VERSION

GPU_RESOURCE: Final = "nvidia.com/gpu"
GPU_PRESENT_LABEL: Final = "nvidia.com/gpu.present"
GPU_PRODUCT_LABEL: Final = "nvidia.com/gpu.product"
GPU_COUNT_LABEL: Final = "nvidia.com/gpu.count"
LEASE_NAMESPACE: Final = "kube-node-lease"
LEASE_DURATION_SECONDS: Final = 40
HOST_IP: Final = "127.0.0.1"


@dataclass(frozen=True)
class NodeSpec:
    """One simulated node. Capacity is advertised, not enforced: pods are plain processes."""

    name: str
    cpu: str = "16"
    memory: str = "64Gi"
    pods: str = "110"
    gpus: int = 0
    gpu_product: str = "NVIDIA-H100-80GB-HBM3"
    extra_labels: dict[str, str] = field(default_factory=dict)

    @property
    def is_gpu(self) -> bool:
        return self.gpus > 0


def now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def now_micro() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def node_labels(spec: NodeSpec) -> dict[str, str]:
    labels = {
        "kubernetes.io/hostname": spec.name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": _arch(),
        "node.kubernetes.io/instance-type": "devcluster-gpu" if spec.is_gpu else "devcluster-cpu",
        "mlops.dev/devcluster": "true",
        **spec.extra_labels,
    }
    if spec.is_gpu:
        labels[GPU_PRESENT_LABEL] = "true"
        labels[GPU_PRODUCT_LABEL] = spec.gpu_product
        labels[GPU_COUNT_LABEL] = str(spec.gpus)
    return labels


def _arch() -> str:
    machine = platform.machine().lower()
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)


def build_node(spec: NodeSpec) -> dict[str, Any]:
    """The Node object (metadata and spec; status is written separately)."""
    taints = []
    if spec.is_gpu:
        taints.append({"key": GPU_RESOURCE, "effect": "NoSchedule"})
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": spec.name, "labels": node_labels(spec)},
        "spec": {"taints": taints},
    }


def node_capacity(spec: NodeSpec) -> dict[str, str]:
    capacity = {
        "cpu": spec.cpu,
        "memory": spec.memory,
        "pods": spec.pods,
        "ephemeral-storage": "100Gi",
    }
    if spec.is_gpu:
        capacity[GPU_RESOURCE] = str(spec.gpus)
    return capacity


def _condition(kind: str, status: str, reason: str, message: str, stamp: str) -> dict[str, str]:
    return {
        "type": kind,
        "status": status,
        "reason": reason,
        "message": message,
        "lastHeartbeatTime": stamp,
        "lastTransitionTime": stamp,
    }


def build_node_status(
    spec: NodeSpec, *, stamp: str, since: str, log_port: int = 0
) -> dict[str, Any]:
    """A Ready node status. ``since`` is when the agent started (the conditions' transition);
    ``log_port`` is where the agent serves container logs (the kubelet endpoint)."""
    conditions = [
        _condition("MemoryPressure", "False", "KubeletHasSufficientMemory", "enough memory", stamp),
        _condition("DiskPressure", "False", "KubeletHasNoDiskPressure", "enough disk", stamp),
        _condition("PIDPressure", "False", "KubeletHasSufficientPID", "enough PIDs", stamp),
        _condition(
            "Ready", "True", "KubeletReady", "mlops devcluster node agent is running", stamp
        ),
    ]
    for condition in conditions:
        condition["lastTransitionTime"] = since
    uname = platform.uname()
    return {
        "capacity": node_capacity(spec),
        "allocatable": node_capacity(spec),
        "conditions": conditions,
        "addresses": [
            {"type": "InternalIP", "address": HOST_IP},
            {"type": "Hostname", "address": spec.name},
        ],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": log_port}},
        "nodeInfo": {
            "machineID": _machine_id(),
            "systemUUID": spec.name,
            "bootID": f"{spec.name}-{os.getpid()}",
            "kernelVersion": uname.release,
            "osImage": "mlops devcluster (local processes)",
            "containerRuntimeVersion": "mlops-devcluster://local-process",
            "kubeletVersion": KUBERNETES_VERSION,
            "kubeProxyVersion": "",
            "operatingSystem": "linux",
            "architecture": _arch(),
        },
    }


def _machine_id() -> str:
    try:
        with open("/etc/machine-id") as handle:
            return handle.read().strip()
    except OSError:
        return "devcluster"


def build_lease(node: str, *, node_uid: str, renew_time: str) -> dict[str, Any]:
    return {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {
            "name": node,
            "namespace": LEASE_NAMESPACE,
            "ownerReferences": [
                {"apiVersion": "v1", "kind": "Node", "name": node, "uid": node_uid}
            ],
        },
        "spec": {
            "holderIdentity": node,
            "leaseDurationSeconds": LEASE_DURATION_SECONDS,
            "renewTime": renew_time,
        },
    }


def default_nodes(prefix: str = "devcluster") -> list[NodeSpec]:
    return [NodeSpec(name=f"{prefix}-cpu"), NodeSpec(name=f"{prefix}-gpu", cpu="16", gpus=4)]
