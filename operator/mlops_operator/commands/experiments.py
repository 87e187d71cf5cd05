"""``mlops experiment NAME`` and ``mlops experiments compare A B ...``: what the operations
(``operations/experiments.py``) return, printed for the terminal."""

from __future__ import annotations

from mlops_operator.commands.output import number, table
from mlops_operator.operations.experiments import ExperimentComparison, ExperimentReport


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


def render_comparison(comparison: ExperimentComparison) -> str:
    """The searches side by side, one column each; which is best when they are comparable."""
    searches = comparison.rows
    rows: list[list[object]] = [
        ["phase", *(s.phase for s in searches)],
        ["strategy", *(s.strategy for s in searches)],
        ["objective", *(f"{s.direction} {s.metric}" for s in searches)],
        ["best value", *(number(s.best_value) for s in searches)],
        ["best trial", *(s.best_trial or "-" for s in searches)],
        ["trials created", *(s.trials_created for s in searches)],
        ["trials succeeded", *(s.trials_succeeded for s in searches)],
        ["trials pruned", *(s.trials_pruned for s in searches)],
        ["trials failed", *(s.trials_failed for s in searches)],
        ["trials running", *(s.trials_running for s in searches)],
    ]
    params = sorted({key for s in searches for key in s.best_params})
    rows += [[key, *(s.best_params.get(key) or "-" for s in searches)] for key in params]
    text = table(["", *(s.name for s in searches)], rows)
    if comparison.best is not None:
        return f"{text}\n\nbest: {comparison.best}"
    if not comparison.comparable:
        return f"{text}\n\nnot comparable: the searches optimise different objectives"
    return text
