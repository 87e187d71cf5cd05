"""The search's parent run in MLflow (when the operator has a tracking URI): started before
the first trial, so every trial's run nests under it, and finished with the best result.
MLflow being down never holds the search up: the trials then log as runs of their own."""

from __future__ import annotations

import logging

from mlops_operator.adapters.mlflow_runs import MlflowRuns, MlflowUnavailableError
from mlops_operator.api.experiment import Experiment
from mlops_operator.builders.experiment_trial import mlflow_experiment_of
from mlops_operator.context import OperatorContext
from mlops_operator.search.record import TrialRecord

log = logging.getLogger(__name__)


def search_params(experiment: Experiment) -> dict[str, str]:
    spec = experiment.spec
    params = {
        "strategy": spec.strategy,
        "objective": f"{spec.objective.direction} {spec.objective.metric}",
        "maxTrials": str(spec.max_trials),
        "parallelTrials": str(spec.parallel_trials),
        "seed": str(spec.seed),
        "pruner": spec.pruner.type if spec.pruner else "none",
    }
    for parameter in spec.search_space:
        if parameter.type == "categorical":
            params[f"space.{parameter.name}"] = ", ".join(parameter.values or [])
        else:
            scale = " log" if parameter.log else ""
            params[f"space.{parameter.name}"] = f"{parameter.low}..{parameter.high}{scale}"
    return params


def parent_run(ctx: OperatorContext, experiment: Experiment) -> str | None:
    uri = ctx.settings.mlflow_tracking_uri
    if not uri:
        return None
    if experiment.status.mlflow_run_id:
        return experiment.status.mlflow_run_id
    try:
        return MlflowRuns(uri).parent_run(
            mlflow_experiment=mlflow_experiment_of(experiment),
            uid=experiment.metadata.uid or experiment.metadata.name,
            name=experiment.metadata.name,
            params=search_params(experiment),
        )
    except MlflowUnavailableError as exc:
        log.warning("MLflow: no parent run for Experiment %s: %s", experiment.metadata.name, exc)
        return None


def finish_parent_run(
    ctx: OperatorContext,
    experiment: Experiment,
    run_id: str,
    *,
    succeeded: bool,
    best: TrialRecord | None,
    reason: str,
) -> None:
    uri = ctx.settings.mlflow_tracking_uri
    if not uri:
        return
    metrics: dict[str, float] = {}
    tags = {"mlops.result": reason}
    if best is not None and best.value is not None:
        metrics[f"best_{experiment.spec.objective.metric}"] = best.value
        tags["mlops.best_trial"] = best.name
        tags.update({f"best.{k}": str(v) for k, v in best.plan.params.items()})
    try:
        MlflowRuns(uri).finish(run_id, succeeded=succeeded, metrics=metrics, tags=tags)
    except MlflowUnavailableError as exc:
        log.warning("MLflow: could not finish run %s: %s", run_id, exc)
