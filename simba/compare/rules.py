"""The rules of a comparison: tolerances, globally and per key, and keys to leave out.

A rules file (``schema/compare.json``) is read by :func:`load_rules`; the command line
may add to it (:meth:`Rules.with_options`).  Keys are named as ``simba export`` names
them (:func:`simba.record.export.series_name`): ``epidemic.infected`` for commonData,
``sir:beta`` for a module's moduleData.  A pattern with ``*``, ``?`` or ``[`` is a glob;
any other pattern is a key path that also selects every key beneath it (the same rule
as ``simba export --keys``).

Two numbers ``a`` and ``b`` are equal within a tolerance when
``|a - b| <= max(absolute, relative * max(|a|, |b|))`` (:func:`math.isclose`'s rule);
anything that is not a number must be exactly equal.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from simba import schemas
from simba.errors import ScenarioError
from simba.jsonfile import JSONFileError, read_json
from simba.record.export import KeyFilter


@dataclass(frozen=True, slots=True, kw_only=True)
class Tolerance:
    absolute: float = 0.0
    relative: float = 0.0

    def allows(self, a: float, b: float) -> bool:
        if a == b or (math.isnan(a) and math.isnan(b)):
            return True
        return abs(a - b) <= max(self.absolute, self.relative * max(abs(a), abs(b)))

    def describe(self) -> str:
        if not self.absolute and not self.relative:
            return "exact"
        parts = [f"absolute {self.absolute:g}"] if self.absolute else []
        parts += [f"relative {self.relative:g}"] if self.relative else []
        return ", ".join(parts)


@dataclass(frozen=True, slots=True, kw_only=True)
class Rules:
    """A comparison's rules; :meth:`tolerance` and :meth:`ignored` answer per key name."""

    tolerance: Tolerance = Tolerance()
    keys: tuple[tuple[str, Mapping[str, float]], ...] = ()
    """(pattern, its tolerances as written) in file order."""
    ignore: tuple[str, ...] = ()
    history: bool = True
    calls: bool = True
    _cache: dict[str, Tolerance | None] = field(default_factory=dict, compare=False, repr=False)

    def with_options(
        self, *, absolute: float | None, relative: float | None, ignore: Sequence[str]
    ) -> Rules:
        """These rules with the command line's global tolerances and extra ignored keys."""
        tolerance = Tolerance(
            absolute=self.tolerance.absolute if absolute is None else absolute,
            relative=self.tolerance.relative if relative is None else relative,
        )
        return dataclasses.replace(
            self, tolerance=tolerance, ignore=(*self.ignore, *ignore), _cache={}
        )

    def tolerance_of(self, name: str) -> Tolerance | None:
        """The tolerance of the key ``name``, or ``None`` if it is ignored."""
        if name in self._cache:
            return self._cache[name]
        found: Tolerance | None = self.tolerance
        if any(matches(pattern, name) for pattern in self.ignore):
            found = None
        else:
            for pattern, values in self.keys:
                if matches(pattern, name):
                    found = Tolerance(
                        absolute=values.get("absolute", self.tolerance.absolute),
                        relative=values.get("relative", self.tolerance.relative),
                    )
                    break
        self._cache[name] = found
        return found


def matches(pattern: str, name: str) -> bool:
    """Whether ``pattern`` selects the key ``name`` (``simba export --keys``' rule)."""
    return KeyFilter([pattern])(name)


def load_rules(path: Path | None) -> Rules:
    """The rules in ``path`` (none: exact comparison); ScenarioError (exit 2) if it is bad."""
    if path is None:
        return Rules()
    try:
        document = read_json(path)
    except FileNotFoundError:
        raise ScenarioError.single(path, "", "this rules file does not exist") from None
    except JSONFileError as exc:
        raise ScenarioError.single(path, "", str(exc)) from None
    problems = schemas.validate("compare", document, file=str(path))
    if problems:
        raise ScenarioError(problems)
    return Rules(
        tolerance=Tolerance(
            absolute=document.get("absolute", 0.0), relative=document.get("relative", 0.0)
        ),
        keys=tuple(document.get("keys", {}).items()),
        ignore=tuple(document.get("ignore", ())),
        history=document.get("history", True),
        calls=document.get("calls", True),
    )
