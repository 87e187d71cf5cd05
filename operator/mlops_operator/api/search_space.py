"""The search space of an Experiment: which template fields vary, and over what range."""

from __future__ import annotations

import types
import typing
from typing import Annotated, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.alias_generators import to_camel

from mlops_core.training_spec import ModelSpec, TrainingSpec
from mlops_core.wire import WireModel
from mlops_operator.api.cel import rule, validations

ParameterType = Literal["float", "int", "categorical"]
#: what a template field holds, as far as a search parameter is concerned
FieldKind = Literal["int", "float", "bool", "text", "list"]
PrunerType = Literal["median", "successive-halving", "hyperband"]

PARAMETERS_MAX: Final = 32
CATEGORIES_MAX: Final = 64
TRIALS_MAX: Final = 1000
#: template fields that are settings rather than hyperparameters
NOT_TUNABLE: Final = frozenset(
    {
        "model.metrics",
        "training.seed",
        "training.checkpointInterval",
        "training.earlyStopping.enabled",
        "training.earlyStopping.monitor",
        "training.earlyStopping.mode",
    }
)


def _field_kind(annotation: Any) -> FieldKind:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        annotation = args[0] if len(args) == 1 else annotation
    if typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    if annotation is bool:
        return "bool"
    if annotation is int:
        return "int"
    if annotation is float:
        return "float"
    if typing.get_origin(annotation) is list:
        return "list"
    return "text"


def _leaf_kinds(model: type[BaseModel], prefix: str) -> dict[str, FieldKind]:
    kinds: dict[str, FieldKind] = {}
    for name, field in model.model_fields.items():
        path = f"{prefix}.{field.alias or to_camel(name)}"
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            kinds.update(_leaf_kinds(annotation, path))
        elif path not in NOT_TUNABLE:
            kinds[path] = _field_kind(annotation)
    return kinds


#: what a search parameter may set (camelCase dot paths into the trial template) and what
#: each holds, read from the trial template's own types
TUNABLE_KINDS: Final[dict[str, FieldKind]] = {
    **_leaf_kinds(ModelSpec, "model"),
    **_leaf_kinds(TrainingSpec, "training"),
}
TUNABLE_PATHS: Final[tuple[str, ...]] = tuple(TUNABLE_KINDS)
#: paths a float parameter can set, and those an int parameter can set
FLOAT_PATHS: Final = tuple(path for path, kind in TUNABLE_KINDS.items() if kind == "float")
NUMBER_PATHS: Final = tuple(
    path for path, kind in TUNABLE_KINDS.items() if kind in ("int", "float")
)


def kind_problem(name: str, parameter_type: ParameterType) -> str | None:
    """Why a parameter of ``parameter_type`` cannot set the field ``name`` (None if it can)."""
    kind = TUNABLE_KINDS.get(name)
    if kind is None:
        return f"{name} is not a tunable field of the trial template"
    if parameter_type == "float" and kind == "int":
        return f"{name} holds an int value, so a float parameter cannot set it: use type int"
    if parameter_type in ("float", "int") and kind not in ("int", "float"):
        return f"{name} holds a {kind} value: use a categorical parameter"
    return None


def _cel_list(paths: tuple[str, ...]) -> str:
    return "[" + ", ".join(f"'{path}'" for path in paths) + "]"


#: the same check as ``kind_problem``, for the API server
PARAMETER_KIND_RULE: Final = rule(
    f"self.searchSpace.all(p, p.type == 'categorical' "
    f"|| (p.type == 'float' && p.name in {_cel_list(FLOAT_PATHS)}) "
    f"|| (p.type == 'int' && p.name in {_cel_list(NUMBER_PATHS)}))",
    "a float parameter can set only a float field of the trial template "
    f"({', '.join(FLOAT_PATHS)}), an int parameter an int or float field; fields holding "
    "text, lists or booleans take a categorical parameter",
    field_path=".searchSpace",
)


CategoryValue = Annotated[str, Field(min_length=1, max_length=256)]


class SearchParameter(WireModel):
    """One dimension of the search space."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            rule(
                "self.type == 'categorical' || (has(self.low) && has(self.high))",
                "float and int parameters need low and high",
            ),
            rule(
                "self.type == 'categorical' || !has(self.low) || !has(self.high) "
                "|| self.low < self.high",
                "low must be less than high",
                field_path=".low",
            ),
            rule(
                "!has(self.log) || !self.log || (has(self.low) && self.low > 0.0)",
                "a log-scaled range needs low > 0",
                field_path=".low",
            ),
            rule(
                "self.type != 'categorical' || (has(self.values) && size(self.values) > 0)",
                "categorical parameters need values",
                field_path=".values",
            ),
            rule(
                "self.type == 'categorical' || !has(self.values)",
                "values apply to categorical parameters only; float and int use low and high",
                field_path=".values",
            ),
            rule(
                "self.type != 'categorical' || (!has(self.low) && !has(self.high) "
                "&& !has(self.step) && (!has(self.log) || !self.log))",
                "low, high, step and log apply to float and int parameters only",
            ),
            rule(
                "self.type != 'int' || !has(self.low) || !has(self.high) "
                "|| (self.low == double(int(self.low)) && self.high == double(int(self.high)))",
                "int parameters need whole-number low and high",
                field_path=".low",
            ),
            rule(
                "!has(self.step) || !has(self.log) || !self.log",
                "step and log cannot be combined",
                field_path=".step",
            ),
        )
    )

    name: str = Field(
        min_length=1,
        max_length=128,
        json_schema_extra={"enum": list(TUNABLE_PATHS)},
        description="Field of the trial template the value goes to, as a camelCase dot path, "
        "e.g. model.optimizer.learningRate, model.dropout, training.batchSize.",
    )
    type: ParameterType = Field(description="float, int or categorical.")
    low: float | None = Field(default=None, description="Lower bound (float and int).")
    high: float | None = Field(default=None, description="Upper bound (float and int).")
    log: bool = Field(
        default=False,
        description="Sample on a log scale (log-uniform); needs low > 0.",
    )
    step: float | None = Field(
        default=None,
        gt=0,
        description="Discretisation step (float and int); grid search needs it for floats.",
    )
    values: list[CategoryValue] | None = Field(
        default=None,
        max_length=CATEGORIES_MAX,
        description="Choices of a categorical parameter, each read as YAML: '64' is a "
        "number, 'adamw' a string, '[128, 64]' a list.",
    )

    @field_validator("name")
    @classmethod
    def _tunable(cls, value: str) -> str:
        if value not in TUNABLE_PATHS:
            raise ValueError(
                f"{value!r} is not a tunable field of the trial template; "
                f"choose one of {', '.join(TUNABLE_PATHS)}"
            )
        return value

    @model_validator(mode="after")
    def _consistent(self) -> SearchParameter:
        problems = search_parameter_problems(self)
        if problems:
            raise ValueError(f"parameter {self.name}: " + "; ".join(problems))
        return self


def search_parameter_problems(parameter: SearchParameter) -> list[str]:
    """What is wrong with one search dimension (the same checks as its CEL rules)."""
    problems = []
    if parameter.type == "categorical":
        if not parameter.values:
            problems.append("categorical parameters need values")
        if (
            parameter.low is not None
            or parameter.high is not None
            or parameter.step is not None
            or parameter.log
        ):
            problems.append("low, high, step and log apply to float and int parameters only")
        return problems
    if parameter.values is not None:
        problems.append(
            "values apply to categorical parameters only; float and int use low and high"
        )
    if parameter.low is None or parameter.high is None:
        problems.append("float and int parameters need low and high")
    elif parameter.low >= parameter.high:
        problems.append("low must be less than high")
    if parameter.type == "int" and any(
        bound is not None and not float(bound).is_integer()
        for bound in (parameter.low, parameter.high)
    ):
        problems.append("int parameters need whole-number low and high")
    if parameter.log and (parameter.low is None or parameter.low <= 0):
        problems.append("a log-scaled range needs low > 0")
    if parameter.log and parameter.step is not None:
        problems.append("step and log cannot be combined")
    return problems


class Pruner(WireModel):
    """Stop unpromising trials early, from their per-epoch metrics."""

    type: PrunerType = Field(description="median, successive-halving or hyperband.")
    startup_trials: int = Field(
        default=5,
        ge=0,
        le=TRIALS_MAX,
        description="Trials that finish before pruning starts (median).",
    )
    warmup_epochs: int = Field(
        default=1,
        ge=0,
        le=10000,
        description="Epochs of a trial before it can be pruned (median).",
    )
    min_epochs: int = Field(
        default=1,
        ge=1,
        le=10000,
        description="Epochs every trial runs before its first comparison (successive-halving "
        "and hyperband: optuna's min_resource).",
    )
    reduction_factor: int = Field(
        default=3,
        ge=2,
        le=16,
        description="Successive-halving and hyperband keep about 1 in reductionFactor "
        "trials at each rung.",
    )
