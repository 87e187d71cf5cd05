"""``mlops experiment NAME --plot FILE``: optuna's own views of the search — optimization
history, parameter importances and parallel coordinates — from the trials' records.

``.html`` uses optuna's plotly backend (one page, three figures); ``.png``, ``.svg`` and
``.pdf`` its matplotlib backend (one image, three panels). Both come with the ``plots`` extra.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Sequence
from pathlib import Path

import optuna
from optuna.distributions import json_to_distribution
from optuna.trial import TrialState, create_trial

from mlops_operator.api.experiment import Experiment
from mlops_operator.commands.registry import CommandError
from mlops_operator.search.record import TrialRecord
from mlops_operator.search.strategies import study_direction

IMAGE_SUFFIXES = (".png", ".svg", ".pdf")


def study_of(experiment: Experiment, records: Sequence[TrialRecord]) -> optuna.Study:
    """The trials as an optuna study (values, intermediate values, states) for plotting."""
    study = optuna.create_study(
        study_name=experiment.metadata.name,
        direction=study_direction(experiment.spec.objective.direction),
    )
    states = {"succeeded": TrialState.COMPLETE, "pruned": TrialState.PRUNED}
    for record in sorted(records, key=lambda item: item.number):
        state = states.get(record.state, TrialState.FAIL)
        if record.state == "running":
            continue
        study.add_trial(
            create_trial(
                state=state,
                value=record.value if state == TrialState.COMPLETE else None,
                params=dict(record.plan.params),
                distributions={
                    name: json_to_distribution(text)
                    for name, text in record.plan.distributions.items()
                },
                intermediate_values=dict(record.intermediate),
            )
        )
    return study


def write_plots(experiment: Experiment, records: Sequence[TrialRecord], path: Path) -> Path:
    study = study_of(experiment, records)
    completed = study.get_trials(states=(TrialState.COMPLETE,))
    if len(completed) < 2:
        raise CommandError(
            f"{experiment.metadata.name} has {len(completed)} completed trial(s): the plots "
            "need at least two"
        )
    suffix = path.suffix.lower()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        if suffix == ".html":
            _write_html(study, path)
        elif suffix in IMAGE_SUFFIXES:
            _write_image(study, path)
        else:
            raise CommandError(f"--plot writes .html, {', '.join(IMAGE_SUFFIXES)}; not {suffix!r}")
    return path


def _write_html(study: optuna.Study, path: Path) -> None:
    try:
        from optuna import visualization
    except ImportError as exc:  # pragma: no cover - optuna always has the module
        raise CommandError(str(exc)) from None
    if not visualization.is_available():
        raise CommandError("HTML plots need plotly: pip install 'mlops-operator[plots]'")
    figures = [
        visualization.plot_optimization_history(study),
        visualization.plot_param_importances(study),
        visualization.plot_parallel_coordinate(study),
    ]
    parts = [
        figure.to_html(full_html=False, include_plotlyjs="cdn" if i else True)
        for i, figure in enumerate(figures)
    ]
    title = f"<h1>{study.study_name}</h1>"
    path.write_text(
        f"<html><head><meta charset='utf-8'></head><body>{title}{''.join(parts)}</body></html>"
    )


def _write_image(study: optuna.Study, path: Path) -> None:
    from optuna.visualization import matplotlib as views

    if not views.is_available():
        raise CommandError("image plots need matplotlib: pip install 'mlops-operator[plots]'")
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import image, pyplot

    history = views.plot_optimization_history(study)
    importances = views.plot_param_importances(study)
    parallel = views.plot_parallel_coordinate(study)
    figure = pyplot.figure(figsize=(18, 5.5))
    for index, axes in enumerate((history, importances, parallel)):
        source = axes.get_figure(root=True)
        if source is None:
            continue
        buffer = io.BytesIO()
        source.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
        pyplot.close(source)
        buffer.seek(0)
        panel = figure.add_subplot(1, 3, index + 1)
        panel.imshow(image.imread(buffer, format="png"))
        panel.set_axis_off()
    figure.suptitle(study.study_name)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    pyplot.close(figure)
