"""``mlops experiment NAME`` and ``mlops experiments compare A B``.

The operations (``experiment_report``, ``compare_experiments``) read the cluster and return
typed rows; ``render_*`` turn them into text. The REST API serves the same rows as JSON.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from mlops_operator.api.experiment import Experiment
from mlops_operator.api.meta import API_VERSION
from mlops_operator.api.training_job import TrainingJob
from mlops_operator.builders.experiment_trial import trial_selector
from mlops_operator.commands.output import number, table
from mlops_operator.commands.registry import CommandError, Target
from mlops_operator.reconcile.experiment_trials import trial_record
from mlops_operator.search.record import TrialRecord, TrialState

STATE_TEXT: dict[TrialState, str] = {
    "running": "Running",
    "succeeded": "Succeeded",
    "failed": "Failed",
    "pruned": "Pruned",
    "stopped": "Stopped",
}


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
    """An Experiment and its trials, best first."""

    experiment: Experiment
    trials: list[TrialRow]
    records: list[TrialRecord]


def _duration(record: TrialRecord, *, now: datetime) -> float | None:
    if record.started is None:
        return None
    return ((record.finished or now) - record.started).total_seconds()


def get_experiment(target: Target, name: str) -> Experiment:
    body = target.kube.get(API_VERSION, "Experiment", name, target.namespace)
    if body is None:
        raise CommandError(
            f"Experiment {name} not found in namespace {target.namespace}: "
            "list them with kubectl get mlexp"
        )
    return Experiment.from_body(body)


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
    ordered = sorted(
        records,
        key=lambda r: (r.value is None, sign * (r.value or 0.0), r.number),
    )
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


def _short(path: str) -> str:
    return path.rsplit(".", 1)[-1]


def render_report(report: ExperimentReport) -> str:
    experiment = report.experiment
    status = experiment.status
    objective = experiment.spec.objective
    names = [parameter.name for parameter in experiment.spec.search_space]
    headers = ["trial", "state", objective.metric, *map(_short, names), "epochs", "duration"]
    rows = [
        [
            row.name,
            row.state,
            number(row.value),
            *(row.params.get(name, "-") for name in names),
            row.epochs,
            "-" if row.duration_seconds is None else f"{row.duration_seconds:.0f}s",
        ]
        for row in report.trials
    ]
    best = status.best_trial
    summary = (
        f"{experiment.metadata.name}: {status.phase or 'Pending'}, "
        f"{status.trials_done} of {experiment.spec.max_trials} trials done "
        f"({objective.direction} {objective.metric}, {experiment.spec.strategy})"
    )
    if best is not None:
        summary += f"; best {best.training_job} = {number(best.value)}"
        if best.model_version:
            summary += f" → {best.model_version}"
    return summary + "\n\n" + (table(headers, rows) if rows else "no trials yet")


@dataclass(frozen=True)
class ExperimentSummary:
    name: str
    strategy: str
    metric: str
    direction: str
    phase: str
    best_value: float | None
    best_trial: str | None
    best_params: dict[str, str]
    counts: dict[str, int]


@dataclass(frozen=True)
class ExperimentComparison:
    left: ExperimentSummary
    right: ExperimentSummary
    #: parameter → (left best value, right best value)
    params: dict[str, tuple[str | None, str | None]]


def summarize(experiment: Experiment) -> ExperimentSummary:
    status = experiment.status
    best = status.best_trial
    return ExperimentSummary(
        name=experiment.metadata.name,
        strategy=experiment.spec.strategy,
        metric=experiment.spec.objective.metric,
        direction=experiment.spec.objective.direction,
        phase=status.phase or "Pending",
        best_value=best.value if best else None,
        best_trial=best.training_job if best else None,
        best_params=dict(best.params) if best else {},
        counts={
            "created": status.trials_created,
            "succeeded": status.trials_succeeded,
            "pruned": status.trials_pruned,
            "failed": status.trials_failed,
            "running": status.trials_running,
        },
    )


def compare_experiments(target: Target, left: str, right: str) -> ExperimentComparison:
    a, b = summarize(get_experiment(target, left)), summarize(get_experiment(target, right))
    keys = sorted(set(a.best_params) | set(b.best_params))
    return ExperimentComparison(
        left=a,
        right=b,
        params={key: (a.best_params.get(key), b.best_params.get(key)) for key in keys},
    )


def render_comparison(comparison: ExperimentComparison) -> str:
    a, b = comparison.left, comparison.right
    rows: list[list[object]] = [
        ["phase", a.phase, b.phase],
        ["strategy", a.strategy, b.strategy],
        ["objective", f"{a.direction} {a.metric}", f"{b.direction} {b.metric}"],
        ["best value", number(a.best_value), number(b.best_value)],
        ["best trial", a.best_trial or "-", b.best_trial or "-"],
    ]
    rows += [[f"trials {key}", a.counts[key], b.counts[key]] for key in a.counts]
    rows += [[name, left or "-", right or "-"] for name, (left, right) in comparison.params.items()]
    return table(["", a.name, b.name], rows)
