"""``mlops experiment`` and ``mlops experiments compare``: the rows and the plots, from
trial records (the cluster reads are covered end to end)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from optuna.distributions import FloatDistribution, distribution_to_json

from mlops_operator.api.experiment import BestTrial, Experiment, ExperimentStatus
from mlops_operator.commands.experiment_plots import write_plots
from mlops_operator.commands.experiments import render_comparison, render_report
from mlops_operator.commands.registry import CommandError
from mlops_operator.operations.experiments import (
    ExperimentReport,
    TrialRow,
    compare_experiments,
)
from mlops_operator.search.record import TrialPlan, TrialRecord

pytestmark = pytest.mark.unit

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "experiment" / "experiment.yaml"
LR = distribution_to_json(FloatDistribution(1e-4, 0.05, log=True))
DROPOUT = distribution_to_json(FloatDistribution(0.0, 0.5))


def experiment(name: str = "search", **status: Any) -> Experiment:
    body: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text())
    body["metadata"] = {"name": name, "namespace": "ml"}
    made = Experiment.model_validate(body)
    return made.model_copy(update={"status": ExperimentStatus(**status)})


def records() -> list[TrialRecord]:
    made = []
    for number, (lr, dropout, value) in enumerate(
        [(0.001, 0.1, 0.93), (0.02, 0.3, 0.97), (0.0002, 0.2, 0.88), (0.01, 0.05, 0.95)]
    ):
        plan = TrialPlan(
            number=number,
            params={"model.optimizer.learningRate": lr, "model.dropout": dropout},
            distributions={"model.optimizer.learningRate": LR, "model.dropout": DROPOUT},
        )
        made.append(
            TrialRecord(
                plan=plan,
                state="pruned" if number == 2 else "succeeded",
                name=f"search-t{number}",
                value=value,
                intermediate={1: value - 0.1, 2: value},
                epochs=2,
            )
        )
    return made


def test_the_report_lists_trials_best_first_with_their_parameters() -> None:
    rows = [
        TrialRow(1, "search-t1", "Succeeded", 0.97, {"model.dropout": "0.3"}, 5, 12.0, None),
        TrialRow(0, "search-t0", "Pruned", 0.61, {"model.dropout": "0.1"}, 2, 4.0, "pruned"),
    ]
    best = BestTrial(number=1, training_job="search-t1", value=0.97, model_version="bc-v1-0-1")
    report = ExperimentReport(
        experiment=experiment(phase="Succeeded", trials_done=2, best_trial=best),
        trials=rows,
        records=[],
    )
    text = render_report(report)
    lines = text.splitlines()
    assert lines[0].startswith("search: Succeeded, 2 of 6 trials done")
    assert "best search-t1 = 0.97 → bc-v1-0-1" in lines[0]
    assert lines[2].split()[:5] == ["TRIAL", "STATE", "VAL_ACCURACY", "LEARNINGRATE", "DROPOUT"]
    assert lines[3].split()[:2] == ["search-t1", "Succeeded"]
    assert lines[4].split()[-2:] == ["2", "4s"]


def test_compare_puts_the_searches_side_by_side_and_names_the_best() -> None:
    left = experiment(
        "a",
        phase="Running",
        trials_running=2,
        best_trial=BestTrial(
            number=0, training_job="a-t0", value=0.9, params={"model.dropout": "0.1"}
        ),
    )
    right = experiment(
        "b",
        best_trial=BestTrial(
            number=3, training_job="b-t3", value=0.95, params={"model.dropout": "0.2"}
        ),
    )
    text = render_comparison(compare_experiments([left, right]))
    lines = {line.split("  ")[0]: line.split() for line in text.splitlines()[1:]}
    assert lines["phase"][-2:] == ["Running", "Pending"]
    assert lines["best value"][-2:] == ["0.9", "0.95"]
    assert lines["best trial"][-2:] == ["a-t0", "b-t3"]
    assert lines["trials running"][-2:] == ["2", "0"]
    assert lines["model.dropout"][-2:] == ["0.1", "0.2"]
    assert text.splitlines()[-1] == "best: b"  # the example maximises val_accuracy


@pytest.mark.parametrize("suffix", [".png", ".html"])
def test_plots_are_written(tmp_path: Path, suffix: str) -> None:
    path = write_plots(experiment(), records(), tmp_path / f"search{suffix}")
    data = path.read_bytes()
    if suffix == ".png":
        assert data.startswith(b"\x89PNG")
        assert len(data) > 20_000
    else:
        assert data.count(b"plotly") > 3
        assert b"Optimization History" in data


def test_plots_need_two_completed_trials(tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="at least two"):
        write_plots(experiment(), records()[:1], tmp_path / "x.png")
