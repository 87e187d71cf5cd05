"""Experiment: a hyperparameter search whose trials are TrainingJobs.

Optuna drives it ask-and-tell; the study is rebuilt from the trial TrainingJobs on every
reconcile, so the Experiment's children are its whole state.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Final, Literal

from pydantic import ConfigDict, Field, model_validator

from mlops_core.wire import WireModel
from mlops_operator.api.cel import rule, validations
from mlops_operator.api.conditions import SUCCEEDED, ResourceStatus
from mlops_operator.api.meta import (
    LABEL_NAME_MAX,
    LABEL_NAME_PATTERN,
    OBJECT_NAME_MAX,
    CustomResource,
    PrinterColumn,
    ResourceKind,
    age_column,
    condition_column,
)
from mlops_operator.api.name_limits import EXPERIMENT_NAME_RULE
from mlops_operator.api.search_space import (
    PARAMETER_KIND_RULE,
    PARAMETERS_MAX,
    TRIALS_MAX,
    Pruner,
    SearchParameter,
    kind_problem,
)
from mlops_operator.api.training_job import TrainingRunSpec

Direction = Literal["minimize", "maximize"]
ExperimentPhase = Literal["Pending", "Running", "Succeeded", "Failed"]
TrialPhase = Literal["Running", "Succeeded", "Failed", "Pruned", "Stopped"]
#: metrics every trial reports per epoch whatever its model.metrics (see the trainer's loop)
ALWAYS_REPORTED: Final = ("train_loss", "val_loss")


def reported_metrics(metric_names: list[str]) -> list[str]:
    """The per-epoch metrics of a trial whose ``model.metrics`` is ``metric_names``."""
    return sorted({*ALWAYS_REPORTED, *(f"val_{name}" for name in metric_names)})


SearchStrategy = Literal["random", "grid", "bayesian", "cmaes", "quasi-random"]
WinnerStage = Literal["draft", "staging", "production"]

PARALLEL_MAX: Final = 64


class Objective(WireModel):
    """What the search optimises."""

    metric: str = Field(
        min_length=1,
        max_length=64,
        description="Metric reported by the trials, e.g. val_accuracy or val_loss; the "
        "per-epoch values feed the pruner, the final value ranks the trial.",
    )
    direction: Direction = Field(description="minimize or maximize.")
    goal: float | None = Field(
        default=None,
        description="Stop the search early once a trial reaches this value.",
    )


class WinnerPolicy(WireModel):
    """What happens to the best trial when the search ends."""

    register_model: bool = Field(
        default=True,
        alias="register",
        description="Register the best trial's artifact as a ModelVersion.",
    )
    stage: WinnerStage = Field(
        default="draft",
        description="Stage of that ModelVersion: draft, staging or production (subject to the "
        "Model's registry policy).",
    )


class ExperimentSpec(WireModel):
    """A hyperparameter search over a TrainingJob template."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            rule(
                "self.parallelTrials <= self.maxTrials",
                "parallelTrials must not exceed maxTrials",
                field_path=".parallelTrials",
            ),
            PARAMETER_KIND_RULE,
            rule(
                "self.modelName == oldSelf.modelName && self.objective == oldSelf.objective "
                "&& self.searchSpace == oldSelf.searchSpace && self.strategy == oldSelf.strategy "
                "&& has(self.seed) == has(oldSelf.seed) && (!has(self.seed) || self.seed == "
                "oldSelf.seed) && has(self.pruner) == has(oldSelf.pruner) && (!has(self.pruner) "
                "|| self.pruner == oldSelf.pruner) && self.trialTemplate == oldSelf.trialTemplate",
                "only maxTrials, parallelTrials, maxFailedTrials and winner can change once an "
                "Experiment exists: its trials were planned from the rest; create a new "
                "Experiment to search differently",
            ),
            rule(
                "self.objective.metric in ['train_loss', 'val_loss'] || "
                "self.trialTemplate.model.metrics.exists(m, 'val_' + m == self.objective.metric)",
                "objective.metric must be a metric the trials report every epoch: train_loss, "
                "val_loss, or val_<name> for a name in trialTemplate.model.metrics",
                field_path=".objective.metric",
            ),
            rule(
                "self.strategy != 'grid' || self.searchSpace.all(p, p.type != 'float' "
                "|| has(p.step))",
                "grid search needs a finite space: give every float parameter a step",
                field_path=".searchSpace",
            ),
        )
    )

    model_name: str = Field(
        min_length=1,
        max_length=LABEL_NAME_MAX,
        pattern=LABEL_NAME_PATTERN,
        description="Name of the Model (same namespace) the trials train.",
    )
    objective: Objective = Field(description="Metric and direction to optimise.")
    search_space: list[SearchParameter] = Field(
        min_length=1,
        max_length=PARAMETERS_MAX,
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]},
        description="The hyperparameters searched, one entry per template field.",
    )
    strategy: SearchStrategy = Field(
        default="bayesian",
        description="random, grid, bayesian (TPE), cmaes (CMA-ES) or quasi-random (Sobol).",
    )
    seed: int | None = Field(
        default=None,
        ge=0,
        le=2**31 - 1,
        description="Seed of the sampler, for repeatable searches.",
    )
    max_trials: int = Field(default=10, ge=1, le=TRIALS_MAX, description="Trials to run in total.")
    parallel_trials: int = Field(
        default=1,
        ge=1,
        le=PARALLEL_MAX,
        description="Trials running at the same time, at most. With a queue in the trial "
        "template the trials wait there for quota: fewer may run at once, never more.",
    )
    max_failed_trials: int = Field(
        default=3,
        ge=0,
        le=TRIALS_MAX,
        description="Failed trials tolerated; one more fails the Experiment.",
    )
    pruner: Pruner | None = Field(
        default=None, description="Early stopping of bad trials; none when unset."
    )
    winner: WinnerPolicy = Field(
        default_factory=WinnerPolicy, description="What to do with the best trial."
    )
    trial_template: TrainingRunSpec = Field(
        description="The TrainingJob every trial runs, before the searched values are set."
    )

    @model_validator(mode="after")
    def _consistent(self) -> ExperimentSpec:
        if self.parallel_trials > self.max_trials:
            raise ValueError("parallelTrials must not exceed maxTrials")
        if self.strategy == "grid" and any(
            item.type == "float" and item.step is None for item in self.search_space
        ):
            raise ValueError("grid search needs a finite space: give every float parameter a step")
        for item in self.search_space:
            problem = kind_problem(item.name, item.type)
            if problem is not None:
                raise ValueError(f"searchSpace: {problem}")
        metrics = reported_metrics(list(self.trial_template.model.metrics))
        if self.objective.metric not in metrics:
            raise ValueError(
                f"objective.metric {self.objective.metric!r} is not reported by the trials: "
                f"use one of {', '.join(metrics)} (val_<name> for each of "
                "trialTemplate.model.metrics)"
            )
        names = [item.name for item in self.search_space]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(
                f"searchSpace names a parameter more than once: {', '.join(duplicates)}"
            )
        return self


ParameterValue = Annotated[str, Field(max_length=256)]


class BestTrial(WireModel):
    """The best finished trial so far."""

    number: int = Field(ge=0, description="Trial number, from 0.")
    training_job: str = Field(max_length=OBJECT_NAME_MAX, description="The trial's TrainingJob.")
    value: float = Field(description="Its objective value.")
    params: dict[str, ParameterValue] = Field(
        default_factory=dict,
        max_length=PARAMETERS_MAX,
        description="Its parameter values, as text, by parameter name.",
    )
    model_version: str | None = Field(
        default=None,
        max_length=OBJECT_NAME_MAX,
        description="ModelVersion registered from it, once the search has ended.",
    )


class TrialFailure(WireModel):
    """Why one trial failed."""

    training_job: str = Field(max_length=OBJECT_NAME_MAX, description="The trial's TrainingJob.")
    reason: str = Field(max_length=1024, description="Its failure reason and message.")


FAILURES_MAX: Final = 20


class ExperimentStatus(ResourceStatus):
    """Trial counts, the best trial and where the search is."""

    phase: ExperimentPhase | None = Field(
        default=None, description="Pending, Running, Succeeded or Failed."
    )
    trials_created: int = Field(default=0, ge=0, description="Trials started so far.")
    trials_queued: int = Field(
        default=0,
        ge=0,
        description="Trials waiting in their Kueue queue for quota (neither running nor failed).",
    )
    trials_running: int = Field(default=0, ge=0, description="Trials running now.")
    trials_succeeded: int = Field(default=0, ge=0, description="Trials that finished.")
    trials_failed: int = Field(default=0, ge=0, description="Trials that failed.")
    trials_pruned: int = Field(default=0, ge=0, description="Trials stopped by the pruner.")
    trials_stopped: int = Field(
        default=0, ge=0, description="Trials stopped because the search ended before them."
    )
    trials_done: int = Field(
        default=0, ge=0, description="Trials that ended: succeeded, failed or pruned."
    )
    failures: list[TrialFailure] = Field(
        default_factory=list,
        max_length=FAILURES_MAX,
        description=f"The failed trials and why (the first {FAILURES_MAX}).",
    )
    best_trial: BestTrial | None = Field(default=None, description="The best trial so far.")
    mlflow_run_id: str | None = Field(
        default=None,
        max_length=64,
        description="The search's parent run in MLflow, when the operator logs to MLflow; "
        "each trial's run nests under it.",
    )
    start_time: datetime | None = Field(default=None, description="When the search started.")
    completion_time: datetime | None = Field(default=None, description="When it ended.")


class Experiment(CustomResource):
    """A hyperparameter search."""

    kind: Literal["Experiment"] = "Experiment"
    spec: ExperimentSpec
    status: ExperimentStatus = Field(default_factory=ExperimentStatus)


EXPERIMENT: Final = ResourceKind(
    kind="Experiment",
    plural="experiments",
    singular="experiment",
    short_names=("mlexp",),
    resource=Experiment,
    spec=ExperimentSpec,
    status=ExperimentStatus,
    description="Experiment is a hyperparameter search: an objective, a search space and a "
    "strategy (random, grid, TPE, CMA-ES, quasi-random) over a TrainingJob template, with "
    "trial limits, an optional pruner and what to do with the winner. Its trials are "
    "TrainingJobs it owns.",
    printer_columns=(
        PrinterColumn(name="Model", json_path=".spec.modelName", description="The Model."),
        PrinterColumn(name="Phase", json_path=".status.phase", description="Phase of the search."),
        PrinterColumn(
            name="Best",
            json_path=".status.bestTrial.value",
            type="number",
            description="Best objective value.",
        ),
        PrinterColumn(
            name="Done",
            json_path=".status.trialsDone",
            type="integer",
            description="Trials ended (succeeded, failed or pruned).",
        ),
        PrinterColumn(
            name="Of",
            json_path=".spec.maxTrials",
            type="integer",
            description="Trials asked for.",
        ),
        PrinterColumn(
            name="Queued",
            json_path=".status.trialsQueued",
            type="integer",
            description="Trials waiting in their queue.",
        ),
        PrinterColumn(
            name="Running",
            json_path=".status.trialsRunning",
            type="integer",
            description="Trials running now.",
        ),
        condition_column(SUCCEEDED),
        age_column(),
        PrinterColumn(
            name="Strategy", json_path=".spec.strategy", description="Sampler.", priority=1
        ),
        PrinterColumn(
            name="Best trial",
            json_path=".status.bestTrial.trainingJob",
            description="The best trial's TrainingJob.",
            priority=1,
        ),
    ),
    root_rules=(EXPERIMENT_NAME_RULE,),
)
