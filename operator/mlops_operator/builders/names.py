"""Deterministic object names and labels.

Children are named from their parent alone, so a reconcile that runs twice, or again after
the operator died half-way, finds and reuses what it created instead of creating it again.
"""

from __future__ import annotations

import hashlib
import re
from typing import Final

from mlops_operator.api.meta import API_VERSION, GROUP
from mlops_operator.api.name_limits import (
    JOB_NAME_MAX,
    LABEL_VALUE_MAX,
    MODEL_VERSION_NAME_MAX,
    SERVICE_NAME_MAX,
    SERVICE_NAME_PATTERN,
    TRIAL_SUFFIX,
)
from mlops_operator.registry.semver import version_slug

__all__ = ["API_VERSION", "GROUP", "SERVICE_NAME_MAX", "SERVICE_NAME_PATTERN"]

FIELD_MANAGER: Final = "mlops-operator"

LABEL_MANAGED_BY: Final = "app.kubernetes.io/managed-by"
LABEL_COMPONENT: Final = "app.kubernetes.io/component"
LABEL_TRAINING_JOB: Final = f"{GROUP}/trainingjob"
LABEL_MODEL: Final = f"{GROUP}/model"
LABEL_VERSION: Final = f"{GROUP}/version"
MANAGED_BY: Final = "mlops-operator"
#: on a TrainingJob that is a trial: the MLflow run of its search, which its run nests under
#: Kueue's labels on a Job: the LocalQueue it waits in, and its WorkloadPriorityClass
LABEL_KUEUE_QUEUE: Final = "kueue.x-k8s.io/queue-name"
LABEL_KUEUE_PRIORITY: Final = "kueue.x-k8s.io/priority-class"
ANNOTATION_MLFLOW_PARENT_RUN: Final = f"{GROUP}/mlflow-parent-run"


def _short_hash(text: str, length: int = 8) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def _fit(name: str, limit: int, *, salt: str) -> str:
    """``name`` when it fits, else a prefix of it plus a short hash of ``salt``."""
    if len(name) <= limit:
        return name
    head = name[: limit - 9].rstrip("-.")
    return f"{head}-{_short_hash(salt)}"


def training_job_child_name(training_job: str, uid: str) -> str:
    """Name of the Job (and headless Service) of a TrainingJob: its name, if short enough."""
    name = training_job.replace(".", "-")
    name = name if name[0].isalpha() else f"tj-{name}"
    return _fit(name, JOB_NAME_MAX, salt=uid)


#: ServiceAccount (and Role, RoleBinding) of trainer pods in every namespace with TrainingJobs
TRAINER_ACCOUNT: Final = "mlops-trainer"


def model_version_name(model: str, version: str) -> str:
    """``threat-classifier`` + ``1.2.0`` → ``threat-classifier-v1-2-0``; a long model name or
    version is shortened with a hash, as a ModelVersion name must fit in a label value."""
    name = f"{model}-v{version_slug(version)}"
    return _fit(name, MODEL_VERSION_NAME_MAX, salt=f"{model}/{version}")


def trial_name(experiment: str, number: int) -> str:
    """The TrainingJob of an Experiment's trial ``number``: ``search`` + 3 → ``search-t3``."""
    return f"{experiment}{TRIAL_SUFFIX}{number}"


def label_value(text: str) -> str:
    """``text`` made a valid label value (≤ 63 chars, alphanumeric at both ends)."""
    value = re.sub(r"[^A-Za-z0-9_.-]", "-", text)
    value = _fit(value, LABEL_VALUE_MAX, salt=text)
    return value.strip("-_.")


LABEL_DEPLOYMENT: Final = f"{GROUP}/deployment"
#: a Service name (DNS-1035 label): routers are named after their Deployment, so it must be
#: one (``SERVICE_NAME_MAX``, ``SERVICE_NAME_PATTERN``; admission refuses other names)


def server_name(deployment: str, version: str) -> str:
    """Model server Deployment and Service of one version: ``fraud`` + ``1.2.0`` →
    ``fraud-v1-2-0`` (a short hash replaces the tail of a name too long for a Service)."""
    return _fit(f"{deployment}-v{version_slug(version)}", SERVICE_NAME_MAX, salt=version)


def router_config_map_name(deployment: str) -> str:
    return _fit(f"{deployment}-router", 253, salt=deployment)


def router_account_name(deployment: str) -> str:
    """ServiceAccount, Role and RoleBinding of one Deployment's router pods (named as the
    ConfigMap they may read, the only one)."""
    return router_config_map_name(deployment)


def pool_member_name(deployment: str) -> str:
    """ConfigMap in which a pooled Deployment tells its pool what to place and route."""
    return _fit(f"{deployment}-pool-member", 253, salt=deployment)
