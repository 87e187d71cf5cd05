"""Ordering of semantic versions, to pick a model's default (highest) version."""

from __future__ import annotations

import re

_SEMVER = re.compile(
    r"^v?(?P<major>0|[1-9]\d*)\.(?P<minor>0|[1-9]\d*)\.(?P<patch>0|[1-9]\d*)"
    r"(?:-(?P<pre>[0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?$"
)

SemverKey = tuple[int, int, int, int, tuple[tuple[int, int | str], ...]]


def semver_key(version: str) -> SemverKey | None:
    """A sort key (pre-releases before their release), or None for a non-semver name."""
    match = _SEMVER.match(version)
    if match is None:
        return None
    pre = match.group("pre")
    parts: tuple[tuple[int, int | str], ...] = ()
    if pre:
        parts = tuple((0, int(p)) if p.isdigit() else (1, p) for p in pre.split("."))
    return (
        int(match.group("major")),
        int(match.group("minor")),
        int(match.group("patch")),
        0 if pre else 1,
        parts,
    )


def highest(versions: list[str]) -> str | None:
    """The highest semantic version among ``versions``; non-semver names are ignored."""
    keyed = [(key, v) for v in versions if (key := semver_key(v)) is not None]
    return max(keyed)[1] if keyed else None
