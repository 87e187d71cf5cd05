"""Semantic versions (https://semver.org): parse, order, bump."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import total_ordering
from typing import Literal

Bump = Literal["major", "minor", "patch"]

_SEMVER = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$"
)


class InvalidVersionError(ValueError):
    """A string is not a semantic version."""


@total_ordering
@dataclass(frozen=True)
class Version:
    major: int
    minor: int
    patch: int
    prerelease: tuple[str, ...] = ()
    build: str = ""

    @classmethod
    def parse(cls, text: str) -> Version:
        match = _SEMVER.match(text.strip())
        if match is None:
            raise InvalidVersionError(
                f"{text!r} is not a semantic version: use MAJOR.MINOR.PATCH, e.g. 1.4.0 "
                "(optionally -PRERELEASE and +BUILD)"
            )
        major, minor, patch, pre, build = match.groups()
        return cls(
            int(major), int(minor), int(patch), tuple(pre.split(".")) if pre else (), build or ""
        )

    def __str__(self) -> str:
        text = f"{self.major}.{self.minor}.{self.patch}"
        if self.prerelease:
            text += "-" + ".".join(self.prerelease)
        if self.build:
            text += "+" + self.build
        return text

    def _key(self) -> tuple[int, int, int, int, tuple[tuple[int, int, str], ...]]:
        # A release sorts after every prerelease of it; numeric identifiers sort before
        # alphanumeric ones; build metadata does not take part in ordering.
        pre = tuple(
            (0, int(part), "") if part.isdigit() else (1, 0, part) for part in self.prerelease
        )
        return (self.major, self.minor, self.patch, 0 if self.prerelease else 1, pre)

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Version):
            return NotImplemented
        return self._key() < other._key()

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Version):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def bump(self, part: Bump) -> Version:
        """The next release: ``major`` → X+1.0.0, ``minor`` → X.Y+1.0, ``patch`` → X.Y.Z+1.

        Bumping a prerelease releases it first: 1.2.0-rc.1 bumped by ``patch`` is 1.2.0.
        """
        if self.prerelease:
            release = Version(self.major, self.minor, self.patch)
            if part == "patch" or (part == "minor" and self.patch == 0):
                return release
            if part == "major" and self.minor == 0 and self.patch == 0:
                return release
        if part == "major":
            return Version(self.major + 1, 0, 0)
        if part == "minor":
            return Version(self.major, self.minor + 1, 0)
        return Version(self.major, self.minor, self.patch + 1)


INITIAL_VERSION = Version(1, 0, 0)


def next_version(existing: list[str], bump: Bump) -> Version:
    """The version after the highest of ``existing`` (unparseable ones ignored), or 1.0.0."""
    parsed = []
    for text in existing:
        try:
            parsed.append(Version.parse(text))
        except InvalidVersionError:
            continue
    if not parsed:
        return INITIAL_VERSION
    return max(parsed).bump(bump)


def version_slug(version: str) -> str:
    """A DNS-1123 label fragment for a version: ``1.2.0-rc.1`` → ``1-2-0-rc-1``."""
    parsed = Version.parse(version)
    slug = str(Version(parsed.major, parsed.minor, parsed.patch, parsed.prerelease))
    return re.sub(r"[^a-z0-9-]", "-", slug.lower())
