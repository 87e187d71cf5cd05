"""Every pod template the system creates, for the Pod Security admission test.

Each source returns (what, pod template) from the same code or chart that makes the real pods:
the trainer Job's from ``builders.training_job``, the model server's and the router's from
``builders.model_server`` and ``builders.router``, and every workload the chart renders (the
operator, the REST API). A new kind of pod joins by adding its builder here.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from mlops_operator.api.deployment import Deployment
from mlops_operator.api.training_job import TrainingJob
from mlops_operator.builders.model_server import ServedVersion, build_server_deployment
from mlops_operator.builders.router import build_router_deployment
from mlops_operator.builders.training_job import build_job, run_plan
from mlops_operator.settings import OperatorSettings

CHART = Path(__file__).resolve().parents[2] / "helm" / "mlops-operator"
WORKLOADS = ("Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob")

PodTemplate = tuple[str, dict[str, Any]]


def _trainer_pods(namespace: str) -> list[PodTemplate]:
    settings = OperatorSettings(MLOPS_TRAINER_IMAGE="ghcr.io/mlops-dev/mlops-trainer:0.1.0")
    templates = []
    for workers, gpu in ((1, 0), (2, 1)):
        tj = TrainingJob.from_body(
            {
                "metadata": {"name": f"psa-{workers}", "namespace": namespace, "uid": "u-1"},
                "spec": {
                    "modelName": "m",
                    "dataset": {"train": "s3://mlops/d/train.csv"},
                    "model": {"architecture": "mlp"},
                    "workers": workers,
                    "resources": {"gpu": gpu},
                },
            }
        )
        job = build_job(tj, run_plan(tj, version="1.0.0", settings=settings), settings)
        templates.append((f"trainer (workers={workers}, gpu={gpu})", job["spec"]["template"]))
    return templates


def chart_pods(helm: Path, namespace: str) -> list[PodTemplate]:
    """The pod template of every workload the chart renders."""
    out = subprocess.run(
        [str(helm), "template", "mlops", str(CHART), "--namespace", namespace],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
    templates = []
    for doc in yaml.safe_load_all(out):
        if doc and doc.get("kind") in WORKLOADS:
            spec = doc["spec"]
            template = (
                spec["jobTemplate"]["spec"]["template"]
                if "jobTemplate" in spec
                else spec["template"]
            )
            templates.append((f"chart {doc['kind']} {doc['metadata']['name']}", template))
    return templates


def _serving_pods(namespace: str) -> list[PodTemplate]:
    settings = OperatorSettings()
    dep = Deployment.model_validate(
        {
            "apiVersion": "mlops.dev/v1alpha1",
            "kind": "Deployment",
            "metadata": {"name": "fraud", "namespace": namespace, "uid": "u-1", "generation": 1},
            "spec": {"model": "fraud", "version": "1.2.0"},
        }
    )
    served = ServedVersion(
        version="1.2.0",
        artifact_uri="s3://mlops/models/team/fraud/1.2.0/",
        digest="sha256:" + "a" * 64,
    )
    server = build_server_deployment(dep, served, replicas=1, settings=settings)
    router = build_router_deployment(dep, settings)
    return [
        ("model server", server["spec"]["template"]),
        ("router", router["spec"]["template"]),
    ]


#: builders of pod templates (the chart's need helm, so they come separately)
BUILT_POD_SOURCES: tuple[Callable[[str], list[PodTemplate]], ...] = (
    _trainer_pods,
    _serving_pods,
)
