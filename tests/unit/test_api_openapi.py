"""Pydantic → structural OpenAPI: each rewrite the API server needs, on small models."""

from __future__ import annotations

from typing import Literal

import pytest
from pydantic import ConfigDict, Field

from mlops_core.wire import WireModel
from mlops_operator.api.cel import rule, rules_of, validations
from mlops_operator.api.crd import schema_problems
from mlops_operator.api.openapi import SchemaError, openapi_schema
from mlops_operator.api.resources import CpuQuantity

pytestmark = pytest.mark.unit


class Inner(WireModel):
    """An inner object."""

    model_config = ConfigDict(
        json_schema_extra=validations(rule("self.size > 0", "size must be > 0"))
    )

    size: int = Field(default=1, description="A size.")


class Outer(WireModel):
    """The outer object."""

    inner: Inner = Field(
        default_factory=Inner,
        json_schema_extra=validations(rule("self == oldSelf", "inner is immutable")),
        description="The inner object, described here.",
    )
    maybe: str | None = Field(default=None, max_length=8, description="Optional text.")
    rate: float = Field(default=0.5, gt=0, lt=1, description="A rate.")
    choice: Literal["a", "b"] = Field(default="a", description="A choice.")
    only: Literal["x"] = Field(default="x", description="A constant.")
    cpu: CpuQuantity = Field(default="1", description="A quantity.")
    labels: dict[str, int] = Field(default_factory=dict, max_length=4, description="A map.")
    sizes: list[int] = Field(default_factory=lambda: [1, 2], max_length=3, description="A list.")


def test_refs_are_inlined_and_the_field_description_wins() -> None:
    inner = openapi_schema(Outer)["properties"]["inner"]
    assert inner["description"] == "The inner object, described here."
    assert inner["type"] == "object"
    assert inner["properties"]["size"] == {
        "description": "A size.",
        "type": "integer",
        "format": "int64",
        "default": 1,
    }


def test_rules_of_the_type_and_of_the_field_are_both_kept() -> None:
    inner = openapi_schema(Outer)["properties"]["inner"]
    assert [item["message"] for item in inner["x-kubernetes-validations"]] == [
        "size must be > 0",
        "inner is immutable",
    ]
    assert rules_of(Inner) == [{"rule": "self.size > 0", "message": "size must be > 0"}]


def test_optional_becomes_nullable_and_null_defaults_go() -> None:
    maybe = openapi_schema(Outer)["properties"]["maybe"]
    assert maybe == {
        "description": "Optional text.",
        "type": "string",
        "nullable": True,
        "maxLength": 8,
    }


def test_exclusive_bounds_use_the_openapi_v3_form() -> None:
    rate = openapi_schema(Outer)["properties"]["rate"]
    assert rate["minimum"] == 0
    assert rate["exclusiveMinimum"] is True
    assert rate["maximum"] == 1
    assert rate["exclusiveMaximum"] is True
    assert rate["format"] == "double"


def test_literals_become_enums() -> None:
    properties = openapi_schema(Outer)["properties"]
    assert properties["choice"]["enum"] == ["a", "b"]
    assert properties["only"]["enum"] == ["x"]
    assert properties["only"]["type"] == "string"
    assert "const" not in properties["only"]


def test_quantities_are_int_or_string_checked_by_a_cel_rule() -> None:
    cpu = openapi_schema(Outer)["properties"]["cpu"]
    assert cpu["anyOf"] == [{"type": "integer"}, {"type": "string"}]
    assert cpu["x-kubernetes-int-or-string"] is True
    assert "type" not in cpu
    assert "pattern" not in cpu
    assert "Kubernetes quantity" in cpu["x-kubernetes-validations"][0]["message"]
    assert cpu["maxLength"] == 32


def test_factory_defaults_are_written_except_empty_ones() -> None:
    properties = openapi_schema(Outer)["properties"]
    assert properties["inner"]["default"] == {}
    assert properties["sizes"]["default"] == [1, 2]
    assert "default" not in properties["labels"]


def test_maps_and_closed_objects() -> None:
    schema = openapi_schema(Outer)
    assert schema["properties"]["labels"]["additionalProperties"] == {
        "type": "integer",
        "format": "int64",
    }
    assert "additionalProperties" not in schema  # extra=forbid is left to pruning
    assert "title" not in schema
    assert "$defs" not in schema


def test_unions_are_refused() -> None:
    class Union(WireModel):
        value: int | str = Field(description="Either.")

    with pytest.raises(SchemaError, match="unions are not structural"):
        openapi_schema(Union)


def test_schema_problems_name_what_is_missing() -> None:
    class Sloppy(WireModel):
        text: str
        items: list[str] = Field(default_factory=list, description="Unbounded list.")
        table: dict[str, str] = Field(default_factory=dict, description="Unbounded map.")

    problems = schema_problems(openapi_schema(Sloppy), path=".spec")
    assert ".spec.text: has no description" in problems
    assert ".spec.text: string without maxLength" in problems
    assert ".spec.items: array without maxItems" in problems
    assert ".spec.items[]: string without maxLength" in problems
    assert ".spec.table: map without maxProperties" in problems


def test_a_well_formed_model_has_no_problems() -> None:
    assert schema_problems(openapi_schema(Outer), path=".spec") == []
