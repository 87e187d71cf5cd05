"""The Open Inference Protocol's binary tensor data extension (as Triton and tritonclient use it).

A request or answer body is a JSON header of ``Inference-Header-Content-Length`` bytes followed
by raw tensor bytes: each tensor with ``parameters.binary_data_size`` takes that many bytes, in
the order the tensors are listed. Numbers are little-endian; a BYTES tensor is each element's
4-byte little-endian length followed by its bytes.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence
from typing import Any

import numpy as np

from mlops_serving.errors import InvalidInputError

NUMPY_TYPES: dict[str, str] = {
    "BOOL": "|b1",
    "INT8": "<i1",
    "INT16": "<i2",
    "INT32": "<i4",
    "INT64": "<i8",
    "UINT8": "<u1",
    "UINT16": "<u2",
    "UINT32": "<u4",
    "UINT64": "<u8",
    "FP16": "<f2",
    "FP32": "<f4",
    "FP64": "<f8",
}
_LENGTH = struct.Struct("<I")


def decode_tensor(name: str, shape: Sequence[int], datatype: str, raw: bytes) -> list[Any]:
    """The flat values of a binary tensor, checked against its shape."""
    count = math.prod(shape)
    if datatype == "BYTES":
        return _decode_bytes(name, count, raw)
    dtype = NUMPY_TYPES.get(datatype)
    if dtype is None:
        raise InvalidInputError(
            f"input {name!r}: datatype {datatype!r} is not supported; use FP32, INT64 or BYTES"
        )
    width = np.dtype(dtype).itemsize
    if len(raw) != count * width:
        raise InvalidInputError(
            f"input {name!r}: shape {list(shape)} of {datatype} needs {count * width} bytes of "
            f"binary data, got {len(raw)}"
        )
    values: list[Any] = np.frombuffer(raw, dtype=dtype).tolist()
    return values


def _decode_bytes(name: str, count: int, raw: bytes) -> list[Any]:
    out: list[Any] = []
    offset = 0
    while offset < len(raw):
        if offset + 4 > len(raw):
            raise InvalidInputError(f"input {name!r}: BYTES element {len(out)} is cut short")
        (size,) = _LENGTH.unpack_from(raw, offset)
        offset += 4
        if offset + size > len(raw):
            raise InvalidInputError(f"input {name!r}: BYTES element {len(out)} is cut short")
        try:
            out.append(raw[offset : offset + size].decode())
        except UnicodeDecodeError:
            raise InvalidInputError(
                f"input {name!r}: BYTES element {len(out)} is not UTF-8 text"
            ) from None
        offset += size
    if len(out) != count:
        raise InvalidInputError(f"input {name!r}: shape needs {count} elements, got {len(out)}")
    return out


def encode_strings(values: Sequence[str]) -> bytes:
    parts = []
    for value in values:
        data = value.encode()
        parts.append(_LENGTH.pack(len(data)))
        parts.append(data)
    return b"".join(parts)


def encode_float32(values: Sequence[float]) -> bytes:
    return np.asarray(values, dtype="<f4").tobytes()
