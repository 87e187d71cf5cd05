"""Search decisions as pure functions: parameters applied to the template and checked, what
to start, when the search ends and why, and the status it reports."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from mlops_operator.api.experiment import Experiment, ExperimentSpec
from mlops_operator.api.search_space import SearchParameter
from mlops_operator.builders.experiment_trial import build_trial, trial_name
from mlops_operator.reconcile.experiment_status import experiment_status, stage_of
from mlops_operator.search.decisions import decide
from mlops_operator.search.record import TrialPlan, TrialRecord, TrialState
from mlops_operator.search.template import SearchSpaceError, apply_parameters, search_space_problems

pytestmark = pytest.mark.unit

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "experiment" / "experiment.yaml"


def example() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text())
    return document


def spec(**changes: Any) -> ExperimentSpec:
    return ExperimentSpec.model_validate({**example()["spec"], **changes})


def record(
    number: int, state: TrialState, value: float | None = None, reason: str | None = None
) -> TrialRecord:
    plan = TrialPlan(number=number, params={"model.dropout": 0.1}, distributions={})
    return TrialRecord(plan=plan, state=state, name=f"s-t{number}", value=value, reason=reason)


def test_parameters_land_at_their_paths_with_the_field_types() -> None:
    template = spec().trial_template
    applied = apply_parameters(
        template,
        {"model.optimizer.learningRate": 0.01, "training.batchSize": 16, "model.hiddenSizes": [8]},
    )
    assert applied.model.optimizer.learning_rate == 0.01
    assert applied.training.batch_size == 16
    assert applied.model.hidden_sizes == [8]
    assert applied.model.optimizer.name == template.model.optimizer.name  # the rest untouched


def test_a_value_the_field_rejects_names_the_path() -> None:
    with pytest.raises(SearchSpaceError) as caught:
        apply_parameters(spec().trial_template, {"model.dropout": 1.5})
    assert caught.value.path == "model.dropout"


def test_a_float_for_an_int_field_is_refused_naming_the_path() -> None:
    space = [{"name": "training.epochs", "type": "float", "low": 1, "high": 5}]
    with pytest.raises(ValidationError, match=r"training\.epochs holds an int value"):
        spec(searchSpace=space)


def test_a_list_field_takes_only_categorical_values() -> None:
    space = [{"name": "model.hiddenSizes", "type": "int", "low": 1, "high": 5}]
    with pytest.raises(ValidationError, match=r"model\.hiddenSizes holds a list value"):
        spec(searchSpace=space)


def test_an_objective_the_trials_never_report_is_refused() -> None:
    with pytest.raises(ValidationError, match=r"val_roc_auc.*not reported"):
        spec(objective={"metric": "val_roc_auc", "direction": "maximize"})


def test_bounds_the_template_rejects_are_found_before_any_trial() -> None:
    s = spec()
    s.search_space.append(
        SearchParameter(name="model.optimizer.momentum", type="float", low=0.5, high=1.0)
    )
    problems = search_space_problems(s)
    assert len(problems) == 1
    assert problems[0].startswith("model.optimizer.momentum:")
    assert search_space_problems(spec()) == []


def test_categorical_choices_are_read_as_yaml() -> None:
    experiment = Experiment.model_validate(
        {**example(), "metadata": {"name": "s", "namespace": "ml", "uid": "u1"}}
    )
    plan = TrialPlan(
        number=3,
        params={
            "model.optimizer.learningRate": 0.002,
            "model.dropout": 0.25,
            "training.batchSize": "64",
        },
        distributions={},
    )
    manifest = build_trial(experiment, plan)
    assert manifest["metadata"]["name"] == trial_name("s", 3) == "s-t3"
    assert manifest["metadata"]["labels"]["mlops.dev/trial"] == "3"
    assert manifest["metadata"]["ownerReferences"][0]["uid"] == "u1"
    assert manifest["spec"]["training"]["batchSize"] == 64
    assert manifest["spec"]["registration"] == {"enabled": False}
    assert TrialPlan.from_annotation(manifest["metadata"]["annotations"]["mlops.dev/trial"]) == plan


def test_parallel_trials_fill_up_to_max_trials() -> None:
    assert decide(spec(), []).to_create == 2
    assert decide(spec(), [record(0, "running")]).to_create == 1
    almost = [record(n, "succeeded", 0.9) for n in range(5)]
    assert decide(spec(), almost).to_create == 1
    waiting = decide(spec(), [*almost, record(5, "running")])
    assert (waiting.ended, waiting.to_create) == (None, 0)


def test_the_search_ends_at_max_trials_with_the_best() -> None:
    trials = [record(n, "succeeded", 0.9 + n / 1000) for n in range(4)] + [
        record(4, "pruned", 0.5),
        record(5, "failed", reason="OOMKilled"),
    ]
    verdict = decide(spec(), trials)
    assert verdict.ended == "MaxTrialsReached"
    assert "trial 3" in verdict.message


def test_the_goal_ends_the_search_and_stops_the_running_trials() -> None:
    goal = spec(objective={"metric": "val_accuracy", "direction": "maximize", "goal": 0.99})
    assert decide(goal, [record(0, "succeeded", 0.985), record(1, "running")]).ended is None
    verdict = decide(goal, [record(0, "succeeded", 0.995), record(1, "running")])
    assert verdict.ended == "GoalReached"
    assert verdict.to_stop == [1]


def test_too_many_failures_end_the_search_listing_the_reasons() -> None:
    trials = [record(n, "failed", reason=f"ExitCode: {n}") for n in range(3)] + [
        record(3, "running")
    ]
    verdict = decide(spec(), trials)
    assert verdict.ended == "TooManyFailedTrials"
    assert "s-t0: ExitCode: 0" in verdict.message
    assert "s-t2: ExitCode: 2" in verdict.message
    assert verdict.to_stop == [3]
    assert decide(spec(), trials[:2]).ended is None  # maxFailedTrials = 2 tolerated


def test_minimize_picks_the_lowest() -> None:
    s = spec(objective={"metric": "val_loss", "direction": "minimize"})
    trials = [
        record(n, "succeeded", value) for n, value in enumerate([0.3, 0.1, 0.2, 0.4, 0.5, 0.6])
    ]
    assert "trial 1" in decide(s, trials).message


def test_grid_search_ends_when_the_grid_is_covered() -> None:
    verdict = decide(spec(), [record(n, "succeeded", 0.5) for n in range(3)], capacity=3)
    assert verdict.ended == "MaxTrialsReached"
    assert "grid holds 3" in verdict.message


def test_status_counts_trials_by_state_and_names_the_best() -> None:
    experiment = Experiment.model_validate(
        {**example(), "metadata": {"name": "s", "namespace": "ml", "generation": 2}}
    )
    trials = [
        record(0, "succeeded", 0.93),
        record(1, "pruned", 0.6),
        record(2, "failed", reason="OOMKilled"),
        record(3, "running"),
    ]
    verdict = decide(experiment.spec, trials)
    status = experiment_status(
        experiment,
        trials,
        stage_of(verdict, started=True),
        model_version=None,
        now=datetime.now(UTC),
    )
    assert (
        status.trials_running,
        status.trials_succeeded,
        status.trials_pruned,
        status.trials_failed,
    ) == (1, 1, 1, 1)
    assert status.trials_done == 3
    assert status.best_trial is not None
    assert status.best_trial.training_job == "s-t0"
    assert status.failures[0].reason == "OOMKilled"
    assert status.phase == "Running"
    assert status.observed_generation == 2
    assert {c.type: c.status for c in status.conditions} == {
        "Ready": "False",
        "Reconciling": "True",
        "Stalled": "False",
        "Succeeded": "Unknown",
    }
    done = decide(experiment.spec, trials[:3] + [record(n, "succeeded", 0.8) for n in range(3, 6)])
    final = experiment_status(
        experiment, trials, stage_of(done, started=True), model_version="m", now=datetime.now(UTC)
    )
    assert final.phase == "Succeeded"
    assert final.completion_time is not None
    assert {c.type: c.reason for c in final.conditions}["Succeeded"] == "MaxTrialsReached"
    pending = stage_of(done, started=True, winner_pending="no artifact yet")
    assert pending.reason == "RegisteringWinner"
    assert pending.succeeded == "Unknown"
