"""The pure condition helper: lastTransitionTime moves only when the status does."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from mlops_operator.api.conditions import (
    MESSAGE_MAX,
    READY,
    RECONCILING,
    STALLED,
    Condition,
    ResourceStatus,
    find_condition,
    is_true,
    remove_condition,
    set_condition,
    set_conditions,
)

pytestmark = pytest.mark.unit

T0 = datetime(2026, 1, 1, tzinfo=UTC)
T1 = T0 + timedelta(minutes=5)


def _ready(status: Any = "False") -> list[Condition]:
    return set_condition(
        [], condition_type=READY, status=status, reason="Verifying", message="checking", now=T0
    )


def test_a_new_condition_is_appended_with_now() -> None:
    conditions = _ready()
    assert len(conditions) == 1
    assert conditions[0].type == READY
    assert conditions[0].last_transition_time == T0


def test_same_status_keeps_the_transition_time_but_takes_the_new_reason() -> None:
    before = _ready("False")
    after = set_condition(
        before,
        condition_type=READY,
        status="False",
        reason="ArtifactMissing",
        message="no manifest.json",
        observed_generation=2,
        now=T1,
    )
    assert after[0].last_transition_time == T0
    assert after[0].reason == "ArtifactMissing"
    assert after[0].message == "no manifest.json"
    assert after[0].observed_generation == 2
    assert before[0].reason == "Verifying"  # the input is left alone


def test_transition_times_are_whole_seconds() -> None:
    conditions = set_condition(
        [],
        condition_type=READY,
        status="True",
        reason="Ok",
        now=T1 + timedelta(microseconds=123456),
    )
    assert conditions[0].last_transition_time == T1


def test_a_status_change_moves_the_transition_time() -> None:
    after = set_condition(
        _ready("False"), condition_type=READY, status="True", reason="Verified", now=T1
    )
    assert after[0].status == "True"
    assert after[0].last_transition_time == T1


def test_other_conditions_keep_their_place() -> None:
    conditions = set_condition(
        _ready(), condition_type=STALLED, status="True", reason="BadSpec", now=T0
    )
    updated = set_condition(conditions, condition_type=READY, status="True", reason="Ok", now=T1)
    assert [item.type for item in updated] == [READY, STALLED]
    assert updated[1] == conditions[1]


def test_lookup_helpers() -> None:
    conditions = set_condition(
        _ready("True"), condition_type=STALLED, status="False", reason="Fine", now=T0
    )
    assert find_condition(conditions, STALLED) is conditions[1]
    assert find_condition(conditions, "Succeeded") is None
    assert is_true(conditions, READY)
    assert not is_true(conditions, STALLED)
    assert not is_true(conditions, "Succeeded")
    assert [item.type for item in remove_condition(conditions, READY)] == [STALLED]
    assert ResourceStatus(conditions=conditions).condition(READY) is conditions[0]


def test_a_long_message_is_cut_to_what_the_schema_allows() -> None:
    conditions = set_condition(
        [], condition_type=READY, status="False", reason="Failed", message="x" * 10_000, now=T0
    )
    assert len(conditions[0].message) == MESSAGE_MAX
    assert conditions[0].message.endswith("…")


@pytest.mark.parametrize("reason", ["not camel", "", "9Lives", "Has-Dash"])
def test_reason_must_be_one_camel_case_word(reason: str) -> None:
    with pytest.raises(ValueError, match="reason"):
        set_condition([], condition_type=READY, status="True", reason=reason, now=T0)


def test_wire_form_is_camel_case() -> None:
    wire = _ready()[0].to_wire()
    assert wire == {
        "type": "Ready",
        "status": "False",
        "reason": "Verifying",
        "message": "checking",
        "lastTransitionTime": "2026-01-01T00:00:00Z",
    }


def test_set_conditions_gives_the_message_to_the_primary_and_true_conditions_only() -> None:
    before = set_condition(
        [], condition_type=STALLED, status="True", reason="Broken", message="old", now=T0
    )
    after = set_conditions(
        before,
        [
            (READY, "False", "Verifying"),
            (STALLED, "False", "Verifying"),
            (RECONCILING, "True", "Verifying"),
        ],
        message="checking the artifact",
        primary=READY,
        observed_generation=4,
        now=T1,
    )
    by_type = {c.type: c for c in after}
    assert [c.type for c in after] == [STALLED, READY, RECONCILING]
    assert by_type[READY].message == "checking the artifact"
    assert by_type[RECONCILING].message == "checking the artifact"
    assert by_type[STALLED].message == ""
    assert by_type[STALLED].last_transition_time == T1
    assert {c.observed_generation for c in after} == {4}
    assert before[0].message == "old"
