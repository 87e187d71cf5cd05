"""``/mlops/experiments``: hyperparameter searches as Experiment resources."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path
from pydantic import Field

from mlops_core.wire import WireModel
from mlops_operator.api.experiment import Experiment, ExperimentSpec
from mlops_operator.api.meta import OBJECT_NAME_MAX, OBJECT_NAME_PATTERN
from mlops_operator.operations import experiments
from mlops_operator.rest.access import Access, Scope
from mlops_operator.rest.auth import Permission

router = APIRouter(tags=["experiments"])

ExperimentName = Annotated[str, Field(max_length=OBJECT_NAME_MAX, pattern=OBJECT_NAME_PATTERN)]
COMPARE_MAX = 20


class ExperimentRequest(ExperimentSpec):
    """The Experiment's spec (camelCase, as in its manifest), plus an optional name."""

    experiment_id: ExperimentName | None = Field(
        default=None, description="Name of the Experiment (default: generated)."
    )

    def spec(self) -> ExperimentSpec:
        return ExperimentSpec.model_validate(
            self.model_dump(by_alias=True, exclude={"experiment_id"}, exclude_none=True)
        )


def experiment_view(experiment: Experiment) -> dict[str, Any]:
    status = experiment.status
    return {
        "experimentId": experiment.metadata.name,
        "namespace": experiment.metadata.namespace,
        "modelId": experiment.spec.model_name,
        "objective": experiment.spec.objective.to_wire(),
        "trials": {
            "created": status.trials_created,
            "running": status.trials_running,
            "succeeded": status.trials_succeeded,
            "failed": status.trials_failed,
            "pruned": status.trials_pruned,
        },
        "bestTrial": status.best_trial.to_wire() if status.best_trial else None,
        "conditions": [c.model_dump(mode="json", by_alias=True) for c in status.conditions],
        "experiment": experiment.to_wire(),
    }


@router.post("/mlops/experiments", status_code=201, summary="Start a hyperparameter search")
def create(
    body: ExperimentRequest,
    scope: Annotated[Scope, Depends(Access(Permission("create", "experiments")))],
) -> dict[str, Any]:
    created = experiments.create_experiment(scope.target, body.spec(), name=body.experiment_id)
    return experiment_view(created)


@router.get("/mlops/experiments/{experimentId}", summary="A search's trials and best trial")
def get(
    experiment_id: Annotated[
        str, Path(alias="experimentId", max_length=OBJECT_NAME_MAX, pattern=OBJECT_NAME_PATTERN)
    ],
    scope: Annotated[Scope, Depends(Access(Permission("get", "experiments")))],
) -> dict[str, Any]:
    return experiment_view(experiments.get_experiment(scope.target, experiment_id))


class CompareExperimentsRequest(WireModel):
    experiment_ids: list[ExperimentName] = Field(min_length=2, max_length=COMPARE_MAX)


@router.post("/mlops/experiments/compare", summary="Searches side by side")
def compare(
    body: CompareExperimentsRequest,
    scope: Annotated[Scope, Depends(Access(Permission("get", "experiments")))],
) -> dict[str, Any]:
    result = experiments.compare(scope.target, body.experiment_ids)
    return {
        "comparable": result.comparable,
        "best": result.best,
        "experiments": [
            {
                "experimentId": row.name,
                "modelId": row.model,
                "metric": row.metric,
                "direction": row.direction,
                "strategy": row.strategy,
                "trialsCreated": row.trials_created,
                "trialsSucceeded": row.trials_succeeded,
                "trialsFailed": row.trials_failed,
                "trialsPruned": row.trials_pruned,
                "succeeded": row.succeeded,
                "bestValue": row.best_value,
                "bestTrial": row.best_trial,
                "bestParams": row.best_params,
                "bestModelVersion": row.best_model_version,
            }
            for row in result.rows
        ],
    }
