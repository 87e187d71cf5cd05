"""Stage transitions of a ModelVersion and what a promotion implies for its siblings.

A version moves draft → staging → production → archived. A draft or staging version may be
promoted straight to production; any version may be archived; an archived version may come
back to staging or production (a rollback) but never to draft, and a staging version may go
back to draft. Under a Model's single-production policy, promoting a version to production
archives the version that was in production before (or returns it to staging, when the
Model's policy says so).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Final, Literal, get_args

from pydantic import Field
from pydantic.dataclasses import dataclass as wire_dataclass

from mlops_core.wire import WIRE_RESULT

Stage = Literal["draft", "staging", "production", "archived"]
STAGES: Final[tuple[Stage, ...]] = get_args(Stage)

ALLOWED_TRANSITIONS: Final[dict[Stage, frozenset[Stage]]] = {
    "draft": frozenset({"staging", "production", "archived"}),
    "staging": frozenset({"draft", "production", "archived"}),
    "production": frozenset({"staging", "archived"}),
    "archived": frozenset({"staging", "production"}),
}


class StageTransitionError(ValueError):
    """A stage change the registry does not allow."""


def parse_stage(text: str) -> Stage:
    for stage in STAGES:
        if text == stage:
            return stage
    raise StageTransitionError(f"unknown stage {text!r}: use one of {', '.join(STAGES)}")


def check_transition(old: Stage, new: Stage) -> None:
    """Raise StageTransitionError unless ``old`` → ``new`` is allowed (staying put is)."""
    if old == new or new in ALLOWED_TRANSITIONS[old]:
        return
    allowed = ", ".join(sorted(ALLOWED_TRANSITIONS[old]))
    raise StageTransitionError(f"a {old} version cannot move to {new}; from {old}: {allowed}")


@dataclass(frozen=True)
class VersionStage:
    """A ModelVersion as far as stages are concerned."""

    name: str
    version: str
    stage: Stage


@wire_dataclass(frozen=True, config=WIRE_RESULT)
class Transition:
    """One stage change of a promotion (``from`` and ``to`` on the wire)."""

    name: Annotated[str, Field(description="Name of the ModelVersion.")]
    version: str
    old: Annotated[Stage, Field(serialization_alias="from")]
    new: Annotated[Stage, Field(serialization_alias="to")]


def plan_promotion(
    target: VersionStage,
    new_stage: Stage,
    siblings: list[VersionStage],
    *,
    single_production: bool,
    replaced_to: Stage = "archived",
) -> list[Transition]:
    """The stage changes that promoting ``target`` to ``new_stage`` takes, in order.

    The target moves first and the versions it replaces move to ``replaced_to`` (archived,
    or staging when the Model's policy does not archive on promotion) afterwards, so the
    model is never left without a production version in between.
    """
    check_transition(target.stage, new_stage)
    plan = []
    if target.stage != new_stage:
        plan.append(Transition(target.name, target.version, target.stage, new_stage))
    if new_stage == "production" and single_production:
        plan.extend(
            Transition(other.name, other.version, "production", replaced_to)
            for other in sorted(siblings, key=lambda v: v.name)
            if other.name != target.name and other.stage == "production"
        )
    return plan
