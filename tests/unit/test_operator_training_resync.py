"""How often the operator looks at each unfinished run when no event comes."""

from __future__ import annotations

import pytest

from mlops_operator.handlers.training import (
    RESYNC_PER_SECOND,
    RESYNC_SECONDS,
    UnfinishedRuns,
    resync_after,
)

pytestmark = pytest.mark.unit


def test_a_few_runs_are_looked_at_every_resync_period() -> None:
    assert resync_after(0) == RESYNC_SECONDS
    assert resync_after(1) == RESYNC_SECONDS
    assert resync_after(int(RESYNC_SECONDS * RESYNC_PER_SECOND)) == RESYNC_SECONDS


def test_many_runs_together_take_a_bounded_number_of_looks_a_second() -> None:
    for runs in (1_000, 10_000):
        after = resync_after(runs)
        assert after > RESYNC_SECONDS
        assert runs / after == pytest.approx(RESYNC_PER_SECOND)


def test_unfinished_runs_are_counted_until_they_finish() -> None:
    runs = UnfinishedRuns()
    runs.observe(("a", "one"), uid="1", unfinished=True)
    runs.observe(("a", "two"), uid="2", unfinished=True)
    runs.observe(("a", "one"), uid="1", unfinished=True)
    assert runs.count() == 2
    runs.observe(("a", "one"), uid="1", unfinished=False)
    assert (runs.count(), runs.uid(("a", "one")), runs.uid(("a", "two"))) == (1, None, "2")
