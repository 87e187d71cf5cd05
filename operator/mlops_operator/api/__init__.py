"""The API of mlops-operator: the custom resources as pydantic models.

These models are the single source of truth. ``python -m mlops_operator.crdgen`` turns them into
the CustomResourceDefinitions in ``crds/`` (and the Helm chart's copy), and the operator parses
every raw object it receives into one of them once, at the boundary.

One module per kind: :mod:`.model`, :mod:`.model_version`, :mod:`.training_job`,
:mod:`.experiment` (with :mod:`.search_space`), :mod:`.deployment` (with :mod:`.rollout`,
:mod:`.monitoring` and :mod:`.deployment_status`) and :mod:`.serving_pool`. :mod:`.meta`,
:mod:`.conditions`, :mod:`.resources` and :mod:`.cel` hold what they share, and :mod:`.kinds`
lists every kind. :mod:`.openapi` and :mod:`.crd` turn the models into CustomResourceDefinitions.
"""

from mlops_operator.api.conditions import Condition, set_condition
from mlops_operator.api.deployment import Deployment, DeploymentSpec
from mlops_operator.api.deployment_status import DeploymentStatus
from mlops_operator.api.experiment import Experiment, ExperimentSpec, ExperimentStatus
from mlops_operator.api.kinds import KINDS
from mlops_operator.api.meta import API_VERSION, GROUP, VERSION, ObjectMeta, ResourceKind
from mlops_operator.api.model import Model, RegisteredModelSpec, RegisteredModelStatus
from mlops_operator.api.model_version import ModelVersion, ModelVersionSpec, ModelVersionStatus
from mlops_operator.api.serving_pool import ServingPool, ServingPoolSpec, ServingPoolStatus
from mlops_operator.api.training_job import TrainingJob, TrainingJobSpec, TrainingJobStatus

__all__ = [
    "API_VERSION",
    "GROUP",
    "KINDS",
    "VERSION",
    "Condition",
    "Deployment",
    "DeploymentSpec",
    "DeploymentStatus",
    "Experiment",
    "ExperimentSpec",
    "ExperimentStatus",
    "Model",
    "ModelVersion",
    "ModelVersionSpec",
    "ModelVersionStatus",
    "ObjectMeta",
    "RegisteredModelSpec",
    "RegisteredModelStatus",
    "ResourceKind",
    "ServingPool",
    "ServingPoolSpec",
    "ServingPoolStatus",
    "TrainingJob",
    "TrainingJobSpec",
    "TrainingJobStatus",
    "set_condition",
]
