"""Kueue objects for the queue tests: a ResourceFlavor, ClusterQueues (optionally in one
cohort), LocalQueues and WorkloadPriorityClasses, named per test and removed after it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import yaml

from mlops_devcluster.cluster import DevCluster

KUEUE = "kueue.x-k8s.io/v1beta2"


@dataclass
class Quotas:
    """What a test created, to apply and delete as one."""

    prefix: str
    documents: list[dict[str, Any]] = field(default_factory=list)
    gpu_node_labels: dict[str, str] | None = None

    def flavor(self) -> str:
        return f"{self.prefix}-cpu"

    def gpu_flavor(self) -> str:
        return f"{self.prefix}-gpu"

    def cluster_queue(
        self,
        name: str,
        *,
        cpu: str,
        cohort: str | None = None,
        preempt: bool = False,
        borrowing_limit: str | None = None,
        gpu: int | None = None,
    ) -> str:
        full = f"{self.prefix}-{name}"
        resource: dict[str, Any] = {"name": "cpu", "nominalQuota": cpu}
        if borrowing_limit is not None:
            resource["borrowingLimit"] = borrowing_limit
        spec: dict[str, Any] = {
            "namespaceSelector": {},
            "queueingStrategy": "BestEffortFIFO",
            "resourceGroups": [
                {
                    "coveredResources": ["cpu", "memory"],
                    "flavors": [
                        {
                            "name": self.flavor(),
                            "resources": [resource, {"name": "memory", "nominalQuota": "64Gi"}],
                        }
                    ],
                }
            ],
        }
        if gpu is not None:
            gpu_quota = {"name": "nvidia.com/gpu", "nominalQuota": gpu}
            spec["resourceGroups"].append(
                {
                    "coveredResources": ["nvidia.com/gpu"],
                    "flavors": [{"name": self.gpu_flavor(), "resources": [gpu_quota]}],
                }
            )
        if cohort:
            spec["cohortName"] = f"{self.prefix}-{cohort}"
        if preempt:
            spec["preemption"] = {"withinClusterQueue": "LowerPriority"}
        self.documents.append(
            {"apiVersion": KUEUE, "kind": "ClusterQueue", "metadata": {"name": full}, "spec": spec}
        )
        return full

    def local_queue(self, namespace: str, name: str, cluster_queue: str) -> str:
        self.documents.append(
            {
                "apiVersion": KUEUE,
                "kind": "LocalQueue",
                "metadata": {"name": name, "namespace": namespace},
                "spec": {"clusterQueue": cluster_queue},
            }
        )
        return name

    def priority(self, name: str, value: int) -> str:
        full = f"{self.prefix}-{name}"
        self.documents.append(
            {
                "apiVersion": KUEUE,
                "kind": "WorkloadPriorityClass",
                "metadata": {"name": full},
                "value": value,
            }
        )
        return full

    def yaml(self) -> str:
        flavor = {
            "apiVersion": KUEUE,
            "kind": "ResourceFlavor",
            "metadata": {"name": self.flavor()},
        }
        flavors = [flavor]
        if self.gpu_node_labels is not None:
            flavors.append(
                {
                    "apiVersion": KUEUE,
                    "kind": "ResourceFlavor",
                    "metadata": {"name": self.gpu_flavor()},
                    "spec": {"nodeLabels": self.gpu_node_labels},
                }
            )
        return yaml.safe_dump_all([*flavors, *self.documents])


@contextmanager
def quotas(devcluster: DevCluster, prefix: str) -> Iterator[Quotas]:
    """Collect the test's Kueue objects; it applies them with ``apply``; deleted at the end."""
    made = Quotas(prefix)
    try:
        yield made
    finally:
        if made.documents:
            devcluster.kubectl(
                "delete",
                "--ignore-not-found",
                "--wait=false",
                "-f",
                "-",
                input=made.yaml(),
                check=False,
            )


def apply(devcluster: DevCluster, made: Quotas) -> None:
    devcluster.kubectl("apply", "-f", "-", input=made.yaml())


def cpu_millis(quantity: str | int) -> int:
    text = str(quantity)
    return int(text[:-1]) if text.endswith("m") else int(float(text) * 1000)


def admitted_cpu(workloads: list[dict[str, Any]]) -> dict[str, int]:
    """CPU (millicores) of the admitted, unfinished Workloads per ClusterQueue."""
    used: dict[str, int] = {}
    for workload in workloads:
        status = workload.get("status") or {}
        conditions = {c["type"]: c["status"] for c in status.get("conditions") or []}
        if conditions.get("QuotaReserved") != "True" or conditions.get("Finished") == "True":
            continue
        admission = status.get("admission") or {}
        for pod_set in admission.get("podSetAssignments") or []:
            cpu = (pod_set.get("resourceUsage") or {}).get("cpu")
            if cpu is not None:
                queue = admission.get("clusterQueue", "")
                used[queue] = used.get(queue, 0) + cpu_millis(cpu)
    return used
