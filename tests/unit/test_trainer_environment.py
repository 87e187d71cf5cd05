"""The trainer pods' environment: what the Job builder writes, the trainer reads back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mlops_core.trainer_environment import ENV_CPU_LIMIT_MILLICORES
from mlops_devcluster.agent.pod_env import resource_value
from mlops_operator.api.training_job import TrainingJob
from mlops_operator.builders.names import ANNOTATION_MLFLOW_PARENT_RUN, training_job_child_name
from mlops_operator.builders.training_job import (
    RENDEZVOUS_PORT,
    build_job,
    run_plan,
    trainer_config,
)
from mlops_operator.settings import OperatorSettings
from mlops_trainer import kube_reporter
from mlops_trainer.config_source import load_config
from mlops_trainer.cpu_threads import thread_count
from mlops_trainer.distributed import context_from_env
from mlops_trainer.mlflow_tracking import mlflow_reporter_from_env

pytestmark = pytest.mark.unit

SETTINGS = OperatorSettings(
    MLOPS_TRAINER_IMAGE="ghcr.io/mlops-dev/mlops-trainer:9.9.9",
    MLFLOW_TRACKING_URI="http://mlflow.mlops.svc:5000",
)


def _trial(workers: int) -> TrainingJob:
    return TrainingJob.from_body(
        {
            "apiVersion": "mlops.dev/v1alpha1",
            "kind": "TrainingJob",
            "metadata": {
                "name": "search-t3",
                "namespace": "team-a",
                "uid": "3f0b8a2c-1111-2222-3333-444455556666",
                "annotations": {ANNOTATION_MLFLOW_PARENT_RUN: "parent-run-42"},
            },
            "spec": {
                "modelName": "threat-classifier",
                "dataset": {"train": "s3://mlops/datasets/t/train.csv"},
                "model": {"architecture": "mlp"},
                "workers": workers,
            },
        }
    )


def _plain_env(job: dict[str, Any]) -> dict[str, str]:
    container = job["spec"]["template"]["spec"]["containers"][0]
    return {e["name"]: e["value"] for e in container["env"] if "value" in e}


def test_the_trainer_reads_back_what_the_job_builder_wrote(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tj = _trial(workers=3)
    plan = run_plan(tj, version="1.2.0", settings=SETTINGS)
    env = _plain_env(build_job(tj, plan, SETTINGS))

    assert load_config(path=None, inline=None, env=env) == trainer_config(tj, plan)

    monkeypatch.setattr(kube_reporter, "status_patcher", lambda env: None)
    reporter = kube_reporter.kubernetes_reporter_from_env(env)
    assert reporter is not None
    assert (reporter.name, reporter.namespace) == ("search-t3", "team-a")

    mlflow = mlflow_reporter_from_env(env=env)
    assert mlflow is not None
    assert mlflow.client.uri == "http://mlflow.mlops.svc:5000"
    assert mlflow._parent_run == "parent-run-42"

    worker = context_from_env({**env, "JOB_COMPLETION_INDEX": "2"})
    job = training_job_child_name("search-t3", tj.metadata.uid or "")
    assert (worker.rank, worker.world_size) == (2, 3)
    assert worker.master_addr == f"{job}-0.{job}.team-a.svc"
    assert worker.master_port == RENDEZVOUS_PORT


def test_a_single_worker_run_without_mlflow_sets_neither(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = OperatorSettings(MLOPS_TRAINER_IMAGE="ghcr.io/mlops-dev/mlops-trainer:9.9.9")
    tj = _trial(workers=1)
    env = _plain_env(build_job(tj, run_plan(tj, version="1.2.0", settings=settings), settings))
    assert mlflow_reporter_from_env(env=env) is None
    assert context_from_env(env).world_size == 1


def test_the_trainer_sizes_torch_by_the_cpu_limit_the_job_declares(tmp_path: Path) -> None:
    tj = _trial(workers=1)
    job = build_job(tj, run_plan(tj, version="1.2.0", settings=SETTINGS), SETTINGS)
    container = job["spec"]["template"]["spec"]["containers"][0]
    container["resources"]["limits"]["cpu"] = "500m"
    (ref,) = [
        e["valueFrom"]["resourceFieldRef"]
        for e in container["env"]
        if e["name"] == ENV_CPU_LIMIT_MILLICORES
    ]
    assert ref["containerName"] == container["name"]
    millicores = resource_value(container, ref, allocatable={})  # as the devcluster resolves it
    assert millicores == "500"
    env = {ENV_CPU_LIMIT_MILLICORES: millicores}
    assert thread_count(env, tmp_path / "no-cgroup-limit") == 1
