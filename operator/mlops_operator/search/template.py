"""A trial's parameters applied to the Experiment's trial template, and the checks that keep a
search space from producing trials that cannot run.

A search parameter names a template field by its camelCase dot path
(``model.optimizer.learningRate``). Whether a parameter type fits the field is read from the
template's own pydantic types, so the check cannot drift from the TrainingJob schema.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import yaml
from pydantic import ValidationError

from mlops_operator.api.experiment import ExperimentSpec
from mlops_operator.api.search_space import TUNABLE_KINDS, SearchParameter, kind_problem
from mlops_operator.api.training_job import TrainingRunSpec


class SearchSpaceError(ValueError):
    """A search parameter that cannot be applied; ``path`` names the template field."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path


def template_value(parameter: SearchParameter, value: Any) -> Any:
    """The value written into the template for optuna's parameter value: categorical choices
    are read as YAML ('64' → 64, '[128, 64]' → a list), int stays int, float stays float."""
    if parameter.type == "categorical":
        return yaml.safe_load(str(value))
    if parameter.type == "int":
        return int(value)
    return float(value)


def _set_path(document: dict[str, Any], path: str, value: Any) -> None:
    node = document
    parts = path.split(".")
    for part in parts[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child
    node[parts[-1]] = value


def apply_parameters(template: TrainingRunSpec, values: Mapping[str, Any]) -> TrainingRunSpec:
    """The template with each value (already in template form) set at its dot path, validated
    as a TrainingRunSpec; SearchSpaceError names the first path the result rejects."""
    document = template.model_dump(by_alias=True, exclude_none=True, mode="json")
    for path, value in values.items():
        if path not in TUNABLE_KINDS:
            raise SearchSpaceError(path, "not a field of the trial template")
        _set_path(document, path, value)
    try:
        return TrainingRunSpec.model_validate(document)
    except ValidationError as exc:
        first = exc.errors()[0]
        location = ".".join(str(part) for part in first["loc"])
        path = next((p for p in values if location.startswith(p)), location)
        raise SearchSpaceError(
            path, f"{first['msg']} (value {values.get(path, first.get('input'))!r})"
        ) from None


def _candidates(parameter: SearchParameter) -> list[Any]:
    if parameter.type == "categorical":
        return [template_value(parameter, item) for item in parameter.values or []]
    bounds = [parameter.low, parameter.high]
    return [template_value(parameter, bound) for bound in bounds if bound is not None]


def reported_metrics(template: TrainingRunSpec) -> list[str]:
    """The per-epoch metrics every trial of ``template`` reports (see the trainer's loop)."""
    names = {"train_loss", "val_loss"}
    names.update(f"val_{name}" for name in template.model.metrics)
    return sorted(names)


def search_space_problems(spec: ExperimentSpec) -> list[str]:
    """What keeps the search from running, each naming the path or metric to fix: a parameter
    type that does not fit its field, a bound or choice the field rejects, an objective metric
    the trainer never reports. Empty when the search can start."""
    problems: list[str] = []
    for parameter in spec.search_space:
        problem = kind_problem(parameter.name, parameter.type)
        if problem is not None:
            problems.append(problem)
            continue
        for candidate in _candidates(parameter):
            try:
                apply_parameters(spec.trial_template, {parameter.name: candidate})
            except SearchSpaceError as exc:
                problems.append(f"{exc} (from searchSpace {parameter.name})")
                break
    metrics = reported_metrics(spec.trial_template)
    if spec.objective.metric not in metrics:
        problems.append(
            f"objective.metric {spec.objective.metric!r} is not reported by the trials: use one "
            f"of {', '.join(metrics)} (val_<name> for each of trialTemplate.model.metrics)"
        )
    return problems
