"""Turning each protocol's payload into raw records (column → value) for the model.

All shapes are checked here, so that a wrong payload is a 400 that says what is expected.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from mlops_core.artifact_config import ArtifactConfig
from mlops_serving.errors import InvalidInputError
from mlops_serving.tensor_values import check_record_numbers, check_tensor_values

Record = dict[str, Any]
MAX_INSTANCES = 10_000


def expected_input(config: ArtifactConfig) -> str:
    if config.task == "text":
        return f"a string, or an object with {config.text_column!r}"
    names = ", ".join(config.feature_names)
    return f"an object with {names} or a list of {len(config.feature_names)} values"


def instance_to_record(config: ArtifactConfig, instance: Any, where: str) -> Record:
    """One v1 instance: an object of columns, a list of feature values, or a text."""
    if isinstance(instance, Mapping):
        if config.task == "text":
            return text_record(config, instance)
        record = dict(instance)
        check_record_numbers(record, where)
        return record
    if config.task == "text" and isinstance(instance, str):
        return {str(config.text_column): instance}
    if config.task == "tabular" and isinstance(instance, list):
        if len(instance) != len(config.feature_names):
            raise InvalidInputError(
                f"{where} has {len(instance)} values; the model takes {len(config.feature_names)} "
                f"({', '.join(config.feature_names)})"
            )
        record = dict(zip(config.feature_names, instance, strict=True))
        check_record_numbers(record, where)
        return record
    raise InvalidInputError(
        f"{where} is a {type(instance).__name__}; send {expected_input(config)}"
    )


def text_record(config: ArtifactConfig, data: Mapping[str, Any]) -> Record:
    """A text model's record: its text column, or ``description`` and ``context`` (a text,
    or an object whose values are taken) joined."""
    column = str(config.text_column)
    if column in data:
        return {column: data[column]}
    context = data.get("context")
    if isinstance(context, Mapping):
        # the replaced service's context object: its values, in order, as words
        context = " ".join(str(v) for v in context.values() if isinstance(v, str | int | float))
    parts = [data.get("description"), context]
    if all(p is None for p in parts):
        raise InvalidInputError(
            f"text input needs {column!r}, or 'description' (and optionally 'context')"
        )
    for part in parts:
        if part is not None and not isinstance(part, str):
            raise InvalidInputError("'description' must be a string, 'context' a string or object")
    return {column: " ".join(p for p in parts if p)}


def instances_to_records(config: ArtifactConfig, instances: Sequence[Any]) -> list[Record]:
    if not instances:
        raise InvalidInputError("'instances' is empty; send at least one instance")
    if len(instances) > MAX_INSTANCES:
        raise InvalidInputError(f"at most {MAX_INSTANCES} instances per request")
    return [instance_to_record(config, item, f"instances[{i}]") for i, item in enumerate(instances)]


def flatten(data: Any) -> list[Any]:
    """Row-major flattening of nested lists (v2 allows both flat and nested data)."""
    if not isinstance(data, list):
        return [data]
    out: list[Any] = []
    stack: list[Any] = [iter(data)]
    while stack:
        for item in stack[-1]:
            if isinstance(item, list):
                stack.append(iter(item))
                break
            out.append(item)
        else:
            stack.pop()
    return out


def check_tensor(name: str, shape: Sequence[int], datatype: str, data: Any) -> list[Any]:
    """The flat values of a v2 tensor, checked against its shape and datatype."""
    if min(shape, default=0) < 0:
        raise InvalidInputError(f"input {name!r}: shape {list(shape)} has a negative dimension")
    expected = math.prod(shape)
    if type(data) is list and len(data) == expected:
        # flat data (the usual layout) is checked as it is; only when that fails for a nested
        # list among the values is it flattened and checked again
        try:
            return check_tensor_values(name, shape, datatype, data)
        except InvalidInputError:
            if list not in map(type, data):
                raise
    values = flatten(data)
    if len(values) != expected:
        raise InvalidInputError(
            f"input {name!r}: shape {list(shape)} needs {expected} values, got {len(values)}"
        )
    return check_tensor_values(name, shape, datatype, values)


def v2_inputs_to_records(
    config: ArtifactConfig, inputs: Sequence[tuple[str, list[int], str, Any]]
) -> list[Record]:
    """v2 inputs → records. Accepted layouts:

    - text model: one BYTES tensor of shape [n] (or [n, 1]);
    - tabular: one tensor per feature column, shape [n] or [n, 1], named like the column;
    - tabular: one numeric tensor of shape [n, number of feature columns], in column order.
    """
    if not inputs:
        raise InvalidInputError("'inputs' is empty")
    features = config.feature_names
    if config.task == "text":
        if len(inputs) != 1:
            raise InvalidInputError("a text model takes one BYTES input of shape [n]")
        name, shape, datatype, data = inputs[0]
        if datatype != "BYTES" or len(shape) not in (1, 2) or (len(shape) == 2 and shape[1] != 1):
            raise InvalidInputError(
                f"input {name!r}: a text model takes BYTES of shape [n], got {datatype} {shape}"
            )
        texts = check_tensor(name, shape, datatype, data)
        return [{str(config.text_column): t} for t in texts]
    if len(inputs) == 1 and len(inputs[0][1]) == 2 and inputs[0][0] not in features:
        name, shape, datatype, data = inputs[0]
        if shape[1] != len(features):
            raise InvalidInputError(
                f"input {name!r}: shape {shape} needs {len(features)} columns "
                f"({', '.join(features)})"
            )
        values = check_tensor(name, shape, datatype, data)
        if shape[0] == 1:
            return [dict(zip(features, values, strict=True))]
        width = len(features)
        return [
            dict(zip(features, values[row * width : (row + 1) * width], strict=True))
            for row in range(shape[0])
        ]
    columns: dict[str, list[Any]] = {}
    for name, shape, datatype, data in inputs:
        if name not in features:
            raise InvalidInputError(
                f"unknown input {name!r}; inputs are the columns {', '.join(features)} "
                f"(or one [n, {len(features)}] tensor)"
            )
        if len(shape) not in (1, 2) or (len(shape) == 2 and shape[1] != 1):
            raise InvalidInputError(f"input {name!r}: shape must be [n] or [n, 1], got {shape}")
        columns[name] = check_tensor(name, shape, datatype, data)
    missing = [f for f in features if f not in columns]
    if missing:
        raise InvalidInputError(f"missing inputs: {', '.join(missing)}")
    lengths = {len(v) for v in columns.values()}
    if len(lengths) != 1:
        raise InvalidInputError("all inputs must have the same number of rows")
    rows = lengths.pop()
    if rows > MAX_INSTANCES:
        raise InvalidInputError(f"at most {MAX_INSTANCES} rows per request")
    return [{name: columns[name][row] for name in features} for row in range(rows)]
