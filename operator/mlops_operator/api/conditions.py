"""Status conditions (Kubernetes API conventions, kstatus) and the pure helper that sets them.

Every kind reports ``Ready``, ``Reconciling`` and ``Stalled``; TrainingJob and Experiment also
``Succeeded``. ``kubectl wait --for=condition=Ready``, Flux and Argo CD read them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Final, Literal

from pydantic import Field
from pydantic.config import JsonDict

from mlops_core.wire import WireModel

ConditionStatus = Literal["True", "False", "Unknown"]

READY: Final = "Ready"
RECONCILING: Final = "Reconciling"
STALLED: Final = "Stalled"
SUCCEEDED: Final = "Succeeded"

CONDITIONS_MAX: Final = 16
REASON_MAX: Final = 128
MESSAGE_MAX: Final = 4096
REASON_PATTERN: Final = r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$"
TYPE_PATTERN: Final = r"^[A-Z][A-Za-z0-9]*$"


class Condition(WireModel):
    """One aspect of the object's state, as Kubernetes API conventions describe it."""

    type: str = Field(
        max_length=64,
        pattern=TYPE_PATTERN,
        description="Condition type in CamelCase: Ready, Reconciling, Stalled or Succeeded.",
    )
    status: ConditionStatus = Field(description="True, False or Unknown.")
    reason: str = Field(
        max_length=REASON_MAX,
        pattern=REASON_PATTERN,
        description="Why the condition has this status, as one CamelCase word.",
    )
    message: str = Field(
        default="",
        max_length=MESSAGE_MAX,
        description="What happened and, for a failure, what to do about it.",
    )
    observed_generation: int | None = Field(
        default=None,
        ge=0,
        description="metadata.generation of the object this condition was computed from.",
    )
    last_transition_time: datetime = Field(
        description="When the status last changed (not the reason or message)."
    )


CONDITIONS_SCHEMA: Final[JsonDict] = {
    "x-kubernetes-list-type": "map",
    "x-kubernetes-list-map-keys": ["type"],
}


class ResourceStatus(WireModel):
    """What every kind's status holds: the generation it describes and its conditions."""

    observed_generation: int | None = Field(
        default=None,
        ge=0,
        description="metadata.generation of the spec that the operator last acted on.",
    )
    conditions: list[Condition] = Field(
        default_factory=list,
        max_length=CONDITIONS_MAX,
        json_schema_extra=CONDITIONS_SCHEMA,
        description="Ready, Reconciling, Stalled (and Succeeded for runs), one entry per type.",
    )

    def condition(self, condition_type: str) -> Condition | None:
        """The condition of this type, if set."""
        return find_condition(self.conditions, condition_type)


def find_condition(conditions: Sequence[Condition], condition_type: str) -> Condition | None:
    """The condition of ``condition_type`` in ``conditions``, or None."""
    return next((item for item in conditions if item.type == condition_type), None)


def is_true(conditions: Sequence[Condition], condition_type: str) -> bool:
    """Whether the condition of ``condition_type`` is present with status True."""
    found = find_condition(conditions, condition_type)
    return found is not None and found.status == "True"


def set_condition(
    conditions: Sequence[Condition],
    *,
    condition_type: str,
    status: ConditionStatus,
    reason: str,
    message: str = "",
    observed_generation: int | None = None,
    now: datetime,
) -> list[Condition]:
    """``conditions`` with the one of ``condition_type`` set; the input is not modified.

    ``lastTransitionTime`` stays as it was when the status does not change (only reason,
    message or generation do), and becomes ``now`` (to the second, as Kubernetes writes
    times) when it does or the condition is new.
    An existing condition keeps its place in the list; a new one is appended. A message longer
    than the schema allows is cut, with an ellipsis, rather than rejected.
    """
    if len(message) > MESSAGE_MAX:
        message = message[: MESSAGE_MAX - 1] + "…"
    previous = find_condition(conditions, condition_type)
    changed = previous is None or previous.status != status
    updated = Condition(
        type=condition_type,
        status=status,
        reason=reason,
        message=message,
        observed_generation=observed_generation,
        last_transition_time=(
            now.replace(microsecond=0)
            if changed or previous is None
            else previous.last_transition_time
        ),
    )
    if previous is None:
        return [*conditions, updated]
    return [updated if item.type == condition_type else item for item in conditions]


def set_conditions(
    conditions: Sequence[Condition],
    wanted: Sequence[tuple[str, ConditionStatus, str]],
    *,
    message: str,
    primary: str,
    observed_generation: int | None,
    now: datetime,
) -> list[Condition]:
    """``conditions`` with each ``(type, status, reason)`` of ``wanted`` set, in that order.

    The human ``message`` goes to the ``primary`` condition (the one a person reads first) and to
    every condition that is True; the others carry no message, so a stale explanation never
    lingers on a condition that no longer holds.
    """
    updated = list(conditions)
    for condition_type, status, reason in wanted:
        updated = set_condition(
            updated,
            condition_type=condition_type,
            status=status,
            reason=reason,
            message=message if status == "True" or condition_type == primary else "",
            observed_generation=observed_generation,
            now=now,
        )
    return updated


def remove_condition(conditions: Sequence[Condition], condition_type: str) -> list[Condition]:
    """``conditions`` without the one of ``condition_type``."""
    return [item for item in conditions if item.type != condition_type]
