"""A TrainingJob's children as manifests: the batch/v1 Job and its headless Service
(workers > 1), plus the namespace's ServiceAccount, Role and RoleBinding that let trainers
report progress.

Pure functions of the typed TrainingJob and the operator's settings; every child of a run has
an owner reference to its TrainingJob, so deleting it deletes them (and the Job's pods).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Final

from mlops_core.progress import PREEMPTED_EXIT_CODE
from mlops_core.trainer_environment import (
    ENV_CPU_LIMIT_MILLICORES,
    Rendezvous,
    trainer_environment,
)
from mlops_core.training_spec import OutputSpec, TrainerConfig
from mlops_operator.api.meta import API_VERSION, GROUP
from mlops_operator.api.training_job import TrainingJob
from mlops_operator.builders.names import (
    ANNOTATION_MLFLOW_PARENT_RUN,
    LABEL_COMPONENT,
    LABEL_KUEUE_PRIORITY,
    LABEL_KUEUE_QUEUE,
    LABEL_MANAGED_BY,
    LABEL_MODEL,
    LABEL_TRAINING_JOB,
    LABEL_VERSION,
    MANAGED_BY,
    TRAINER_ACCOUNT,
    label_value,
    training_job_child_name,
)
from mlops_operator.builders.pods import (
    SCRATCH_DIR,
    container_resources,
    container_security_context,
    env_list,
    placement,
    pod_account,
    pod_ip_env,
    pod_security_context,
    scratch_env,
)
from mlops_operator.settings import OperatorSettings

Manifest = dict[str, Any]

TRAINER_CONTAINER: Final = "trainer"
TRAINING_COMPONENT: Final = "training"
#: the labels of every child of a run (Job, pods, Service) and of the trainers' account
TRAINING_LABELS: Final = {LABEL_MANAGED_BY: MANAGED_BY, LABEL_COMPONENT: TRAINING_COMPONENT}
#: the same as a label selector
TRAINING_SELECTOR: Final = ",".join(f"{key}={value}" for key, value in TRAINING_LABELS.items())
RENDEZVOUS_PORT: Final = 29500


@dataclass(frozen=True)
class RunPlan:
    """What a run was given when it started; recorded in status so retries reuse it."""

    version: str
    artifact_uri: str
    checkpoint_uri: str


def run_plan(tj: TrainingJob, *, version: str, settings: OperatorSettings) -> RunPlan:
    """Where a run of ``version`` publishes and checkpoints.

    Artifacts: ``s3://<bucket>/models/<namespace>/<model>/<version>/`` (the namespace keeps
    two teams' registries apart). Checkpoints are per run (name + uid), so a retry resumes its
    own run and a new TrainingJob never resumes an old one.
    """
    namespace = tj.metadata.namespace or "default"
    model = tj.spec.model_name
    uid = (tj.metadata.uid or "")[:8]
    return RunPlan(
        version=version,
        artifact_uri=f"{settings.artifact_root}/{namespace}/{model}/{version}/",
        checkpoint_uri=f"{settings.checkpoint_root}/{namespace}/{tj.metadata.name}-{uid}/",
    )


def unregistered_version(tj: TrainingJob) -> str:
    """The version label of a run whose artifact is not registered: ``0.0.0-run-<hash>``."""
    digest = hashlib.sha256((tj.metadata.uid or tj.metadata.name).encode()).hexdigest()[:8]
    return f"0.0.0-run-{digest}"


def owner_reference(tj: TrainingJob) -> dict[str, Any]:
    if not tj.metadata.uid:
        raise ValueError(f"TrainingJob {tj.metadata.name} has no uid: read it from the API first")
    return {
        "apiVersion": API_VERSION,
        "kind": "TrainingJob",
        "name": tj.metadata.name,
        "uid": tj.metadata.uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def child_labels(tj: TrainingJob, *, version: str | None = None) -> dict[str, str]:
    labels = {
        **TRAINING_LABELS,
        LABEL_TRAINING_JOB: label_value(tj.metadata.name),
        LABEL_MODEL: label_value(tj.spec.model_name),
    }
    if version:
        labels[LABEL_VERSION] = label_value(version)
    return labels


def _metadata(tj: TrainingJob, name: str, labels: dict[str, str]) -> dict[str, Any]:
    return {
        "name": name,
        "namespace": tj.metadata.namespace,
        "labels": labels,
        "ownerReferences": [owner_reference(tj)],
    }


def trainer_config(tj: TrainingJob, plan: RunPlan) -> TrainerConfig:
    """The trainer's whole input: the spec's dataset/model/training plus where to publish."""
    return TrainerConfig(
        dataset=tj.spec.dataset,
        model=tj.spec.model,
        training=tj.spec.training,
        output=OutputSpec(
            model_name=tj.spec.model_name,
            version=plan.version,
            artifact_uri=plan.artifact_uri,
            checkpoint_uri=plan.checkpoint_uri,
        ),
        mlflow_experiment=tj.spec.mlflow_experiment,
    )


def build_status_reporter(namespace: str) -> list[Manifest]:
    """ServiceAccount + Role + RoleBinding of the trainer pods in ``namespace``: they may read
    TrainingJobs and patch their status there, and nothing else.

    One set per namespace (not per run): the namespace is the trust boundary of the people
    who may create TrainingJobs in it anyway, and three writes per run would triple the
    operator's load on the API server. Not owned by any TrainingJob, so deleting one run
    leaves the others able to report.
    """
    labels = dict(TRAINING_LABELS)
    metadata = {"name": TRAINER_ACCOUNT, "namespace": namespace, "labels": labels}
    rules = [
        {"apiGroups": [GROUP], "resources": ["trainingjobs"], "verbs": ["get"]},
        {"apiGroups": [GROUP], "resources": ["trainingjobs/status"], "verbs": ["get", "patch"]},
    ]
    return pod_account(metadata, rules)


def build_rendezvous_service(tj: TrainingJob) -> Manifest:
    """Headless Service giving each worker pod of an Indexed Job a stable DNS name."""
    name = training_job_child_name(tj.metadata.name, tj.metadata.uid or "")
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _metadata(tj, name, child_labels(tj)),
        "spec": {
            "clusterIP": "None",
            "publishNotReadyAddresses": True,
            "selector": {"batch.kubernetes.io/job-name": name},
            "ports": [{"name": "rendezvous", "port": RENDEZVOUS_PORT, "protocol": "TCP"}],
        },
    }


def _env(tj: TrainingJob, plan: RunPlan, settings: OperatorSettings) -> list[dict[str, Any]]:
    rendezvous = None
    if tj.spec.workers > 1:
        job = training_job_child_name(tj.metadata.name, tj.metadata.uid or "")
        rendezvous = Rendezvous(
            master_addr=f"{job}-0.{job}.{tj.metadata.namespace}.svc",
            master_port=RENDEZVOUS_PORT,
            world_size=tj.spec.workers,
        )
    variables = trainer_environment(
        config_json=trainer_config(tj, plan).model_dump_json(by_alias=True, exclude_none=True),
        training_job=tj.metadata.name,
        namespace=tj.metadata.namespace or "default",
        mlflow_tracking_uri=settings.mlflow_tracking_uri,
        mlflow_parent_run=tj.metadata.annotations.get(ANNOTATION_MLFLOW_PARENT_RUN),
        rendezvous=rendezvous,
    )
    return [*env_list(variables), _cpu_limit_env(), pod_ip_env(), *scratch_env()]


def _cpu_limit_env() -> dict[str, Any]:
    """The trainer's CPU limit in millicores, from the downward API (the trainer sizes torch's
    threads by it where the cgroup does not show the limit)."""
    ref = {"containerName": TRAINER_CONTAINER, "resource": "limits.cpu", "divisor": "1m"}
    return {"name": ENV_CPU_LIMIT_MILLICORES, "valueFrom": {"resourceFieldRef": ref}}


def build_job(
    tj: TrainingJob, plan: RunPlan, settings: OperatorSettings, *, queue: str | None = None
) -> Manifest:
    """The batch/v1 Job that runs the trainer (Indexed, one pod per worker, when workers > 1).

    With a ``queue`` (a Kueue LocalQueue) the Job is created suspended and labelled with the
    queue and the run's WorkloadPriorityClass: Kueue admits it whole (one Workload for all
    workers), adds its ResourceFlavor's node labels to the pod template and unsuspends it.
    """
    name = training_job_child_name(tj.metadata.name, tj.metadata.uid or "")
    labels = child_labels(tj, version=plan.version)
    job_labels = dict(labels)
    if queue:
        job_labels[LABEL_KUEUE_QUEUE] = queue
        if tj.spec.priority_class:
            job_labels[LABEL_KUEUE_PRIORITY] = tj.spec.priority_class
    workers = tj.spec.workers
    storage_secret = tj.spec.storage_secret_name or settings.s3_secret
    pod_spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "serviceAccountName": TRAINER_ACCOUNT,
        "automountServiceAccountToken": True,
        "securityContext": pod_security_context(),
        "containers": [
            {
                "name": TRAINER_CONTAINER,
                "image": settings.trainer_image,
                "imagePullPolicy": settings.image_pull_policy,
                "env": _env(tj, plan, settings),
                "envFrom": [{"secretRef": {"name": storage_secret}}],
                "resources": container_resources(tj.spec.resources, settings),
                "terminationMessagePolicy": "FallbackToLogsOnError",
                "securityContext": container_security_context(),
                "volumeMounts": [{"name": "scratch", "mountPath": SCRATCH_DIR}],
            }
        ],
        "volumes": [{"name": "scratch", "emptyDir": {}}],
        **placement(tj.spec.resources, tj.spec.scheduling, settings),
    }
    if workers > 1:
        pod_spec["subdomain"] = name
    spec: dict[str, Any] = {
        "backoffLimit": tj.spec.retries,
        "ttlSecondsAfterFinished": settings.job_ttl_seconds,
        "completions": workers,
        "parallelism": workers,
        "completionMode": "Indexed" if workers > 1 else "NonIndexed",
        # a trainer stopped by SIGTERM (Kueue's preemption, a drain) saved its step and exits
        # with this status: not a failure, no retry used; the next pod resumes from the step
        "podFailurePolicy": {
            "rules": [
                {
                    "action": "Ignore",
                    "onExitCodes": {
                        "containerName": TRAINER_CONTAINER,
                        "operator": "In",
                        "values": [PREEMPTED_EXIT_CODE],
                    },
                }
            ]
        },
        "template": {"metadata": {"labels": labels}, "spec": pod_spec},
    }
    if tj.spec.deadline_seconds:
        spec["activeDeadlineSeconds"] = tj.spec.deadline_seconds
    if queue:
        spec["suspend"] = True
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": _metadata(tj, name, job_labels),
        "spec": spec,
    }


def build_training_children(
    tj: TrainingJob, plan: RunPlan, settings: OperatorSettings, *, queue: str | None = None
) -> list[Manifest]:
    """The run's own children, in the order to apply them (the Job last). The namespace's
    status reporter (``build_status_reporter``) is applied separately, once."""
    children = []
    if tj.spec.workers > 1:
        children.append(build_rendezvous_service(tj))
    children.append(build_job(tj, plan, settings, queue=queue))
    return children
