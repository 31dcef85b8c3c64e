"""Semantic versions of module packages and the ranges that select them.

A package version is a `semver 2.0.0 <https://semver.org>`_ string (``1.4.2``,
``2.0.0-rc.1``, ``1.0.0+build.7``).  A schedule entry selects one with a *range*: one
or more comma-separated clauses that must all hold, each an operator and a version::

    1.4.2        exactly 1.4.2        (any build metadata)
    1.4.2+b7     exactly that build
    1.4  1       any 1.4.x / any 1.x.y (a partial version is a prefix)
    ==V  !=V     equal / not equal (partial: prefix, as above)
    >=V  >V  <=V  <V                   (partial versions are padded with zeros: <2 is <2.0.0)
    ~=1.4        >=1.4.0,<2.0.0       ~=1.4.2  >=1.4.2,<1.5.0
    ^1.4.2       >=1.4.2,<2.0.0       ^0.4.2   >=0.4.2,<0.5.0
    *            any release

Order is semver precedence (build metadata ignored); a version written with build
metadata matches only that build.  A pre-release such as
``2.0.0-rc.1`` matches only if a clause names a pre-release of the same
``major.minor.patch``, so ``<2`` does not pick ``2.0.0-rc.1``.

SIMBA implements this small grammar itself rather than using ``packaging``: PEP 440
cannot parse every semver pre-release (``1.0.0-x.7.z.92``), orders build metadata
(semver ignores it) and spells pre-releases differently, so descriptor versions would
need translating and some would be refused.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TypeVar

__all__ = ["Range", "Version", "VersionError", "highest"]

_IDENTIFIER = r"(?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*)"
_SEMVER = re.compile(
    r"(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    rf"(?:-({_IDENTIFIER}(?:\.{_IDENTIFIER})*))?"
    r"(?:\+([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?"
)
_PARTIAL = re.compile(r"(0|[1-9]\d*)(?:\.(0|[1-9]\d*))?")
_CLAUSE = re.compile(r"\s*(==|!=|>=|<=|~=|>|<|\^)?\s*(\S*)\s*")


class VersionError(ValueError):
    """A version or range that does not parse; the message is one sentence."""


@dataclass(frozen=True, slots=True)
class Version:
    """A semver 2.0.0 version; compares by precedence."""

    major: int
    minor: int
    patch: int
    prerelease: tuple[str, ...] = ()
    build: str = ""

    @classmethod
    def parse(cls, text: str) -> Version:
        """Parse ``MAJOR.MINOR.PATCH[-PRERELEASE][+BUILD]``; raises :class:`VersionError`."""
        match = _SEMVER.fullmatch(text.strip())
        if match is None:
            raise VersionError(
                f"{text!r} is not a semantic version; write MAJOR.MINOR.PATCH such as 1.0.0 "
                "(optionally with -PRERELEASE and +BUILD)"
            )
        major, minor, patch, pre, build = match.groups()
        return cls(
            int(major), int(minor), int(patch), tuple(pre.split(".")) if pre else (), build or ""
        )

    @property
    def release(self) -> tuple[int, int, int]:
        return (self.major, self.minor, self.patch)

    @property
    def key(self) -> tuple[object, ...]:
        """The precedence key: sorting by it sorts by semver precedence."""
        if not self.prerelease:
            return (*self.release, 1, ())
        identifiers = tuple(
            (0, int(part), "") if part.isdigit() else (1, 0, part) for part in self.prerelease
        )
        return (*self.release, 0, identifiers)

    def __lt__(self, other: Version) -> bool:
        return self.key < other.key

    def __le__(self, other: Version) -> bool:
        return self.key <= other.key

    def __gt__(self, other: Version) -> bool:
        return self.key > other.key

    def __ge__(self, other: Version) -> bool:
        return self.key >= other.key

    def same_precedence(self, other: Version) -> bool:
        return self.key == other.key

    def __str__(self) -> str:
        text = f"{self.major}.{self.minor}.{self.patch}"
        if self.prerelease:
            text += "-" + ".".join(self.prerelease)
        return text + (f"+{self.build}" if self.build else "")


@dataclass(frozen=True, slots=True)
class _Clause:
    operator: str
    bound: Version
    parts: int
    """How many of major, minor, patch the clause wrote (1-3)."""

    def holds(self, version: Version) -> bool:
        op, bound = self.operator, self.bound
        if op in ("==", "!="):
            if self.parts < 3:
                equal = version.release[: self.parts] == bound.release[: self.parts]
            else:
                equal = version.same_precedence(bound) and bound.build in ("", version.build)
            return equal if op == "==" else not equal
        if op == ">=":
            return version >= bound
        if op == ">":
            return version > bound
        if op == "<=":
            return version <= bound
        if op == "<":
            return version < bound
        raise AssertionError(op)  # pragma: no cover


@dataclass(frozen=True, slots=True)
class Range:
    """A set of versions written as comma-separated clauses that must all hold."""

    text: str
    clauses: tuple[_Clause, ...]
    prerelease_releases: frozenset[tuple[int, int, int]]
    """The ``major.minor.patch`` of every pre-release a clause names."""

    @classmethod
    def parse(cls, text: str) -> Range:
        """Parse a range (see the module docstring); raises :class:`VersionError`."""
        stripped = text.strip()
        if stripped in ("", "*"):
            return cls(text, (), frozenset())
        clauses: list[_Clause] = []
        named: set[tuple[int, int, int]] = set()
        for part in stripped.split(","):
            match = _CLAUSE.fullmatch(part)
            if match is None or not match.group(2):
                raise VersionError(
                    f"{text!r} is not a version range: cannot read {part.strip()!r}; write "
                    "comma-separated clauses such as 1.2.0, >=1.2,<2 or ^1.2"
                )
            operator, version_text = match.group(1) or "==", match.group(2)
            bound, parts = _bound(version_text, text)
            if bound.prerelease:
                named.add(bound.release)
            clauses.extend(_expand(operator, bound, parts, text))
        return cls(text, tuple(clauses), frozenset(named))

    def contains(self, version: Version) -> bool:
        """Whether ``version`` lies in the range (pre-releases only if named, see above)."""
        if version.prerelease and version.release not in self.prerelease_releases:
            return False
        return all(clause.holds(version) for clause in self.clauses)

    @property
    def exact(self) -> Version | None:
        """The version the range names exactly (``1.4.2``, ``==1.4.2+b7``), else None."""
        if len(self.clauses) == 1 and self.clauses[0].operator == "==":
            clause = self.clauses[0]
            return clause.bound if clause.parts == 3 else None
        return None

    def __str__(self) -> str:
        return self.text.strip() or "*"


def _bound(text: str, whole: str) -> tuple[Version, int]:
    match = _PARTIAL.fullmatch(text)
    if match is not None:
        numbers = [int(n) for n in match.groups() if n is not None]
        major, minor, patch = [*numbers, 0, 0][:3]
        return Version(major, minor, patch), len(numbers)
    try:
        return Version.parse(text), 3
    except VersionError:
        raise VersionError(
            f"{whole!r} is not a version range: {text!r} is not a version; write MAJOR, "
            "MAJOR.MINOR or MAJOR.MINOR.PATCH[-PRERELEASE]"
        ) from None


def _expand(operator: str, bound: Version, parts: int, whole: str) -> list[_Clause]:
    """The clauses of one written clause; ``~=`` and ``^`` become two bounds."""
    if operator not in ("~=", "^"):
        return [_Clause(operator, bound, parts)]
    major, minor, patch = bound.release
    if operator == "~=":
        if parts < 2:
            raise VersionError(
                f"{whole!r} is not a version range: ~= needs at least MAJOR.MINOR (~=1.4)"
            )
        upper = (major + 1, 0, 0) if parts == 2 else (major, minor + 1, 0)
    elif major > 0 or parts == 1:
        upper = (major + 1, 0, 0)
    elif minor > 0 or parts == 2:
        upper = (0, minor + 1, 0)
    else:
        upper = (0, 0, patch + 1)
    return [_Clause(">=", bound, 3), _Clause("<", Version(*upper), 3)]


T = TypeVar("T")


def highest(candidates: Iterable[tuple[Version, T]], wanted: Range) -> tuple[Version, T] | None:
    """The candidate with the highest version in ``wanted`` (ties: the later build text)."""
    matches = [c for c in candidates if wanted.contains(c[0])]
    if not matches:
        return None
    return max(matches, key=lambda c: (c[0].key, c[0].build))
