"""Pydantic models → structural OpenAPI v3 schemas, as a CustomResourceDefinition needs them.

The API server accepts only *structural* schemas: every node has a type, no ``$ref``, no
unions beyond int-or-string, ``properties`` and ``additionalProperties`` never together. This
module takes the JSON schema that pydantic generates (``by_alias=True``, so camelCase) and:

- inlines every ``$ref`` (a field's own description wins over its type's docstring, and CEL
  rules of the field and of its type are both kept);
- turns ``anyOf [X, null]`` into ``X`` with ``nullable: true``, and ``const`` into ``enum``;
- rewrites JSON Schema's numeric ``exclusiveMinimum: 0`` as OpenAPI's ``minimum: 0`` +
  ``exclusiveMinimum: true`` (and the same for maximum);
- adds ``format: int64`` / ``double`` to integers and numbers;
- drops titles, ``additionalProperties: false`` (the API server prunes unknown fields instead)
  and null defaults, and writes defaults built by ``default_factory`` (``{}`` for a nested
  model, so the API server fills in that model's own defaults);
- turns ``x-kubernetes-int-or-string`` strings (resource quantities) into the int-or-string
  form.
"""

from __future__ import annotations

from typing import Any, Final

from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema, NoDefault
from pydantic_core import core_schema

Schema = dict[str, Any]

_KEY_ORDER: Final = (
    "description",
    "type",
    "format",
    "enum",
    "default",
    "nullable",
    "anyOf",
    "x-kubernetes-int-or-string",
    "minimum",
    "exclusiveMinimum",
    "maximum",
    "exclusiveMaximum",
    "minLength",
    "maxLength",
    "pattern",
    "minItems",
    "maxItems",
    "minProperties",
    "maxProperties",
    "properties",
    "required",
    "items",
    "additionalProperties",
    "x-kubernetes-list-type",
    "x-kubernetes-list-map-keys",
    "x-kubernetes-preserve-unknown-fields",
    "x-kubernetes-validations",
)
_DROPPED: Final = frozenset({"title", "$defs", "examples", "discriminator"})
_VALIDATIONS: Final = "x-kubernetes-validations"


class SchemaError(ValueError):
    """A model uses a construct that has no structural OpenAPI form."""


class _CrdJsonSchema(GenerateJsonSchema):
    """Pydantic's generator, reporting defaults that come from a ``default_factory``."""

    def get_default_value(self, schema: core_schema.WithDefaultSchema) -> Any:
        factory = schema.get("default_factory")
        if factory is None or schema.get("default_factory_takes_data"):
            return super().get_default_value(schema)
        value = factory()  # type: ignore[call-arg]
        if isinstance(value, BaseModel):
            return {}
        if value in ([], {}):
            return NoDefault
        return value


def openapi_schema(model: type[BaseModel]) -> Schema:
    """The structural OpenAPI v3 schema of ``model`` (validation mode, camelCase)."""
    raw = model.model_json_schema(by_alias=True, schema_generator=_CrdJsonSchema)
    definitions = raw.pop("$defs", {})
    return _convert(raw, definitions, path=model.__name__)


def _convert(node: Schema, definitions: Schema, *, path: str) -> Schema:
    node = dict(node)
    if "$ref" in node or ("allOf" in node and len(node["allOf"]) == 1):
        target = node.pop("$ref", None) or node.pop("allOf")[0]["$ref"]
        resolved = _convert(definitions[target.rsplit("/", 1)[-1]], definitions, path=path)
        return _merge(resolved, _convert(node, definitions, path=path))
    if "anyOf" in node:
        branches = [branch for branch in node.pop("anyOf") if branch != {"type": "null"}]
        if len(branches) != 1:
            raise SchemaError(f"{path}: unions are not structural; use one type (or X | None)")
        merged = _merge(
            _convert(branches[0], definitions, path=path), _convert(node, definitions, path=path)
        )
        merged["nullable"] = True
        return _ordered(merged)

    out: Schema = {}
    for key, value in node.items():
        if key in _DROPPED or (key == "default" and value is None):
            continue
        if key == "additionalProperties" and value is False:
            continue
        if key == "const":
            out["enum"] = [value]
        elif key == "properties":
            out[key] = {
                name: _convert(child, definitions, path=f"{path}.{name}")
                for name, child in value.items()
            }
        elif key in ("items", "additionalProperties") and isinstance(value, dict):
            out[key] = _convert(value, definitions, path=f"{path}[]")
        elif key in ("exclusiveMinimum", "exclusiveMaximum") and not isinstance(value, bool):
            out["minimum" if key == "exclusiveMinimum" else "maximum"] = value
            out[key] = True
        else:
            out[key] = value
    if "const" in node and "type" not in out:
        out["type"] = _json_type(node["const"])
    if out.get("type") == "integer":
        out.setdefault("format", "int64")
    elif out.get("type") == "number":
        out.setdefault("format", "double")
    if out.pop("x-kubernetes-int-or-string", False):
        out.pop("type", None)
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
        out["x-kubernetes-int-or-string"] = True
    return _ordered(out)


def _merge(base: Schema, overlay: Schema) -> Schema:
    """``base`` with the keys of ``overlay`` on top; CEL rules of both are kept."""
    merged = {**base, **overlay}
    rules = [*base.get(_VALIDATIONS, []), *overlay.get(_VALIDATIONS, [])]
    if rules:
        merged[_VALIDATIONS] = rules
    return _ordered(merged)


def _ordered(node: Schema) -> Schema:
    rank = {key: index for index, key in enumerate(_KEY_ORDER)}
    return dict(sorted(node.items(), key=lambda item: (rank.get(item[0], len(rank)), item[0])))


def _json_type(value: object) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    return "string"
