"""Every kind of the API, in the order their CustomResourceDefinitions are written."""

from __future__ import annotations

from typing import Final

from mlops_operator.api.deployment import DEPLOYMENT
from mlops_operator.api.experiment import EXPERIMENT
from mlops_operator.api.meta import ResourceKind
from mlops_operator.api.model import MODEL
from mlops_operator.api.model_version import MODEL_VERSION
from mlops_operator.api.serving_pool import SERVING_POOL
from mlops_operator.api.training_job import TRAINING_JOB

KINDS: Final[tuple[ResourceKind, ...]] = (
    MODEL,
    MODEL_VERSION,
    TRAINING_JOB,
    EXPERIMENT,
    DEPLOYMENT,
    SERVING_POOL,
)


def kind_named(kind: str) -> ResourceKind:
    """The kind called ``kind`` (e.g. ``TrainingJob``), or a KeyError listing the known kinds."""
    for item in KINDS:
        if item.kind == kind:
            return item
    known = ", ".join(item.kind for item in KINDS)
    raise KeyError(f"unknown kind {kind!r}: the API has {known}")
