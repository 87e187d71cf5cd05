"""How long a process must pause to keep its CPU time within a share of the wall-clock time.

The explanation workers call this after every forward pass shap asks for (one batch of
coalitions, about a millisecond of CPU with shap's own work between passes): the decision is
pure, reading the two clocks and sleeping are the caller's.

A token bucket of CPU seconds: credit accrues at ``share`` CPU seconds per wall-clock second, up
to ``burst``; the CPU used since the last check is spent from it; a negative credit is paid back
by pausing ``-credit / share`` seconds, during which the process uses no CPU. Invariants:

- measured from one check (after its pause) to any later one (after its pause), the process used
  at most ``burst + share × elapsed`` CPU seconds: an idle stretch never buys more than
  ``burst``, however long it was;
- work that never pauses on its own is paced to the share itself, not below it: the pauses are
  exactly what the credit owes, so the CPU over a long run tends to ``share × elapsed``;
- a share of one CPU or more never pauses a single-threaded process (it cannot use more).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

#: CPU seconds a worker may spend at once above its share (after an idle stretch): about one
#: explanation of a small tabular model, so that a lone explanation on a quiet server is not
#: slowed while a stream of them is held to the share
BURST_SECONDS: Final = 0.02


@dataclass(frozen=True)
class CpuBudget:
    """At most ``share`` CPU seconds per wall-clock second, ``burst`` of them at once."""

    share: float
    burst: float = BURST_SECONDS

    def __post_init__(self) -> None:
        if not self.share > 0:
            raise ValueError(f"a CPU share must be above 0, not {self.share}")
        if self.burst < 0:
            raise ValueError(f"a CPU burst cannot be negative, not {self.burst}")

    @property
    def unlimited(self) -> bool:
        """One CPU or more: a single-threaded process is never held back."""
        return self.share >= 1.0


@dataclass(frozen=True)
class Pace:
    """The clocks at the last check (after its pause) and the credit left then (CPU seconds;
    never above the burst)."""

    wall: float
    cpu: float
    credit: float


def start_pace(budget: CpuBudget, *, wall: float, cpu: float) -> Pace:
    """A process that has not started its work yet: the full burst is available."""
    return Pace(wall=wall, cpu=cpu, credit=budget.burst)


def uncharged(pace: Pace, *, wall: float, cpu: float) -> Pace:
    """The clocks moved on over work that is not charged to the budget (reading a version before
    its first explanation): the credit stays what it was."""
    return Pace(wall=wall, cpu=cpu, credit=pace.credit)


def pause_after(budget: CpuBudget, pace: Pace, *, wall: float, cpu: float) -> tuple[Pace, float]:
    """The seconds to pause now (0 when within the budget) and the pace after that pause.

    ``wall`` and ``cpu`` are the clocks now (a monotonic clock, and the process's CPU time).
    """
    if budget.unlimited:
        return Pace(wall=wall, cpu=cpu, credit=budget.burst), 0.0
    accrued = budget.share * max(0.0, wall - pace.wall)
    credit = min(budget.burst, pace.credit + accrued) - max(0.0, cpu - pace.cpu)
    if credit >= 0:
        return Pace(wall=wall, cpu=cpu, credit=credit), 0.0
    pause = -credit / budget.share
    return Pace(wall=wall + pause, cpu=cpu, credit=0.0), pause
