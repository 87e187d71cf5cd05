"""CEL validation rules (``x-kubernetes-validations``) attached to the models.

A rule is a dict the CRD generator copies verbatim into the schema of the model or field it is
attached to, where the API server enforces it. Pydantic models carry the rules through
``json_schema_extra``; the same invariants are also checked by pydantic validators, so a
manifest parsed in Python fails the same way as one sent to the API server (transition rules,
which compare with ``oldSelf``, exist only on the server).
"""

from __future__ import annotations

from typing import Final, cast

from pydantic.config import JsonDict, JsonValue

from mlops_core.wire import WireModel

VALIDATIONS_KEY: Final = "x-kubernetes-validations"

Rule = dict[str, str]


def rule(expression: str, message: str, *, field_path: str | None = None) -> Rule:
    """One CEL rule; ``field_path`` (e.g. ``.spec.version``) names the field the error points at."""
    entry: Rule = {"rule": expression, "message": message}
    if field_path is not None:
        entry["fieldPath"] = field_path
    return entry


def validations(*rules: Rule) -> JsonDict:
    """``json_schema_extra`` carrying ``rules``."""
    return {VALIDATIONS_KEY: [cast(JsonValue, dict(item)) for item in rules]}


def immutable(what: str) -> Rule:
    """A transition rule: the value may not change once set."""
    return rule("self == oldSelf", f"{what} is immutable: create a new object instead")


def rules_of(model: type[WireModel]) -> list[Rule]:
    """The rules attached to a model class (for tests and documentation)."""
    extra = model.model_config.get("json_schema_extra")
    if not isinstance(extra, dict):
        return []
    found = extra.get(VALIDATIONS_KEY, [])
    return [dict(item) for item in found] if isinstance(found, list) else []  # type: ignore[arg-type]
