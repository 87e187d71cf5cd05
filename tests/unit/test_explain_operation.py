"""``mlops explain`` and ``POST /mlops/explain``: input files, the top features, the output."""

from __future__ import annotations

import pytest

from mlops_operator.commands.explain import render
from mlops_operator.operations.errors import InvalidRequestError
from mlops_operator.operations.explain import instances_of, top_features

pytestmark = pytest.mark.unit

ANSWER = {
    "model": "fraud",
    "version": "1.2.0",
    "runtime": "onnx",
    "explanations": [
        {
            "label": "fraud",
            "output": "probability",
            "prediction": 0.9,
            "baseValue": 0.4,
            "attributions": [
                {"feature": "amount", "value": 0.3},
                {"feature": "age", "value": -0.01},
                {"feature": "score", "value": -0.15},
                {"feature": "segment", "value": 0.36},
            ],
            "additivityError": 0.0,
        }
    ],
}


def test_an_input_file_is_a_list_an_instances_object_or_one_record() -> None:
    assert instances_of([{"a": 1}, {"a": 2}]) == [{"a": 1}, {"a": 2}]
    assert instances_of({"instances": [{"a": 1}]}) == [{"a": 1}]
    assert instances_of({"a": 1}) == [{"a": 1}]
    with pytest.raises(InvalidRequestError, match="JSON list of records"):
        instances_of("text")


def test_the_top_features_are_the_largest_in_magnitude() -> None:
    explanation = ANSWER["explanations"][0]  # type: ignore[index]
    assert top_features(explanation, 2) == [("segment", 0.36), ("amount", 0.3)]
    assert [f for f, _ in top_features(explanation)] == ["segment", "amount", "score", "age"]


def test_the_cli_prints_each_instance_with_its_top_features() -> None:
    text = render(ANSWER, top=2)
    assert text.splitlines() == [
        "fraud 1.2.0 (onnx runtime)",
        "instance 0: fraud  probability 0.9000 (base 0.4000)",
        "  +0.3600  segment",
        "  +0.3000  amount",
    ]
