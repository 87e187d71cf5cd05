"""CustomResourceDefinition documents built from the kinds, and the checks they must pass."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Final

from mlops_operator.api.meta import CATEGORY, GROUP, VERSION, ResourceKind
from mlops_operator.api.openapi import Schema, openapi_schema

PART_OF_LABEL: Final = {"app.kubernetes.io/part-of": "mlops-operator"}


def build_crd(kind: ResourceKind) -> dict[str, Any]:
    """The ``apiextensions.k8s.io/v1`` CustomResourceDefinition of ``kind``."""
    root: Schema = {
        "description": kind.description,
        "type": "object",
        "properties": {
            "apiVersion": {
                "description": "Versioned schema of this representation: mlops.dev/v1alpha1.",
                "type": "string",
            },
            "kind": {
                "description": f"The kind of this object: {kind.kind}.",
                "type": "string",
            },
            "metadata": {"type": "object"},
            "spec": openapi_schema(kind.spec),
            "status": openapi_schema(kind.status),
        },
        "required": ["spec"],
    }
    if kind.root_rules:
        root["x-kubernetes-validations"] = [dict(item) for item in kind.root_rules]
    subresources: dict[str, Any] = {"status": {}}
    if kind.scale is not None:
        subresources["scale"] = {
            "specReplicasPath": kind.scale.spec_replicas_path,
            "statusReplicasPath": kind.scale.status_replicas_path,
            "labelSelectorPath": kind.scale.label_selector_path,
        }
    columns = []
    for column in kind.printer_columns:
        entry: dict[str, Any] = {
            "name": column.name,
            "type": column.type,
            "jsonPath": column.json_path,
            "description": column.description,
        }
        if column.priority:
            entry["priority"] = column.priority
        columns.append(entry)
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": kind.crd_name, "labels": dict(PART_OF_LABEL)},
        "spec": {
            "group": GROUP,
            "names": {
                "kind": kind.kind,
                "listKind": kind.list_kind,
                "plural": kind.plural,
                "singular": kind.singular,
                "shortNames": list(kind.short_names),
                "categories": [CATEGORY],
            },
            "scope": "Namespaced",
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": root},
                    "subresources": subresources,
                    "additionalPrinterColumns": columns,
                }
            ],
        },
    }


def schema_problems(schema: Schema, *, path: str = "") -> list[str]:
    """What keeps ``schema`` from being a described, bounded, structural schema.

    Every node needs a ``type`` (or the int-or-string form) and a description (items of a list
    or values of a map are described by their parent); every string a ``maxLength`` (a
    ``date-time`` string is a timestamp to CEL, so it needs none), every array ``maxItems``,
    every map ``maxProperties``. Bounds are what let the API server estimate the cost of CEL
    rules; descriptions are what ``kubectl explain`` shows.
    """
    return list(_problems(schema, path=path, described_by_parent=False))


def _problems(node: Schema, *, path: str, described_by_parent: bool) -> Iterator[str]:
    where = path or "<root>"
    for forbidden in ("$ref", "title", "allOf", "oneOf"):
        if forbidden in node:
            yield f"{where}: has {forbidden}"
    int_or_string = node.get("x-kubernetes-int-or-string") is True
    kind = node.get("type")
    if kind is None and not int_or_string:
        yield f"{where}: has no type"
    if not described_by_parent and not node.get("description"):
        yield f"{where}: has no description"
    is_string = kind == "string" or int_or_string
    unbounded = "maxLength" not in node and "enum" not in node
    if is_string and unbounded and node.get("format") != "date-time":
        yield f"{where}: string without maxLength"
    if kind == "array":
        if "maxItems" not in node:
            yield f"{where}: array without maxItems"
        yield from _problems(node.get("items", {}), path=f"{path}[]", described_by_parent=True)
    if kind == "object":
        properties = node.get("properties")
        values = node.get("additionalProperties")
        if properties is not None and values is not None:
            yield f"{where}: has both properties and additionalProperties"
        for name, child in (properties or {}).items():
            yield from _problems(child, path=f"{path}.{name}", described_by_parent=False)
        if isinstance(values, dict):
            if "maxProperties" not in node:
                yield f"{where}: map without maxProperties"
            yield from _problems(values, path=f"{path}{{}}", described_by_parent=True)
