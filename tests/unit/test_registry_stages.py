import pytest

from mlops_operator.registry.stages import (
    StageTransitionError,
    Transition,
    VersionStage,
    check_transition,
    parse_stage,
    plan_promotion,
)

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("draft", "staging"),
        ("staging", "production"),
        ("production", "archived"),
        ("staging", "archived"),
        ("draft", "archived"),
        ("staging", "draft"),
        ("draft", "production"),
        ("archived", "production"),
        ("production", "production"),
    ],
)
def test_allowed_transitions(old: str, new: str) -> None:
    check_transition(parse_stage(old), parse_stage(new))


@pytest.mark.parametrize(("old", "new"), [("archived", "draft"), ("production", "draft")])
def test_forbidden_transitions_name_the_allowed_ones(old: str, new: str) -> None:
    with pytest.raises(StageTransitionError, match=f"a {old} version cannot move to {new}"):
        check_transition(parse_stage(old), parse_stage(new))


def test_unknown_stage() -> None:
    with pytest.raises(StageTransitionError, match="use one of draft, staging"):
        parse_stage("prod")


def test_promoting_to_production_archives_the_previous_one_afterwards() -> None:
    target = VersionStage("m-v1-1-0", "1.1.0", "staging")
    siblings = [
        VersionStage("m-v1-0-0", "1.0.0", "production"),
        VersionStage("m-v0-9-0", "0.9.0", "archived"),
        target,
    ]
    plan = plan_promotion(target, "production", siblings, single_production=True)
    assert plan == [
        Transition("m-v1-1-0", "1.1.0", "staging", "production"),
        Transition("m-v1-0-0", "1.0.0", "production", "archived"),
    ]


def test_without_single_production_nothing_else_moves() -> None:
    target = VersionStage("m-v1-1-0", "1.1.0", "draft")
    siblings = [VersionStage("m-v1-0-0", "1.0.0", "production")]
    plan = plan_promotion(target, "production", siblings, single_production=False)
    assert plan == [Transition("m-v1-1-0", "1.1.0", "draft", "production")]


def test_promotion_that_is_not_allowed_plans_nothing() -> None:
    target = VersionStage("m-v1-0-0", "1.0.0", "archived")
    with pytest.raises(StageTransitionError):
        plan_promotion(target, "draft", [], single_production=True)
