"""Payload → records conversion for v1, v2 and /mlops, with the errors users see."""

from __future__ import annotations

import pytest

from mlops_core.artifact_config import ArtifactConfig
from mlops_core.training_spec import ModelSpec
from mlops_serving.errors import InvalidInputError
from mlops_serving.inputs import (
    flatten,
    instances_to_records,
    text_record,
    v2_inputs_to_records,
)

pytestmark = pytest.mark.unit

TABULAR = ArtifactConfig(
    architecture="mlp",
    task="tabular",
    model=ModelSpec(architecture="mlp"),
    class_labels=["a", "b"],
    label_column="y",
    feature_names=["x1", "x2", "color"],
    num_features=5,
)
TEXT = ArtifactConfig(
    architecture="lstm",
    task="text",
    model=ModelSpec(architecture="lstm"),
    class_labels=["a", "b"],
    label_column="y",
    feature_names=["body"],
    text_column="body",
    vocab_size=100,
    max_sequence_length=8,
)


def test_v1_instances_as_objects_lists_and_texts() -> None:
    assert instances_to_records(TABULAR, [{"x1": 1, "x2": 2, "color": "red"}, [3, 4, "blue"]]) == [
        {"x1": 1, "x2": 2, "color": "red"},
        {"x1": 3, "x2": 4, "color": "blue"},
    ]
    assert instances_to_records(TEXT, ["hello", {"body": "x"}]) == [
        {"body": "hello"},
        {"body": "x"},
    ]


@pytest.mark.parametrize(
    ("config", "instances", "message"),
    [
        (TABULAR, [], "empty"),
        (TABULAR, [[1, 2]], "instances\\[0\\] has 2 values; the model takes 3"),
        (TABULAR, ["text"], "send an object with x1, x2, color"),
        (TEXT, [5], "send a string"),
    ],
)
def test_v1_errors(config: ArtifactConfig, instances: list[object], message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        instances_to_records(config, instances)


def test_text_record_joins_description_and_context() -> None:
    assert text_record(TEXT, {"description": "a b", "context": "c"}) == {"body": "a b c"}
    service_context = {"source_ip": "10.0.0.7", "port": 443, "tags": ["x"]}
    answer = text_record(TEXT, {"description": "a", "context": service_context})
    assert answer == {"body": "a 10.0.0.7 443"}
    assert text_record(TEXT, {"description": "only"}) == {"body": "only"}
    with pytest.raises(InvalidInputError, match="description"):
        text_record(TEXT, {"other": 1})
    with pytest.raises(InvalidInputError, match="must be a string"):
        text_record(TEXT, {"description": 3})


def test_flatten_is_row_major() -> None:
    assert flatten([[1, 2], [3, [4, 5]]]) == [1, 2, 3, 4, 5]
    assert flatten([]) == []


def test_v2_one_tensor_per_column() -> None:
    records = v2_inputs_to_records(
        TABULAR,
        [
            ("x1", [2], "FP32", [1.0, 2.0]),
            ("x2", [2, 1], "INT64", [[3], [4]]),
            ("color", [2], "BYTES", ["red", "blue"]),
        ],
    )
    assert records == [{"x1": 1.0, "x2": 3, "color": "red"}, {"x1": 2.0, "x2": 4, "color": "blue"}]


def test_v2_one_matrix_in_column_order() -> None:
    records = v2_inputs_to_records(TABULAR, [("input-0", [2, 3], "FP32", [1, 2, 3, 4, 5, 6])])
    assert records == [{"x1": 1, "x2": 2, "color": 3}, {"x1": 4, "x2": 5, "color": 6}]


def test_v2_text_takes_bytes() -> None:
    assert v2_inputs_to_records(TEXT, [("t", [2], "BYTES", ["a", "b"])]) == [
        {"body": "a"},
        {"body": "b"},
    ]


@pytest.mark.parametrize(
    ("config", "inputs", "message"),
    [
        (TABULAR, [], "empty"),
        (TABULAR, [("m", [2, 3], "FP32", [1, 2, 3])], "needs 6 values, got 3"),
        (TABULAR, [("m", [2, 2], "FP32", [1, 2, 3, 4])], "needs 3 columns"),
        (TABULAR, [("x1", [1], "FP32", ["a"])], "must be numbers"),
        (TABULAR, [("x1", [1], "COMPLEX", [1])], "not supported"),
        (TABULAR, [("zz", [1], "FP32", [1])], "unknown input 'zz'"),
        (TABULAR, [("x1", [1], "FP32", [1])], "missing inputs: x2, color"),
        (
            TABULAR,
            [("x1", [1], "FP32", [1]), ("x2", [2], "FP32", [1, 2]), ("color", [1], "BYTES", ["r"])],
            "same number of rows",
        ),
        (TABULAR, [("x1", [-1], "FP32", [])], "negative"),
        (TEXT, [("t", [1], "FP32", [1.0])], "BYTES of shape"),
        (TEXT, [("t", [1], "BYTES", [1])], "must be strings"),
    ],
)
def test_v2_errors(
    config: ArtifactConfig, inputs: list[tuple[str, list[int], str, object]], message: str
) -> None:
    with pytest.raises(InvalidInputError, match=message):
        v2_inputs_to_records(config, inputs)
