"""What the search does next, as pure functions of the spec and the observed trials: how many
trials to start, whether it has ended and why, which trial is best."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from mlops_operator.api.experiment import Direction, ExperimentSpec
from mlops_operator.search.record import TrialRecord

EndReason = Literal["GoalReached", "MaxTrialsReached", "TooManyFailedTrials", "NoTrialSucceeded"]
#: reasons the search ends without a failure
SUCCESSFUL_ENDS: frozenset[EndReason] = frozenset({"GoalReached", "MaxTrialsReached"})
FAILURES_LISTED = 10


@dataclass(frozen=True)
class SearchVerdict:
    """Where the search stands after this look at its trials."""

    #: why the search is over; None while it goes on
    ended: EndReason | None = None
    message: str = ""
    #: new trials to ask the study for now
    to_create: int = 0
    #: running trials to stop because the search is over
    to_stop: list[int] = field(default_factory=list)

    @property
    def succeeded(self) -> bool:
        return self.ended in SUCCESSFUL_ENDS


def is_better(value: float, than: float, direction: Direction) -> bool:
    return value > than if direction == "maximize" else value < than


def best_trial(records: Sequence[TrialRecord], direction: Direction) -> TrialRecord | None:
    """The succeeded trial with the best objective value (the lower number on a tie)."""
    best: TrialRecord | None = None
    for record in sorted(records, key=lambda item: item.number):
        if record.state != "succeeded" or record.value is None:
            continue
        if best is None or is_better(record.value, best.value or 0.0, direction):
            best = record
    return best


def goal_reached(record: TrialRecord | None, spec: ExperimentSpec) -> bool:
    goal = spec.objective.goal
    if record is None or record.value is None or goal is None:
        return False
    if spec.objective.direction == "maximize":
        return record.value >= goal
    return record.value <= goal


def failure_list(records: Sequence[TrialRecord]) -> str:
    failed = [record for record in records if record.state == "failed"]
    listed = [f"{record.name or record.number}: {record.reason or 'failed'}" for record in failed]
    more = len(listed) - FAILURES_LISTED
    return "; ".join(listed[:FAILURES_LISTED]) + (f"; and {more} more" if more > 0 else "")


def decide(
    spec: ExperimentSpec, records: Sequence[TrialRecord], *, capacity: int | None = None
) -> SearchVerdict:
    """The next step. ``capacity``: how many distinct trials the space holds (grid search),
    which caps ``maxTrials``.

    When the search ends early (goal reached, too many failures) the trials still running are
    stopped: their results could no longer change what the search decided.
    """
    running = sorted(record.number for record in records if record.state == "running")
    failed = sum(1 for record in records if record.state == "failed")
    if failed > spec.max_failed_trials:
        return SearchVerdict(
            ended="TooManyFailedTrials",
            message=f"{failed} trials failed, more than maxFailedTrials "
            f"({spec.max_failed_trials}): {failure_list(records)}",
            to_stop=running,
        )
    best = best_trial(records, spec.objective.direction)
    if best is not None and goal_reached(best, spec):
        return SearchVerdict(
            ended="GoalReached",
            message=f"trial {best.number} reached {spec.objective.metric} = {best.value:.6g} "
            f"(goal {spec.objective.goal:g})",
            to_stop=running,
        )
    limit = spec.max_trials if capacity is None else min(spec.max_trials, capacity)
    created = len(records)
    if created >= limit:
        if running:
            return SearchVerdict(message=f"all {created} trials started; {len(running)} running")
        if best is None:
            return SearchVerdict(
                ended="NoTrialSucceeded",
                message=f"none of the {created} trials succeeded"
                + (f": {failure_list(records)}" if failed else ""),
            )
        space = (
            f" (the grid holds {capacity} points)"
            if capacity is not None and capacity < spec.max_trials
            else ""
        )
        return SearchVerdict(
            ended="MaxTrialsReached",
            message=f"all {created} trials ended{space}; the best is trial {best.number} with "
            f"{spec.objective.metric} = {best.value:.6g}",
        )
    return SearchVerdict(
        message=f"{len(running)} of {spec.parallel_trials} trials running, "
        f"{created} of {limit} started",
        to_create=max(0, min(spec.parallel_trials - len(running), limit - created)),
    )
