"""The trainer pods' environment, declared once: what the operator sets on a TrainingJob's Job
and what the trainer reads.

The operator's Job builder writes ``trainer_environment(...)`` into the container's ``env``; the
trainer's config source, status reporter, MLflow reporter and distributed set-up read the same
names. A unit test proves the trainer reads back what the builder wrote.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

#: the whole ``TrainerConfig`` (``mlops_core.training_spec``) as JSON
ENV_CONFIG: Final = "MLOPS_TRAINER_CONFIG"
#: the TrainingJob whose ``status.progress`` the trainer patches after every epoch
ENV_TRAINING_JOB_NAME: Final = "MLOPS_TRAININGJOB_NAME"
ENV_TRAINING_JOB_NAMESPACE: Final = "MLOPS_TRAININGJOB_NAMESPACE"
#: the MLflow tracking server (http:// or https://); unset: no MLflow run
ENV_MLFLOW_TRACKING_URI: Final = "MLFLOW_TRACKING_URI"
#: set for a trial of an Experiment: the search's MLflow run, which the trial's run nests under
ENV_MLFLOW_PARENT_RUN: Final = "MLFLOW_PARENT_RUN_ID"
#: the rendezvous of a distributed run (workers > 1): worker 0's stable DNS name and port, and
#: the number of workers
ENV_MASTER_ADDR: Final = "MASTER_ADDR"
ENV_MASTER_PORT: Final = "MASTER_PORT"
ENV_WORLD_SIZE: Final = "WORLD_SIZE"
#: a worker's rank: ``RANK`` when given, else the Indexed Job's ``JOB_COMPLETION_INDEX`` (set by
#: Kubernetes on every pod of an Indexed Job)
ENV_RANK: Final = "RANK"
ENV_COMPLETION_INDEX: Final = "JOB_COMPLETION_INDEX"
#: the trainer container's CPU limit in millicores (the downward API's ``limits.cpu``): torch's
#: thread count where the cgroup does not show the limit
ENV_CPU_LIMIT_MILLICORES: Final = "MLOPS_CPU_LIMIT_MILLICORES"


@dataclass(frozen=True)
class Rendezvous:
    """How the workers of a distributed run find each other."""

    master_addr: str
    master_port: int
    world_size: int


def trainer_environment(
    *,
    config_json: str,
    training_job: str,
    namespace: str,
    mlflow_tracking_uri: str | None = None,
    mlflow_parent_run: str | None = None,
    rendezvous: Rendezvous | None = None,
) -> dict[str, str]:
    """The trainer container's environment variables for one run (the MLflow ones only with a
    tracking server; the parent run only with both)."""
    env = {
        ENV_CONFIG: config_json,
        ENV_TRAINING_JOB_NAME: training_job,
        ENV_TRAINING_JOB_NAMESPACE: namespace,
    }
    if mlflow_tracking_uri:
        env[ENV_MLFLOW_TRACKING_URI] = mlflow_tracking_uri
        if mlflow_parent_run:
            env[ENV_MLFLOW_PARENT_RUN] = mlflow_parent_run
    if rendezvous is not None:
        env[ENV_MASTER_ADDR] = rendezvous.master_addr
        env[ENV_MASTER_PORT] = str(rendezvous.master_port)
        env[ENV_WORLD_SIZE] = str(rendezvous.world_size)
    return env
