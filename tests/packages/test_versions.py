"""Semantic versions and the version ranges that pick installed packages."""

from __future__ import annotations

from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from simba.packages.versions import Range, Version, VersionError, highest

#: The precedence example of semver 2.0.0, section 11, lowest first.
SEMVER_ORDER = [
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


def test_semver_precedence() -> None:
    """Versions sort as the semver specification's example says, numbers numerically."""
    versions = [Version.parse(text) for text in SEMVER_ORDER]
    assert sorted(reversed(versions), key=lambda v: v.key) == versions
    for lower, upper in pairwise(versions):
        assert lower < upper and upper > lower and lower <= upper and not upper <= lower


def test_build_metadata_is_ignored_in_precedence() -> None:
    """1.0.0+a and 1.0.0+b have the same precedence but keep their text."""
    first, second = Version.parse("1.0.0+a"), Version.parse("1.0.0+b.7")
    assert first.same_precedence(second)
    assert not first < second and not second < first
    assert str(second) == "1.0.0+b.7"


@pytest.mark.parametrize(
    "text", ["1.0", "1", "01.0.0", "1.0.0-", "1.0.0-01", "v1.0.0", "1.0.0+", "", "1.0.0 beta"]
)
def test_invalid_versions(text: str) -> None:
    """Anything but MAJOR.MINOR.PATCH[-PRE][+BUILD] is refused with a sentence."""
    with pytest.raises(VersionError, match="not a semantic version"):
        Version.parse(text)


@pytest.mark.parametrize(
    ("wanted", "inside", "outside"),
    [
        ("1.2.3", ["1.2.3", "1.2.3+build"], ["1.2.4", "1.2.2", "1.2.3-rc.1"]),
        ("==1.2.3", ["1.2.3"], ["1.2.4"]),
        ("1.2", ["1.2.0", "1.2.9"], ["1.3.0", "1.1.9"]),
        ("1", ["1.0.0", "1.9.9"], ["2.0.0", "0.9.0"]),
        (">=1.2,<2", ["1.2.0", "1.9.0"], ["1.1.9", "2.0.0", "2.0.0-rc.1"]),
        (" >= 1.2 , < 2 ", ["1.5.0"], ["2.1.0"]),
        (">1.2.0", ["1.2.1"], ["1.2.0"]),
        ("<=1.2", ["1.2.0", "0.1.0"], ["1.2.1"]),
        ("!=1.2.0", ["1.2.1", "1.1.0"], ["1.2.0"]),
        ("~=1.4", ["1.4.0", "1.9.0"], ["2.0.0", "1.3.9"]),
        ("~=1.4.2", ["1.4.2", "1.4.9"], ["1.5.0", "1.4.1"]),
        ("^1.4.2", ["1.4.2", "1.99.0"], ["2.0.0", "1.4.1"]),
        ("^0.4.2", ["0.4.2", "0.4.9"], ["0.5.0"]),
        ("^0.0.3", ["0.0.3"], ["0.0.4"]),
        ("^0", ["0.0.1", "0.9.0"], ["1.0.0"]),
        ("*", ["0.0.1", "99.0.0"], ["1.0.0-rc.1"]),
        ("", ["1.0.0"], ["1.0.0-alpha"]),
        (">=2.0.0-rc.1", ["2.0.0-rc.1", "2.0.0-rc.2", "2.0.0", "3.0.0"], ["3.0.0-rc.1"]),
        ("2.0.0-rc.1", ["2.0.0-rc.1"], ["2.0.0-rc.2", "2.0.0"]),
    ],
)
def test_ranges(wanted: str, inside: list[str], outside: list[str]) -> None:
    """Each range holds the versions it should and no others; pre-releases only when named."""
    parsed = Range.parse(wanted)
    for text in inside:
        assert parsed.contains(Version.parse(text)), (wanted, text)
    for text in outside:
        assert not parsed.contains(Version.parse(text)), (wanted, text)


@pytest.mark.parametrize("text", [">=", ">=1.2 <2", "~=1", "=>1", ">=1.x", "1.2.3.4", ",", "^"])
def test_invalid_ranges(text: str) -> None:
    """A range that does not parse is refused with a sentence naming it."""
    with pytest.raises(VersionError, match="not a version range"):
        Range.parse(text)


def test_highest_match() -> None:
    """highest() picks the highest version in the range, or None."""
    installed = [(Version.parse(t), t) for t in ("1.0.0", "1.2.0", "1.10.0", "2.0.0-rc.1", "2.1.0")]
    assert highest(installed, Range.parse(">=1.2,<2")) == (Version.parse("1.10.0"), "1.10.0")
    assert highest(installed, Range.parse("*"))[1] == "2.1.0"  # type: ignore[index]
    assert highest(installed, Range.parse("2.0.0-rc.1"))[1] == "2.0.0-rc.1"  # type: ignore[index]
    assert highest(installed, Range.parse(">=3")) is None


_numbers = st.integers(min_value=0, max_value=30)
_identifiers = st.lists(
    st.one_of(_numbers.map(str), st.sampled_from(["alpha", "beta", "rc", "x-y"])), max_size=3
)


@st.composite
def _versions(draw: st.DrawFn) -> Version:
    pre = draw(_identifiers)
    text = f"{draw(_numbers)}.{draw(_numbers)}.{draw(_numbers)}"
    return Version.parse(text + ("-" + ".".join(pre) if pre else ""))


@given(_versions(), _versions())
def test_order_is_total_and_round_trips(first: Version, second: Version) -> None:
    """Exactly one of <, >, same precedence holds, and str() parses back to the same version."""
    assert [first < second, first > second, first.same_precedence(second)].count(True) == 1
    assert Version.parse(str(first)) == first


@given(_versions())
def test_exact_range_matches_itself(version: Version) -> None:
    """A version written as a range matches that version, also a pre-release."""
    assert Range.parse(str(version)).contains(version)
    assert Range.parse(f">={version}").contains(version)
