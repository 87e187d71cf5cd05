"""One reconcile of an Experiment: read its trials, rebuild the study, prune, decide, start
trials, register the winner, write the status.

Level-triggered and idempotent. The Experiment's trials are its whole state: each reconcile
lists them, replays the study from them (``search/study.py``; the study the last reconcile
left is reused when the trials are the same, ``search/study_cache.py``) and moves the search
one step.
Trials have deterministic names (``<experiment>-t<number>``) and are created with server-side
apply, and the study asks for trial *n* only once trials 0…n-1 exist, so a reconcile repeated
or resumed after the operator was killed neither creates a trial twice nor loses one.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from mlops_operator.api.experiment import Experiment
from mlops_operator.api.meta import API_VERSION
from mlops_operator.api.training_job import TrainingJob
from mlops_operator.builders.experiment_trial import build_trial, trial_name
from mlops_operator.context import OperatorContext
from mlops_operator.reconcile.experiment_mlflow import finish_parent_run, parent_run
from mlops_operator.reconcile.experiment_status import (
    Stage,
    experiment_status,
    stage_of,
    stalled_stage,
)
from mlops_operator.reconcile.experiment_study import search_capacity, study_settings
from mlops_operator.reconcile.experiment_trials import (
    list_trials,
    needs_stopping,
    save_pruner_attrs,
    stop_trial,
    trial_record,
)
from mlops_operator.reconcile.experiment_winner import register_winner
from mlops_operator.reconcile.notes import EventType, Note, Outcome
from mlops_operator.search.decisions import SearchVerdict, best_trial, decide
from mlops_operator.search.record import ANNOTATION_END, TrialEnd, TrialRecord
from mlops_operator.search.study import SearchStudy
from mlops_operator.search.template import search_space_problems

log = logging.getLogger(__name__)

#: a safety look at a running search; trial changes arrive as watch events
POLL_SECONDS = 30.0
WINNER_RETRY_SECONDS = 5.0


def _parse(body: Mapping[str, Any]) -> Experiment:
    metadata = {k: v for k, v in (body.get("metadata") or {}).items() if k != "managedFields"}
    return Experiment.from_body({**body, "metadata": metadata})


def _write_status(
    ctx: OperatorContext, experiment: Experiment, stage: Stage, **kwargs: Any
) -> None:
    status = experiment_status(experiment, stage=stage, now=datetime.now(UTC), **kwargs)
    if status == experiment.status:
        return
    old, new = experiment.status.to_wire(), status.to_wire()
    if {k: v for k, v in old.items() if k != "conditions"} == {
        k: v for k, v in new.items() if k != "conditions"
    } and [(c.type, c.status, c.reason, c.message) for c in experiment.status.conditions] == [
        (c.type, c.status, c.reason, c.message) for c in status.conditions
    ]:
        return
    ctx.kube.merge_patch(
        API_VERSION,
        "Experiment",
        experiment.metadata.name,
        experiment.metadata.namespace,
        {"status": new},
        subresource="status",
    )


def _prune(
    ctx: OperatorContext,
    experiment: Experiment,
    study: SearchStudy,
    records: dict[int, TrialRecord],
    trials: dict[int, TrainingJob],
    outcome: Outcome,
) -> None:
    pruner = experiment.spec.pruner
    running = [record for record in records.values() if record.state == "running"]
    if pruner is None or not running:
        return
    metric = experiment.spec.objective.metric
    for check in study.check_pruning(running):
        tj = trials[check.number]
        if check.pruner_attrs is not None:
            save_pruner_attrs(ctx, tj, check.pruner_attrs)
        if not check.prune:
            continue
        reason = (
            f"pruned by the {pruner.type} pruner at epoch {check.epoch}: "
            f"{metric} = {check.value:.6g}"
        )
        end = TrialEnd(
            state="pruned",
            epoch=check.epoch,
            value=check.value,
            intermediate={str(step): value for step, value in check.intermediate.items()},
            reason=reason,
        )
        stop_trial(ctx, tj, end, reason="Pruned")
        records[check.number] = replace(
            records[check.number],
            state="pruned",
            value=check.value,
            reason=reason,
            intermediate=dict(check.intermediate),
        )
        outcome.notes.append(Note("Normal", "TrialPruned", f"{tj.metadata.name}: {reason}"))


def _stop_all(
    ctx: OperatorContext,
    verdict: SearchVerdict,
    records: dict[int, TrialRecord],
    trials: dict[int, TrainingJob],
) -> None:
    for number in verdict.to_stop:
        reason = f"the search ended ({verdict.ended}) while it ran"
        end = TrialEnd(state="stopped", reason=reason)
        stop_trial(ctx, trials[number], end, reason="SearchEnded")
        records[number] = replace(records[number], state="stopped", reason=reason)


def _missing_metric(experiment: Experiment, records: dict[int, TrialRecord]) -> str | None:
    metric = experiment.spec.objective.metric
    for record in records.values():
        if record.state == "succeeded" and record.value is None:
            return (
                f"trial {record.name} succeeded but reported no {metric}: set objective.metric "
                "to a metric in the trials' status.metrics (val_roc_auc needs two classes)"
            )
    return None


def _observe(
    ctx: OperatorContext, experiment: Experiment, trials: dict[int, TrainingJob]
) -> dict[int, TrialRecord]:
    """The trials as search records; a trial whose end was recorded by a reconcile that did
    not get to stop it is stopped now."""
    records: dict[int, TrialRecord] = {}
    for number, tj in trials.items():
        record = trial_record(tj, metric=experiment.spec.objective.metric)
        if record is not None:
            records[number] = record
        if needs_stopping(tj):
            end = TrialEnd.from_annotation(tj.metadata.annotations[ANNOTATION_END])
            stop_trial(ctx, tj, end, reason="Pruned" if end.state == "pruned" else "SearchEnded")
    return records


def _start_trials(
    ctx: OperatorContext,
    experiment: Experiment,
    study: SearchStudy,
    records: dict[int, TrialRecord],
    count: int,
    *,
    mlflow_run: str | None,
    outcome: Outcome,
) -> None:
    """Ask the study for ``count`` trials and create their TrainingJobs."""
    name = experiment.metadata.name
    finished = [record for record in records.values() if record.finished_for_study]
    created = []
    for plan in study.ask(count, finished=finished):
        ctx.kube.apply(build_trial(experiment, plan, mlflow_parent_run=mlflow_run))
        records[plan.number] = TrialRecord(
            plan=plan, state="running", name=trial_name(name, plan.number)
        )
        created.append(trial_name(name, plan.number))
    outcome.notes.append(Note("Normal", "TrialsCreated", f"started {', '.join(created)}"))


def _conclude(
    ctx: OperatorContext,
    experiment: Experiment,
    verdict: SearchVerdict,
    records: dict[int, TrialRecord],
    trials: dict[int, TrainingJob],
    outcome: Outcome,
) -> tuple[Stage, str | None]:
    """The stage the search is in, with the winner registered once it has ended well; the
    winner's ModelVersion."""
    best = best_trial(list(records.values()), experiment.spec.objective.direction)
    if not verdict.succeeded or best is None:
        return stage_of(verdict, started=bool(records)), None
    registration = register_winner(ctx, experiment, best, trials[best.number])
    if registration.refused is not None:
        return stalled_stage("WinnerConflict", registration.refused), None
    if registration.created:
        outcome.notes.append(
            Note(
                "Normal",
                "WinnerRegistered",
                f"registered {registration.model_version} from {best.name} "
                f"({experiment.spec.objective.metric} = {best.value:.6g}) at stage "
                f"{experiment.spec.winner.stage}",
            )
        )
    stage = stage_of(verdict, started=True, winner_pending=registration.pending)
    return stage, registration.model_version


def _announce_end(
    ctx: OperatorContext,
    experiment: Experiment,
    stage: Stage,
    records: dict[int, TrialRecord],
    *,
    mlflow_run: str | None,
    outcome: Outcome,
) -> None:
    """The Event, and the MLflow parent run finished, when the search has just ended."""
    if stage.phase == experiment.status.phase or stage.phase not in ("Succeeded", "Failed"):
        return
    kind: EventType = "Normal" if stage.phase == "Succeeded" else "Warning"
    outcome.notes.append(Note(kind, stage.reason, stage.message))
    if mlflow_run is not None:
        finish_parent_run(
            ctx,
            experiment,
            mlflow_run,
            succeeded=stage.phase == "Succeeded",
            best=best_trial(list(records.values()), experiment.spec.objective.direction),
            reason=stage.reason,
        )


def reconcile_experiment(ctx: OperatorContext, namespace: str, name: str) -> Outcome:
    """Move the search of Experiment ``namespace/name`` one step further."""
    outcome = Outcome()
    with ctx.lock(f"experiment/{namespace}/{name}"):
        body = ctx.kube.get(API_VERSION, "Experiment", name, namespace)
        if body is None or body["metadata"].get("deletionTimestamp"):
            return outcome
        experiment = _parse(body)
        trials = list_trials(ctx, experiment)
        problems = search_space_problems(experiment.spec)
        if problems and not trials:
            stage = stalled_stage("InvalidSearchSpace", "; ".join(problems))
            _announce_end(ctx, experiment, stage, {}, mlflow_run=None, outcome=outcome)
            _write_status(ctx, experiment, stage, records=[], model_version=None)
            return outcome
        records = _observe(ctx, experiment, trials)
        settings = study_settings(experiment)
        uid = experiment.metadata.uid or f"{namespace}/{name}"
        study = ctx.studies.take(uid, settings, list(records.values()))
        if study.drift:
            log.warning(
                "Experiment %s/%s: study rebuilt approximately: %s", namespace, name, study.drift
            )
        missing = _missing_metric(experiment, records)
        if missing is not None:
            running = [n for n, r in records.items() if r.state == "running"]
            _stop_all(
                ctx, SearchVerdict(ended="TooManyFailedTrials", to_stop=running), records, trials
            )
            stage = stalled_stage("MetricNotReported", missing)
            _announce_end(ctx, experiment, stage, records, mlflow_run=None, outcome=outcome)
            _write_status(
                ctx, experiment, stage, records=list(records.values()), model_version=None
            )
            return outcome
        _prune(ctx, experiment, study, records, trials, outcome)
        verdict = decide(
            experiment.spec, list(records.values()), capacity=search_capacity(settings)
        )
        _stop_all(ctx, verdict, records, trials)
        mlflow_run = parent_run(ctx, experiment)
        if verdict.to_create:
            _start_trials(
                ctx,
                experiment,
                study,
                records,
                verdict.to_create,
                mlflow_run=mlflow_run,
                outcome=outcome,
            )
        stage, model_version = _conclude(ctx, experiment, verdict, records, trials, outcome)
        _announce_end(ctx, experiment, stage, records, mlflow_run=mlflow_run, outcome=outcome)
        _write_status(
            ctx,
            experiment,
            stage,
            records=list(records.values()),
            model_version=model_version,
            mlflow_run_id=mlflow_run,
        )
        ctx.studies.keep(uid, study, trials=len(records))
        if verdict.ended is None:
            outcome.requeue(POLL_SECONDS)
        elif stage.reason == "RegisteringWinner":
            outcome.requeue(WINNER_RETRY_SECONDS)
    return outcome
