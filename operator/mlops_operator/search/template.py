"""A trial's parameters applied to the Experiment's trial template, and the checks that keep a
search space from producing trials that cannot run.

A search parameter names a template field by its camelCase dot path
(``model.optimizer.learningRate``). Whether a parameter type fits the field is read from the
template's own pydantic types, so the check cannot drift from the TrainingJob schema.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Mapping
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ValidationError
from pydantic.alias_generators import to_camel

from mlops_operator.api.experiment import ExperimentSpec
from mlops_operator.api.search_space import SearchParameter
from mlops_operator.api.training_job import TrainingRunSpec

FieldKind = Literal["int", "float", "bool", "text", "list", "object"]


class SearchSpaceError(ValueError):
    """A search parameter that cannot be applied; ``path`` names the template field."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path


def _field(model: type[BaseModel], alias: str) -> Any:
    for name, info in model.model_fields.items():
        if (info.alias or to_camel(name)) == alias:
            return info.annotation
    return None


def _strip_optional(annotation: Any) -> Any:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation


def field_kind(path: str) -> FieldKind | None:
    """What kind of value the template field at ``path`` holds; None when there is no such
    field."""
    model: type[BaseModel] = TrainingRunSpec
    parts = path.split(".")
    for index, part in enumerate(parts):
        annotation = _strip_optional(_field(model, part))
        if annotation is None:
            return None
        if typing.get_origin(annotation) is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        last = index == len(parts) - 1
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            if last:
                return "object"
            model = annotation
            continue
        if not last:
            return None
        if annotation is bool:
            return "bool"
        if annotation is int:
            return "int"
        if annotation is float:
            return "float"
        if typing.get_origin(annotation) is list:
            return "list"
        return "text"
    return None


def kind_problem(parameter: SearchParameter) -> str | None:
    """Why a parameter of this type cannot set its field (None when it can)."""
    kind = field_kind(parameter.name)
    if kind is None or kind == "object":
        return f"{parameter.name} is not a field of the trial template"
    if parameter.type == "float" and kind == "int":
        return (
            f"{parameter.name} holds an int value, so a float parameter cannot set it: use type int"
        )
    if parameter.type == "float" and kind != "float":
        return f"{parameter.name} holds a {kind} value: use a categorical parameter"
    if parameter.type == "int" and kind not in ("int", "float"):
        return f"{parameter.name} holds a {kind} value: use a categorical parameter"
    return None


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
        if field_kind(path) in (None, "object"):
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
        problem = kind_problem(parameter)
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
