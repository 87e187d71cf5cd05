"""``/mlops/experiments``: hyperparameter searches as Experiment resources."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path
from pydantic import Field, model_validator

from mlops_core.wire import WireModel
from mlops_operator.api.experiment import Experiment, ExperimentSpec
from mlops_operator.api.meta import LABEL_NAME_MAX, OBJECT_NAME_MAX, OBJECT_NAME_PATTERN
from mlops_operator.api.training_job import TrainingRunSpec
from mlops_operator.operations import experiments
from mlops_operator.rest.access import Access, Scope
from mlops_operator.rest.auth import Permission
from mlops_operator.rest.service_bodies import experiment_body
from mlops_operator.rest.views import ERRORS, ExperimentView, TrialCounts

router = APIRouter(tags=["experiments"], responses=ERRORS)

ExperimentName = Annotated[str, Field(max_length=OBJECT_NAME_MAX, pattern=OBJECT_NAME_PATTERN)]
COMPARE_MAX = 20


class ExperimentRequest(ExperimentSpec):
    """The Experiment's spec (camelCase, as in its manifest), plus an optional name; or the
    service's ``{"config": {...}}`` (``service_bodies.experiment_body``). The model and the
    trial template may be left out: see ``operations.experiments.search_model`` and
    ``trial_template_of``."""

    experiment_id: ExperimentName | None = Field(
        default=None, description="Name of the Experiment (default: generated)."
    )
    model_name: str | None = Field(  # type: ignore[assignment]
        default=None,
        max_length=LABEL_NAME_MAX,
        description="The Model the trials train (default: the model whose name begins the "
        "experimentId, else the namespace's only model).",
    )
    trial_template: TrainingRunSpec | None = Field(  # type: ignore[assignment]
        default=None,
        description="The TrainingJob every trial runs (default: the spec of the TrainingJob "
        "that produced the model's production version, else its latest version).",
    )

    @model_validator(mode="before")
    @classmethod
    def _service_shape(cls, body: Any) -> Any:
        return experiment_body(body)

    @model_validator(mode="after")
    def _consistent(self) -> ExperimentRequest:
        """Checked as a whole by ``spec``, once the defaults are known."""
        return self

    def spec(self, model: str, template: TrainingRunSpec) -> ExperimentSpec:
        given = self.model_dump(
            by_alias=True, exclude={"experiment_id", "model_name", "trial_template"}
        )
        return ExperimentSpec.model_validate(
            {**given, "modelName": model, "trialTemplate": template.to_wire()}
        )


def experiment_view(experiment: Experiment) -> ExperimentView:
    status = experiment.status
    return ExperimentView(
        experiment_id=experiment.metadata.name,
        namespace=experiment.metadata.namespace,
        model_id=experiment.spec.model_name,
        objective=experiment.spec.objective,
        trials=TrialCounts(
            created=status.trials_created,
            running=status.trials_running,
            succeeded=status.trials_succeeded,
            failed=status.trials_failed,
            pruned=status.trials_pruned,
        ),
        best_trial=status.best_trial,
        conditions=status.conditions,
        experiment=experiment.to_wire(),
    )


@router.post("/mlops/experiments", status_code=201, summary="Start a hyperparameter search")
def create(
    body: ExperimentRequest,
    scope: Annotated[Scope, Depends(Access(Permission("create", "experiments")))],
) -> ExperimentView:
    """Without a model or a trial template, the caller must also be allowed to read what
    they are taken from (the Models; the ModelVersions and TrainingJobs)."""
    target = scope.target
    if body.model_name is None:
        scope.require(Permission("list", "models"), Permission("list", "modelversions"))
    model = body.model_name or experiments.search_model(target, body.experiment_id)
    if body.trial_template is None:
        scope.require(Permission("list", "modelversions"), Permission("get", "trainingjobs"))
    template = body.trial_template or experiments.trial_template_of(target, model)
    spec = body.spec(model, template)
    created = experiments.create_experiment(target, spec, name=body.experiment_id)
    return experiment_view(created)


@router.get("/mlops/experiments/{experimentId}", summary="A search's trials and best trial")
def get(
    experiment_id: Annotated[
        str, Path(alias="experimentId", max_length=OBJECT_NAME_MAX, pattern=OBJECT_NAME_PATTERN)
    ],
    scope: Annotated[Scope, Depends(Access(Permission("get", "experiments")))],
) -> ExperimentView:
    return experiment_view(experiments.get_experiment(scope.target, experiment_id))


class CompareExperimentsRequest(WireModel):
    experiment_ids: list[ExperimentName] = Field(min_length=2, max_length=COMPARE_MAX)


@router.post("/mlops/experiments/compare", summary="Searches side by side")
def compare(
    body: CompareExperimentsRequest,
    scope: Annotated[Scope, Depends(Access(Permission("get", "experiments")))],
) -> experiments.ExperimentComparison:
    return experiments.compare(scope.target, body.experiment_ids)
