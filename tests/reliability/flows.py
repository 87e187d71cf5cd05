"""Flows the controller fault tests drive, and what they check once the flows have converged.

A flow is one custom resource the operator turns into children and a result. Each kind of
flow says how to create a batch of them, when one has converged, and which of its children
must exist exactly once; the fault tests (operator SIGKILLed, API server restarted) run any
flow the same way. ``TrainAndRegister`` is the train → register flow; a deploy → canary or an
experiment flow is a new subclass of :class:`Flow` added to ``FLOWS``.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, ClassVar

from e2e_support import tabular_model, tabular_training_job

from mlops_devcluster.cluster import DevCluster
from mlops_operator.api.meta import API_VERSION
from mlops_operator.kube import Kube


@dataclass
class Verdict:
    """What a batch of flows came to."""

    flows: int
    converged: int = 0
    lost: list[str] = field(default_factory=list)
    duplicated: list[str] = field(default_factory=list)


class Flow:
    """One kind of flow (subclass and add to ``FLOWS``)."""

    name: ClassVar[str]

    def create(self, devcluster: DevCluster, namespace: str, count: int) -> list[str]:
        """Create ``count`` flows in ``namespace``; their names."""
        raise NotImplementedError

    def converged(self, admin: Kube, namespace: str, names: list[str]) -> bool:
        """Whether every flow has reached its end state (success or failure)."""
        raise NotImplementedError

    def verdict(self, admin: Kube, namespace: str, names: list[str]) -> Verdict:
        """Lost runs and duplicated children, once converged."""
        raise NotImplementedError


def _apply(devcluster: DevCluster, namespace: str, manifests: list[dict[str, Any]]) -> None:
    devcluster.kubectl(
        "apply", "-n", namespace, "-f", "-", input="\n---\n".join(map(json.dumps, manifests))
    )


class TrainAndRegister(Flow):
    """TrainingJob → one Job → trainer pod → artifact → one ModelVersion."""

    name = "train → register"

    def create(self, devcluster: DevCluster, namespace: str, count: int) -> list[str]:
        names = [f"run-{n}" for n in range(count)]
        manifests = [tabular_model()]
        manifests += [
            tabular_training_job(name, training={"epochs": 2, "batchSize": 128}) for name in names
        ]
        _apply(devcluster, namespace, manifests)
        return names

    def _phases(self, admin: Kube, namespace: str) -> dict[str, str | None]:
        return {
            body["metadata"]["name"]: (body.get("status") or {}).get("phase")
            for body in admin.list(API_VERSION, "TrainingJob", namespace)
        }

    def converged(self, admin: Kube, namespace: str, names: list[str]) -> bool:
        phases = self._phases(admin, namespace)
        return all(phases.get(name) in ("Succeeded", "Failed") for name in names)

    def verdict(self, admin: Kube, namespace: str, names: list[str]) -> Verdict:
        verdict = Verdict(flows=len(names))
        runs = {b["metadata"]["name"]: b for b in admin.list(API_VERSION, "TrainingJob", namespace)}
        jobs = Counter(
            owner["name"]
            for job in admin.list("batch/v1", "Job", namespace)
            for owner in job["metadata"].get("ownerReferences") or []
            if owner["kind"] == "TrainingJob"
        )
        versions = admin.list(API_VERSION, "ModelVersion", namespace)
        by_run = Counter(v["spec"]["lineage"]["trainingJob"] for v in versions)
        numbers = Counter(v["spec"]["version"] for v in versions)
        for name in names:
            status = runs.get(name, {}).get("status") or {}
            produced = status.get("modelVersion")
            if status.get("phase") == "Succeeded" and produced and by_run[name] == 1:
                verdict.converged += 1
            else:
                verdict.lost.append(f"{name}: phase {status.get('phase')}, version {produced}")
            if jobs[name] > 1:
                verdict.duplicated.append(f"{name}: {jobs[name]} Jobs")
            if by_run[name] > 1:
                verdict.duplicated.append(f"{name}: {by_run[name]} ModelVersions")
        verdict.duplicated += [
            f"version {v} registered {n} times" for v, n in numbers.items() if n > 1
        ]
        return verdict


#: every flow the controller fault tests run
FLOWS: tuple[Flow, ...] = (TrainAndRegister(),)
