"""What each trial carries so that the study can be rebuilt from the trials alone.

A trial is a TrainingJob, whose spec is immutable. What the sampler decided is written once,
when the trial is created, as the ``mlops.dev/trial`` annotation (:class:`TrialPlan`): its
number, its parameters with their distributions, the trials told to the study just before it
was asked for, and the sampler's own small system attributes. The results come from the
TrainingJob's status (final metrics, per-epoch history). Two annotations are added later: the
pruner's system attributes while the trial runs (``mlops.dev/trial-pruner``, e.g. the
successive-halving rungs it passed) and, when the search stops the trial, why
(``mlops.dev/trial-end``, :class:`TrialEnd`, with the epoch values that decided it).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final, Literal

from pydantic import Field

from mlops_core.wire import WireModel
from mlops_operator.api.meta import GROUP

ANNOTATION_PLAN: Final = f"{GROUP}/trial"
ANNOTATION_PRUNER: Final = f"{GROUP}/trial-pruner"
ANNOTATION_END: Final = f"{GROUP}/trial-end"

ParamValue = float | int | str
AttrValue = float | int | str | bool | None
#: a sampler system attribute bigger than this (CMA-ES' pickled optimizer, the whole grid) is
#: not persisted: the replay recreates it in memory
SYSTEM_ATTR_MAX: Final = 256

TrialState = Literal["running", "succeeded", "failed", "pruned", "stopped"]
FINISHED: Final[frozenset[TrialState]] = frozenset({"succeeded", "failed", "pruned"})


class TrialPlan(WireModel):
    """What the sampler decided for one trial, written when the trial is created."""

    number: int = Field(ge=0, description="Trial number, from 0.")
    params: dict[str, ParamValue] = Field(description="Parameter values, as optuna gave them.")
    distributions: dict[str, str] = Field(
        description="Each parameter's optuna distribution as JSON."
    )
    told_before: list[int] = Field(
        default_factory=list,
        description="Trials told to the study after the previous trial was asked for and "
        "before this one, in the order they were told.",
    )
    system_attrs: dict[str, AttrValue] = Field(
        default_factory=dict,
        description="The sampler's small system attributes of the trial (grid id, CMA-ES "
        "generation), to check the rebuilt study against.",
    )

    def to_annotation(self) -> str:
        return json.dumps(self.to_wire(), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_annotation(cls, text: str) -> TrialPlan:
        return cls.model_validate_json(text)


class TrialEnd(WireModel):
    """Why the search stopped a trial before its training ended."""

    state: Literal["pruned", "stopped"] = Field(description="pruned, or stopped at the end.")
    epoch: int | None = Field(default=None, ge=0, description="Last epoch it reported.")
    value: float | None = Field(default=None, description="Its objective value at that epoch.")
    intermediate: dict[str, float] = Field(
        default_factory=dict,
        description="Objective value per epoch (keys are epoch numbers) up to that epoch.",
    )
    reason: str = Field(default="", max_length=1024, description="What stopped it.")

    def to_annotation(self) -> str:
        return json.dumps(self.to_wire(), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_annotation(cls, text: str) -> TrialEnd:
        return cls.model_validate_json(text)

    def intermediate_values(self) -> dict[int, float]:
        return {int(step): value for step, value in self.intermediate.items()}


def pruner_attrs_annotation(attrs: dict[str, AttrValue]) -> str:
    return json.dumps(attrs, sort_keys=True, separators=(",", ":"))


def pruner_attrs_from_annotation(text: str | None) -> dict[str, AttrValue]:
    if not text:
        return {}
    loaded = json.loads(text)
    if not isinstance(loaded, dict):
        return {}
    return {
        str(key): value
        for key, value in loaded.items()
        if value is None or isinstance(value, float | int | str | bool)
    }


def small_system_attrs(attrs: dict[str, object]) -> dict[str, AttrValue]:
    """The system attributes worth persisting: scalars with a short JSON form."""
    kept: dict[str, AttrValue] = {}
    for key, value in attrs.items():
        if value is not None and not isinstance(value, float | int | str | bool):
            continue
        if len(json.dumps(value)) <= SYSTEM_ATTR_MAX:
            kept[key] = value
    return kept


@dataclass(frozen=True)
class TrialRecord:
    """One trial as observed: its plan, where it is, and what it reported."""

    plan: TrialPlan
    state: TrialState
    name: str = ""
    #: final objective value (succeeded), or the value at the epoch that pruned it
    value: float | None = None
    #: objective value per epoch
    intermediate: dict[int, float] = field(default_factory=dict)
    pruner_attrs: dict[str, AttrValue] = field(default_factory=dict)
    #: why it failed, was pruned or stopped
    reason: str | None = None
    epochs: int = 0
    started: datetime | None = None
    finished: datetime | None = None
    #: a running trial still waiting in its Kueue queue (neither training nor failed)
    queued: bool = False

    @property
    def number(self) -> int:
        return self.plan.number

    @property
    def finished_for_study(self) -> bool:
        return self.state in FINISHED
