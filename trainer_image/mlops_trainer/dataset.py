"""Reading the dataset splits: CSV, Parquet or JSON Lines, from ``s3://`` or a local path."""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.json as pa_json
import pyarrow.parquet as pa_parquet

from mlops_core.storage import ObjectNotFoundError, StorageError, open_store
from mlops_core.training_spec import DatasetFormat, DatasetSpec
from mlops_trainer.errors import TrainerError

#: A table as columns: numeric columns as numpy arrays (NaN = missing), others as lists.
Table = dict[str, np.ndarray[Any, Any] | list[Any]]
VALIDATION_FRACTION = 0.1


def read_uri(uri: str) -> bytes:
    """The bytes of one object: ``s3://bucket/key``, ``file:///path`` or a plain path."""
    parsed = urlparse(uri)
    if parsed.scheme == "s3":
        root, name = (
            f"s3://{parsed.netloc}{posixpath.dirname(parsed.path)}",
            posixpath.basename(parsed.path),
        )
    else:
        path = parsed.path if parsed.scheme == "file" else uri
        root, name = posixpath.dirname(path) or ".", posixpath.basename(path)
    if not name:
        raise TrainerError(f"{uri} names a folder, not a file")
    return open_store(root).read_bytes(name)


def parse_table(data: bytes, data_format: DatasetFormat) -> pa.Table:
    buffer = pa.BufferReader(data)
    if data_format == "csv":
        # an empty cell is a missing value, for text columns too
        options = pa_csv.ConvertOptions(strings_can_be_null=True)
        return pa_csv.read_csv(buffer, convert_options=options)
    if data_format == "parquet":
        return pa_parquet.read_table(buffer)
    return pa_json.read_json(buffer)


def table_columns(table: pa.Table) -> Table:
    columns: Table = {}
    for name, column in zip(table.column_names, table.columns, strict=True):
        kind = column.type
        if pa.types.is_integer(kind) or pa.types.is_floating(kind):
            columns[name] = column.to_numpy(zero_copy_only=False).astype(np.float64)
        elif pa.types.is_boolean(kind) and column.null_count == 0:
            columns[name] = column.to_numpy(zero_copy_only=False)
        else:
            columns[name] = column.to_pylist()
    return columns


def read_split(uri: str, data_format: DatasetFormat, *, split: str) -> Table:
    """One split as columns; a missing or unreadable file is a TrainerError naming it."""
    try:
        data = read_uri(uri)
    except ObjectNotFoundError:
        raise TrainerError(f"dataset.{split}: {uri} does not exist") from None
    except StorageError as exc:
        raise TrainerError(f"dataset.{split}: cannot read {uri}: {exc}") from exc
    try:
        table = parse_table(data, data_format)
    except (pa.ArrowInvalid, OSError) as exc:
        first = " ".join(str(exc).split())[:300]
        raise TrainerError(f"dataset.{split}: {uri} is not valid {data_format}: {first}") from exc
    if table.num_rows == 0:
        raise TrainerError(f"dataset.{split}: {uri} has no rows")
    return table_columns(table)


def num_rows(table: Table) -> int:
    return len(next(iter(table.values()))) if table else 0


def take(table: Table, rows: np.ndarray[Any, Any]) -> Table:
    out: Table = {}
    for name, values in table.items():
        if isinstance(values, np.ndarray):
            out[name] = values[rows]
        else:
            out[name] = [values[int(i)] for i in rows]
    return out


@dataclass(frozen=True)
class Splits:
    train: Table
    validation: Table
    test: Table | None
    validation_held_out: bool


def load_splits(spec: DatasetSpec, *, seed: int) -> Splits:
    """Read train, validation and test; without a validation split, hold out 10% of train."""
    train = read_split(spec.train, spec.format, split="train")
    test = read_split(spec.test, spec.format, split="test") if spec.test else None
    if spec.validation:
        validation = read_split(spec.validation, spec.format, split="validation")
        return Splits(train=train, validation=validation, test=test, validation_held_out=False)
    rows = num_rows(train)
    held = max(1, round(rows * VALIDATION_FRACTION))
    if rows - held < 1:
        raise TrainerError(
            f"dataset.train: {spec.train} has {rows} row(s), too few to hold out a validation "
            "split: add rows or set dataset.validation"
        )
    order = np.random.default_rng(seed).permutation(rows)
    return Splits(
        train=take(train, np.sort(order[held:])),
        validation=take(train, np.sort(order[:held])),
        test=test,
        validation_held_out=True,
    )
