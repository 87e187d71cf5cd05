"""Hyperparameter searches: create an Experiment, read one with its trials, compare several."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Final

from pydantic import Field
from pydantic.dataclasses import dataclass as wire_dataclass

from mlops_core.wire import WIRE_RESULT
from mlops_operator.api.conditions import SUCCEEDED, find_condition
from mlops_operator.api.experiment import Direction, Experiment, ExperimentSpec
from mlops_operator.api.meta import API_VERSION
from mlops_operator.api.training_job import TrainingJob, TrainingRunSpec
from mlops_operator.builders.experiment_trial import trial_selector
from mlops_operator.operations.errors import InvalidRequestError, NotFoundError
from mlops_operator.operations.registry import (
    get_model,
    list_models,
    model_versions,
    versions_by_model,
)
from mlops_operator.operations.target import Target
from mlops_operator.reconcile.experiment_trials import trial_record
from mlops_operator.search.record import TrialRecord, TrialState

STATE_TEXT: Final[dict[TrialState, str]] = {
    "running": "Running",
    "succeeded": "Succeeded",
    "failed": "Failed",
    "pruned": "Pruned",
    "stopped": "Stopped",
}


def create_experiment(target: Target, spec: ExperimentSpec, *, name: str | None) -> Experiment:
    """Create an Experiment named ``name``, or ``<model>-search-<random>``."""
    metadata: dict[str, object] = {"namespace": target.namespace}
    if name:
        metadata["name"] = name
    else:
        metadata["generateName"] = f"{spec.model_name[:40]}-search-"
    created = target.kube.create(
        {
            "apiVersion": API_VERSION,
            "kind": "Experiment",
            "metadata": metadata,
            "spec": spec.to_wire(),
        }
    )
    return Experiment.from_body(created)


def search_model(target: Target, experiment: str | None) -> str:
    """The model of a search that names none: the one whose name begins the Experiment's name
    (``threat-classifier-tuning`` → ``threat-classifier``), else the namespace's only model.
    Models are those with a Model object or a ModelVersion."""
    names = sorted({m.metadata.name for m in list_models(target)} | set(versions_by_model(target)))
    if experiment:
        prefixes = [n for n in names if experiment == n or experiment.startswith(f"{n}-")]
        if prefixes:
            return max(prefixes, key=len)
    if len(names) == 1:
        return names[0]
    known = ", ".join(names) or "none"
    raise InvalidRequestError(
        f"name the model the trials train (config.modelId, or modelName): the Experiment's "
        f"name does not begin with a model's name (models in namespace {target.namespace}: "
        f"{known})"
    )


def trial_template_of(target: Target, model: str) -> TrainingRunSpec:
    """The spec of the TrainingJob that produced ``model``'s production version, else its
    latest version that a TrainingJob still here produced: a search's default trial
    template, the searched values then set per trial."""
    found = get_model(target, model)
    versions = model_versions(target, model)
    production = found.status.production_version if found else None
    # production first, then the newest
    ordered = sorted(versions, key=lambda mv: mv.spec.version != production)
    for mv in ordered:
        name = mv.spec.lineage.training_job
        body = target.kube.get(API_VERSION, "TrainingJob", name, target.namespace) if name else None
        if body is not None:
            job = TrainingJob.from_body(body)
            return TrainingRunSpec.model_validate(
                job.spec.model_dump(by_alias=True, exclude={"model_name", "registration"})
            )
    what = (
        f"none of its {len(versions)} versions was produced by a TrainingJob that still exists"
        if versions
        else "it has no version"
    )
    raise InvalidRequestError(
        f"a search of model {model!r} needs a trialTemplate: {what} in namespace "
        f"{target.namespace} to take one from; give trialTemplate (a TrainingJob's spec) or "
        "train the model first (POST /mlops/train)"
    )


def get_experiment(target: Target, name: str) -> Experiment:
    body = target.kube.get(API_VERSION, "Experiment", name, target.namespace)
    if body is None:
        raise NotFoundError(
            f"no Experiment {name!r} in namespace {target.namespace}: "
            "list them with kubectl get mlexp"
        )
    return Experiment.from_body(body)


@dataclass(frozen=True)
class TrialRow:
    """One trial as a person compares them."""

    number: int
    name: str
    state: str
    value: float | None
    params: dict[str, str]
    epochs: int
    duration_seconds: float | None
    reason: str | None


@dataclass(frozen=True)
class ExperimentReport:
    """An Experiment and its trials, best first (``records``: the trials as the search sees
    them, for plots)."""

    experiment: Experiment
    trials: list[TrialRow]
    records: list[TrialRecord]


def _duration(record: TrialRecord, *, now: datetime) -> float | None:
    if record.started is None:
        return None
    return ((record.finished or now) - record.started).total_seconds()


def experiment_report(target: Target, name: str) -> ExperimentReport:
    """The Experiment's trials sorted by objective value (best first; no value last)."""
    experiment = get_experiment(target, name)
    metric = experiment.spec.objective.metric
    records = []
    for body in target.kube.list(
        API_VERSION, "TrainingJob", target.namespace, label_selector=trial_selector(name)
    ):
        record = trial_record(TrainingJob.from_body(body), metric=metric)
        if record is not None:
            records.append(record)
    now = datetime.now(UTC)
    sign = -1.0 if experiment.spec.objective.direction == "maximize" else 1.0
    ordered = sorted(records, key=lambda r: (r.value is None, sign * (r.value or 0.0), r.number))
    rows = [
        TrialRow(
            number=record.number,
            name=record.name,
            state=STATE_TEXT[record.state],
            value=record.value,
            params={key: str(value) for key, value in record.plan.params.items()},
            epochs=record.epochs,
            duration_seconds=_duration(record, now=now),
            reason=record.reason,
        )
        for record in ordered
    ]
    return ExperimentReport(experiment=experiment, trials=rows, records=records)


@wire_dataclass(frozen=True, config=WIRE_RESULT)
class ExperimentRow:
    """One Experiment in a comparison."""

    name: Annotated[str, Field(serialization_alias="experimentId")]
    model: Annotated[str, Field(serialization_alias="modelId")]
    metric: str
    direction: Direction
    strategy: str
    phase: str
    trials_created: int
    trials_succeeded: int
    trials_failed: int
    trials_pruned: int
    trials_running: int
    succeeded: bool | None
    best_value: float | None
    best_trial: str | None
    best_params: dict[str, str]
    best_model_version: str | None


@wire_dataclass(frozen=True, config=WIRE_RESULT)
class ExperimentComparison:
    rows: Annotated[list[ExperimentRow], Field(serialization_alias="experiments")]
    #: the Experiment with the best objective value; None when they optimise different
    #: metrics or directions, or none has a finished trial
    best: Annotated[
        str | None,
        Field(
            description="The Experiment with the best value, when they share metric and direction."
        ),
    ]
    comparable: Annotated[
        bool, Field(description="Whether all optimise the same metric and direction.")
    ]


def _row(experiment: Experiment) -> ExperimentRow:
    spec, status = experiment.spec, experiment.status
    done = find_condition(status.conditions, SUCCEEDED)
    best = status.best_trial
    return ExperimentRow(
        name=experiment.metadata.name,
        model=spec.model_name,
        metric=spec.objective.metric,
        direction=spec.objective.direction,
        strategy=spec.strategy,
        phase=status.phase or "Pending",
        trials_created=status.trials_created,
        trials_succeeded=status.trials_succeeded,
        trials_failed=status.trials_failed,
        trials_pruned=status.trials_pruned,
        trials_running=status.trials_running,
        succeeded=None if done is None or done.status == "Unknown" else done.status == "True",
        best_value=best.value if best else None,
        best_trial=best.training_job if best else None,
        best_params=dict(best.params) if best else {},
        best_model_version=best.model_version if best else None,
    )


def compare_experiments(experiments: list[Experiment]) -> ExperimentComparison:
    """Side by side, and which one is best when they share metric and direction. Pure."""
    rows = [_row(e) for e in experiments]
    comparable = len({(r.metric, r.direction) for r in rows}) == 1
    scored = [r for r in rows if r.best_value is not None]
    best = None
    if comparable and scored:
        pick = max if rows[0].direction == "maximize" else min
        best = pick(scored, key=lambda r: r.best_value or 0.0).name
    return ExperimentComparison(rows=rows, best=best, comparable=comparable)


def compare(target: Target, names: list[str]) -> ExperimentComparison:
    if len(names) < 2:
        raise InvalidRequestError("name at least two Experiments to compare")
    return compare_experiments([get_experiment(target, name) for name in names])
