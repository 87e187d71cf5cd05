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
    ROUTER_SUFFIX,
    TRIAL_SUFFIX,
)
from mlops_operator.registry.semver import version_slug

__all__ = ["API_VERSION", "GROUP"]

FIELD_MANAGER: Final = "mlops-operator"

LABEL_MANAGED_BY: Final = "app.kubernetes.io/managed-by"
LABEL_COMPONENT: Final = "app.kubernetes.io/component"
LABEL_TRAINING_JOB: Final = f"{GROUP}/trainingjob"
LABEL_MODEL: Final = f"{GROUP}/model"
LABEL_VERSION: Final = f"{GROUP}/version"
MANAGED_BY: Final = "mlops-operator"


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


def router_name(deployment: str) -> str:
    """The router Deployment and Service of a Deployment: ``fraud`` → ``fraud-router``."""
    return f"{deployment}{ROUTER_SUFFIX}"


def label_value(text: str) -> str:
    """``text`` made a valid label value (≤ 63 chars, alphanumeric at both ends)."""
    value = re.sub(r"[^A-Za-z0-9_.-]", "-", text)
    value = _fit(value, LABEL_VALUE_MAX, salt=text)
    return value.strip("-_.")
