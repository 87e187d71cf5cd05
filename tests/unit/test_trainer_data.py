"""Reading splits (CSV, Parquet, JSON Lines) and turning them into tensors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pa_parquet
import pytest
import torch

from mlops_core.training_spec import DatasetSpec, TrainerConfig
from mlops_trainer.dataset import load_splits, read_split
from mlops_trainer.errors import TrainerError
from mlops_trainer.preparation import prepare

pytestmark = pytest.mark.unit

TABLE = pa.table(
    {
        "size": [1.0, 2.0, None, 4.0, 5.0, 6.0],
        "colour": ["red", "blue", "red", None, "blue", "red"],
        "label": ["no", "yes", "no", "yes", "no", "yes"],
    }
)


def _write(path: Path, data_format: str, table: pa.Table = TABLE) -> str:
    if data_format == "csv":
        pa_csv.write_csv(table, path)
    elif data_format == "parquet":
        pa_parquet.write_table(table, path)
    else:
        path.write_text("".join(json.dumps(row) + "\n" for row in table.to_pylist()))
    return str(path)


@pytest.mark.parametrize("data_format", ["csv", "parquet", "jsonl"])
def test_every_format_reads_the_same_columns(tmp_path: Path, data_format: str) -> None:
    uri = _write(tmp_path / f"train.{data_format}", data_format)
    table = read_split(uri, data_format, split="train")  # type: ignore[arg-type]
    assert set(table) == {"size", "colour", "label"}
    size = np.asarray(table["size"], dtype=float)
    assert np.isnan(size[2])
    assert size[3] == 4.0
    assert list(table["colour"])[3] is None


def test_missing_file_and_empty_file_name_the_split(tmp_path: Path) -> None:
    with pytest.raises(TrainerError, match=r"dataset.train: .*nope.csv does not exist"):
        read_split(str(tmp_path / "nope.csv"), "csv", split="train")
    (tmp_path / "empty.csv").write_text("size,label\n")
    with pytest.raises(TrainerError, match=r"dataset.validation: .*empty.csv has no rows"):
        read_split(str(tmp_path / "empty.csv"), "csv", split="validation")


def test_without_validation_ten_percent_is_held_out(tmp_path: Path) -> None:
    table = pa.table({"x": list(range(50)), "label": [i % 2 for i in range(50)]})
    uri = _write(tmp_path / "train.csv", "csv", table)
    splits = load_splits(DatasetSpec(train=uri), seed=1)
    assert splits.validation_held_out
    train_x, val_x = set(splits.train["x"]), set(splits.validation["x"])
    assert len(val_x) == 5
    assert len(train_x) == 45
    assert not train_x & val_x


def _config(uri: str, **dataset: object) -> TrainerConfig:
    return TrainerConfig.model_validate(
        {
            "dataset": {"train": uri, "validation": uri, **dataset},
            "model": {"architecture": "logistic_regression"},
            "output": {"modelName": "m", "version": "1.0.0", "artifactUri": "/tmp/unused"},
        }
    )


def test_prepare_fits_on_train_and_encodes_labels(tmp_path: Path) -> None:
    uri = _write(tmp_path / "train.csv", "csv")
    config = _config(uri)
    data = prepare(config, load_splits(config.dataset, seed=0))
    assert data.config.class_labels == ["no", "yes"]
    assert data.config.feature_names == ["size", "colour"]
    assert data.config.num_features == 1 + 2  # size, colour=blue, colour=red
    assert data.train.inputs.dtype == torch.float32
    assert data.train.targets.tolist() == [0, 1, 0, 1, 0, 1]
    assert [f.name for f in data.reference.features] == ["size", "colour"]


@pytest.mark.parametrize(
    ("dataset", "table", "message"),
    [
        ({"featureColumns": ["weight"]}, TABLE, r"dataset.featureColumns entry 'weight' is not"),
        ({"labelColumn": "target"}, TABLE, r"dataset.labelColumn 'target' is not a column"),
        (
            {},
            TABLE.set_column(2, "label", pa.array(["no"] * 6)),
            r"label column 'label' has one class \('no'\) in the training split",
        ),
    ],
)
def test_bad_columns_and_labels_are_clear(
    tmp_path: Path, dataset: dict[str, object], table: pa.Table, message: str
) -> None:
    uri = _write(tmp_path / "train.csv", "csv", table)
    config = _config(uri, **dataset)
    with pytest.raises(TrainerError, match=message):
        prepare(config, load_splits(config.dataset, seed=0))


def test_label_unseen_in_training_is_an_error(tmp_path: Path) -> None:
    train = _write(tmp_path / "train.csv", "csv")
    other = TABLE.set_column(2, "label", pa.array(["no", "yes", "maybe", "no", "no", "no"]))
    validation = _write(tmp_path / "validation.csv", "csv", other)
    config = _config(train, validation=validation)
    with pytest.raises(TrainerError, match=r"validation split has label 'maybe' in row 2"):
        prepare(config, load_splits(config.dataset, seed=0))


def test_numeric_labels_sort_numerically(tmp_path: Path) -> None:
    table = pa.table({"x": [float(i) for i in range(12)], "label": [10, 2, 1] * 4})
    uri = _write(tmp_path / "train.csv", "csv", table)
    config = _config(uri)
    assert prepare(config, load_splits(config.dataset, seed=0)).config.class_labels == [
        "1",
        "2",
        "10",
    ]
