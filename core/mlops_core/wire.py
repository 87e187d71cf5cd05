"""The base every wire type derives from: camelCase on the wire, snake_case in Python."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel


class WireModel(BaseModel):
    """A strict, camelCase-aliased model.

    Unknown fields are rejected so that a typo in a manifest or config is an error that names
    the field, not a silently ignored setting. Instances are built from either spelling
    (``learning_rate=`` in Python, ``learningRate`` on the wire) and serialised with aliases.
    """

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        validate_default=True,
    )

    def to_wire(self) -> dict[str, object]:
        """The JSON-ready, camelCase form with unset optional fields left out."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)

    def to_merge_patch(self) -> dict[str, object]:
        """The wire form for a JSON merge patch that replaces the whole object: unset optional
        fields are written as null, which removes what an earlier patch set (a queue position
        once the run is admitted), where :meth:`to_wire` would leave it in place. Nested
        objects keep :meth:`to_wire`'s form (a merge patch replaces lists whole)."""
        unset = {field.alias or name: None for name, field in type(self).model_fields.items()}
        return {**unset, **self.to_wire()}


#: the config of a result dataclass (``pydantic.dataclasses.dataclass(config=WIRE_RESULT)``):
#: built positionally or by snake_case name in Python, camelCase when serialised
WIRE_RESULT = ConfigDict(alias_generator=to_camel, populate_by_name=True)
