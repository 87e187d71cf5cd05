"""Whether numbers fit: the datatypes of v2 tensors, and the float32 inputs every model computes in.

One rule for all three protocols: a missing numeric value is ``null`` or NaN (the training
preprocessing fills it with the column's training mean, and a missing category is "unknown"),
while ±Infinity and finite values beyond what the datatype (or the model's float32 input) can
hold are refused with a 400 that names the input and the position.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from mlops_serving.errors import InvalidInputError

FLOAT32_MAX = 3.4028234663852886e38
FLOAT_LIMITS = {"FP16": 65504.0, "FP32": FLOAT32_MAX, "FP64": FLOAT32_MAX}
INT_LIMITS = {
    "INT8": (-(2**7), 2**7 - 1),
    "INT16": (-(2**15), 2**15 - 1),
    "INT32": (-(2**31), 2**31 - 1),
    "INT64": (-(2**63), 2**63 - 1),
    "UINT8": (0, 2**8 - 1),
    "UINT16": (0, 2**16 - 1),
    "UINT32": (0, 2**32 - 1),
    "UINT64": (0, 2**64 - 1),
}
NUMERIC_TYPES = frozenset({"BOOL", *FLOAT_LIMITS, *INT_LIMITS})
SUPPORTED_TYPES = NUMERIC_TYPES | {"BYTES"}
MISSING_HINT = "send a finite number, or null (or NaN) for a missing value"


def _shown(value: Any) -> str:
    if isinstance(value, float) and math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return repr(value)[:40]


def check_record_numbers(record: Mapping[str, Any], where: str) -> None:
    """Every number of a v1 or /mlops record is finite and fits the model's float32 input."""
    for key, value in record.items():
        kind = type(value)
        if kind is float:
            # NaN fails both comparisons and passes: it means "missing"
            if value > FLOAT32_MAX or value < -FLOAT32_MAX:
                raise InvalidInputError(
                    f"{where}.{key}: {_shown(value)} is not a finite float32 number; "
                    + MISSING_HINT
                )
        elif kind is int and not -FLOAT32_MAX <= value <= FLOAT32_MAX:
            raise InvalidInputError(
                f"{where}.{key}: {_shown(value)} is beyond the float32 range; " + MISSING_HINT
            )


def _position(index: int, shape: Sequence[int]) -> str:
    if len(shape) < 2:
        return f"[{index}]"
    coords = []
    for size in reversed(shape):
        coords.append(index % size if size else 0)
        index //= size if size else 1
    return "[" + ", ".join(str(c) for c in reversed(coords)) + "]"


def _float_values(name: str, shape: Sequence[int], datatype: str, values: list[Any]) -> list[Any]:
    limit = FLOAT_LIMITS[datatype]
    for index, value in enumerate(values):
        kind = type(value)
        if kind is float:
            if value > limit or value < -limit:
                what = "finite" if math.isinf(value) else "in range"
                raise InvalidInputError(
                    f"input {name!r} at {_position(index, shape)}: {_shown(value)} is not "
                    f"{what} for {datatype} (|x| <= {limit:.7g}); {MISSING_HINT}"
                )
        elif kind is int:
            if not -limit <= value <= limit:
                raise InvalidInputError(
                    f"input {name!r} at {_position(index, shape)}: {_shown(value)} is beyond "
                    f"the {datatype} range (|x| <= {limit:.7g})"
                )
        elif value is not None:
            raise InvalidInputError(
                f"input {name!r} at {_position(index, shape)}: {datatype} data must be numbers, "
                f"got {type(value).__name__} {_shown(value)}"
            )
    return values


def _int_values(name: str, shape: Sequence[int], datatype: str, values: list[Any]) -> list[Any]:
    low, high = INT_LIMITS[datatype]
    for index, value in enumerate(values):
        kind = type(value)
        if kind is float and value.is_integer():
            value = int(value)
            values[index] = value
            kind = int
        if kind is not int or not low <= value <= high:
            raise InvalidInputError(
                f"input {name!r} at {_position(index, shape)}: {_shown(value)} is not a "
                f"{datatype} (whole numbers from {low} to {high})"
            )
    return values


def check_tensor_values(
    name: str, shape: Sequence[int], datatype: str, values: list[Any]
) -> list[Any]:
    """``values`` (flat, row-major) if each fits ``datatype``, else a 400 naming the position."""
    if datatype in FLOAT_LIMITS:
        return _float_values(name, shape, datatype, values)
    if datatype in INT_LIMITS:
        return _int_values(name, shape, datatype, values)
    if datatype == "BOOL":
        for index, value in enumerate(values):
            if type(value) is not bool:
                raise InvalidInputError(
                    f"input {name!r} at {_position(index, shape)}: BOOL data must be true or "
                    f"false, got {_shown(value)}"
                )
        return values
    if datatype == "BYTES":
        for index, value in enumerate(values):
            if not isinstance(value, str):
                raise InvalidInputError(
                    f"input {name!r} at {_position(index, shape)}: BYTES data must be strings"
                )
        return values
    raise InvalidInputError(
        f"input {name!r}: datatype {datatype!r} is not supported; use FP32, INT64 or BYTES"
    )
