"""The TrainingJob of one trial: the Experiment's template with the trial's parameters set,
owned by the Experiment, named and labelled by trial number."""

from __future__ import annotations

from typing import Any, Final

from mlops_operator.api.experiment import Experiment
from mlops_operator.api.meta import API_VERSION, GROUP
from mlops_operator.api.training_job import TrainingRunSpec
from mlops_operator.builders.names import (
    ANNOTATION_MLFLOW_PARENT_RUN,
    LABEL_COMPONENT,
    LABEL_MANAGED_BY,
    LABEL_MODEL,
    MANAGED_BY,
    label_value,
)
from mlops_operator.search.record import ANNOTATION_PLAN, TrialPlan
from mlops_operator.search.template import apply_parameters, template_value

Manifest = dict[str, Any]

LABEL_EXPERIMENT: Final = f"{GROUP}/experiment"
LABEL_TRIAL: Final = f"{GROUP}/trial"


def trial_name(experiment: str, number: int) -> str:
    """``breast-cancer-search`` + 3 → ``breast-cancer-search-t3``."""
    return f"{experiment}-t{number}"


def trial_selector(experiment: str) -> str:
    """The label selector of an Experiment's trials."""
    return f"{LABEL_EXPERIMENT}={label_value(experiment)}"


def trial_spec(experiment: Experiment, plan: TrialPlan) -> TrainingRunSpec:
    """The template with the trial's parameters at their paths (SearchSpaceError if one does
    not fit)."""
    values = {
        parameter.name: template_value(parameter, plan.params[parameter.name])
        for parameter in experiment.spec.search_space
        if parameter.name in plan.params
    }
    return apply_parameters(experiment.spec.trial_template, values)


def mlflow_experiment_of(experiment: Experiment) -> str:
    """The MLflow experiment of the search's parent run and its trials' runs."""
    return experiment.spec.trial_template.mlflow_experiment or experiment.spec.model_name


def owner_reference(experiment: Experiment) -> Manifest:
    return {
        "apiVersion": API_VERSION,
        "kind": "Experiment",
        "name": experiment.metadata.name,
        "uid": experiment.metadata.uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def build_trial(
    experiment: Experiment, plan: TrialPlan, *, mlflow_parent_run: str | None = None
) -> Manifest:
    """The trial's TrainingJob. It registers nothing itself (``registration.enabled: false``):
    its artifact is published and verified, and only the search's winner becomes a
    ModelVersion."""
    spec = trial_spec(experiment, plan)
    body = spec.model_dump(by_alias=True, exclude_none=True, mode="json")
    body["modelName"] = experiment.spec.model_name
    body["registration"] = {"enabled": False}
    annotations = {ANNOTATION_PLAN: plan.to_annotation()}
    if mlflow_parent_run is not None:
        body["mlflowExperiment"] = mlflow_experiment_of(experiment)
        annotations[ANNOTATION_MLFLOW_PARENT_RUN] = mlflow_parent_run
    name = experiment.metadata.name
    return {
        "apiVersion": API_VERSION,
        "kind": "TrainingJob",
        "metadata": {
            "name": trial_name(name, plan.number),
            "namespace": experiment.metadata.namespace,
            "labels": {
                LABEL_MANAGED_BY: MANAGED_BY,
                LABEL_COMPONENT: "trial",
                LABEL_EXPERIMENT: label_value(name),
                LABEL_TRIAL: str(plan.number),
                LABEL_MODEL: label_value(experiment.spec.model_name),
            },
            "annotations": annotations,
            "ownerReferences": [owner_reference(experiment)],
        },
        "spec": body,
    }
