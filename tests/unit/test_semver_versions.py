import pytest

from mlops_operator.registry.semver import (
    InvalidVersionError,
    Version,
    next_version,
    version_slug,
)

pytestmark = pytest.mark.unit


def test_parse_and_print_round_trip() -> None:
    for text in ("0.0.1", "1.2.3", "10.20.30-rc.1+build.5", "1.0.0-alpha"):
        assert str(Version.parse(text)) == text


@pytest.mark.parametrize("text", ["1.2", "v1.2.3", "01.2.3", "1.2.3-", "", "a.b.c"])
def test_invalid_versions_say_what_to_use(text: str) -> None:
    with pytest.raises(InvalidVersionError, match=r"MAJOR\.MINOR\.PATCH"):
        Version.parse(text)


def test_ordering_follows_semver_precedence() -> None:
    ordered = [
        "1.0.0-alpha",
        "1.0.0-alpha.1",
        "1.0.0-alpha.beta",
        "1.0.0-beta",
        "1.0.0-beta.2",
        "1.0.0-beta.11",
        "1.0.0-rc.1",
        "1.0.0",
        "1.0.1",
        "1.1.0",
        "2.0.0",
        "10.0.0",
    ]
    parsed = [Version.parse(v) for v in ordered]
    shuffled = parsed[5:] + parsed[:5]
    assert sorted(shuffled) == parsed
    assert Version.parse("1.0.0+a") == Version.parse("1.0.0+b")


@pytest.mark.parametrize(
    ("start", "part", "expected"),
    [
        ("1.2.3", "patch", "1.2.4"),
        ("1.2.3", "minor", "1.3.0"),
        ("1.2.3", "major", "2.0.0"),
        ("1.2.0-rc.1", "patch", "1.2.0"),
        ("1.2.0-rc.1", "minor", "1.2.0"),
        ("2.0.0-rc.1", "major", "2.0.0"),
        ("1.2.3-rc.1", "minor", "1.3.0"),
    ],
)
def test_bump(start: str, part: str, expected: str) -> None:
    assert str(Version.parse(start).bump(part)) == expected  # type: ignore[arg-type]


def test_next_version_bumps_the_highest_existing() -> None:
    assert str(next_version([], "minor")) == "1.0.0"
    assert str(next_version(["1.0.0", "1.10.0", "1.9.3"], "minor")) == "1.11.0"
    assert str(next_version(["1.0.0", "not-a-version"], "patch")) == "1.0.1"
    assert str(next_version(["0.3.0"], "major")) == "1.0.0"


def test_version_slug_is_a_dns_label_fragment() -> None:
    assert version_slug("1.2.0") == "1-2-0"
    assert version_slug("1.2.0-RC.1+build") == "1-2-0-rc-1"
