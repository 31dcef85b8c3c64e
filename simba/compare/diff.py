"""Two runs compared: their calls and outcomes, every key's history, the final values.

:func:`compare_sides` compares two sides cell by cell (a lone run is the cell ``""``);
:func:`compare_runs` compares two runs.  The result says, per *key group* (a top-level
commonData key, ``commonData.epidemic``, or one module's moduleData,
``moduleData.sir``), which keys differ beyond their tolerance, the first tick (and
simulated time) where they do, and their final values; and whether the runs made the
same calls with the same outcomes.  Wall and CPU times are carried along for
information only: they never make two runs different.

A key's *history* is its value after every call that set it, in plan order; two
histories are compared point by point over the union of their points, each side's
value carried forward from its previous point (see :mod:`simba.compare.history`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from simba.compare.history import MISSING, histories, same
from simba.compare.rules import Rules, Tolerance
from simba.compare.runs import CallRecord, ModuleTime, RunData


@dataclass(frozen=True, slots=True, kw_only=True)
class KeyDifference:
    """A key whose values differ beyond its tolerance."""

    name: str
    tick: int
    """The first tick where the two differ beyond tolerance."""
    time: str
    a: Any
    """The values there (:data:`~simba.compare.history.MISSING` where a side has none)."""
    b: Any
    points: int
    """At how many points of the history the two differ."""
    final_a: Any
    final_b: Any
    tolerance: Tolerance


@dataclass(frozen=True, slots=True, kw_only=True)
class GroupResult:
    """One key group: how many keys were compared and which differ."""

    name: str
    keys: int
    differences: tuple[KeyDifference, ...]

    @property
    def equal(self) -> bool:
        return not self.differences


@dataclass(frozen=True, slots=True, kw_only=True)
class CallsResult:
    """The runs' outcomes and their sequences of calls."""

    outcome_a: str | None
    outcome_b: str | None
    calls_a: int
    calls_b: int
    difference: str | None
    """The first difference in words; ``None`` if the calls are the same."""

    @property
    def equal(self) -> bool:
        return self.difference is None and self.outcome_a == self.outcome_b


@dataclass(frozen=True, slots=True, kw_only=True)
class Timing:
    """A module's times on both sides (for information only)."""

    module: str
    a: ModuleTime | None
    b: ModuleTime | None


@dataclass(frozen=True, slots=True, kw_only=True)
class RunComparison:
    """Two runs (or the same cell of two sweeps) compared."""

    cell: str
    a: str | None
    """The label of side A's run, ``None`` if side A has no such cell."""
    b: str | None
    calls: CallsResult | None
    groups: tuple[GroupResult, ...]
    timing: tuple[Timing, ...]

    @property
    def equal(self) -> bool:
        if self.a is None or self.b is None or self.calls is None:
            return False
        return self.calls.equal and all(group.equal for group in self.groups)


@dataclass(frozen=True, slots=True, kw_only=True)
class Comparison:
    """Side A and side B compared, run by run (cell by cell)."""

    a: str
    b: str
    runs: tuple[RunComparison, ...]

    @property
    def equal(self) -> bool:
        return all(run.equal for run in self.runs)


def compare_sides(
    a: Mapping[str, RunData], b: Mapping[str, RunData], rules: Rules, *, labels: tuple[str, str]
) -> Comparison:
    """Every cell of ``a`` and ``b`` compared (a cell on one side only differs)."""
    runs = []
    for cell in sorted(set(a) | set(b)):
        if cell in a and cell in b:
            runs.append(compare_runs(a[cell], b[cell], rules, cell=cell))
        else:
            side = a.get(cell) or b.get(cell)
            assert side is not None
            runs.append(
                RunComparison(
                    cell=cell,
                    a=a[cell].label if cell in a else None,
                    b=b[cell].label if cell in b else None,
                    calls=None,
                    groups=(),
                    timing=(),
                )
            )
    return Comparison(a=labels[0], b=labels[1], runs=tuple(runs))


def compare_runs(a: RunData, b: RunData, rules: Rules, *, cell: str = "") -> RunComparison:
    return RunComparison(
        cell=cell,
        a=a.label,
        b=b.label,
        calls=_calls(a, b, compare=rules.calls),
        groups=_groups(a, b, rules),
        timing=_timing(a, b),
    )


def _calls(a: RunData, b: RunData, *, compare: bool) -> CallsResult:
    difference = None
    if a.final_tick != b.final_tick:
        difference = f"the runs end at different ticks ({a.final_tick} and {b.final_tick})"
    elif compare:
        difference = _first_call_difference(a.calls, b.calls)
    return CallsResult(
        outcome_a=a.outcome,
        outcome_b=b.outcome,
        calls_a=len(a.calls),
        calls_b=len(b.calls),
        difference=difference,
    )


def _first_call_difference(a: tuple[CallRecord, ...], b: tuple[CallRecord, ...]) -> str | None:
    for index, (call_a, call_b) in enumerate(zip(a, b, strict=False)):
        key_a = (call_a.phase, call_a.tick, call_a.module, call_a.mode, call_a.outcome)
        key_b = (call_b.phase, call_b.tick, call_b.module, call_b.mode, call_b.outcome)
        if key_a != key_b:
            return f"call {index + 1}: A {call_a.describe()}, B {call_b.describe()}"
    if len(a) != len(b):
        longer, side = (a, "A") if len(a) > len(b) else (b, "B")
        extra = longer[min(len(a), len(b))]
        return f"call {min(len(a), len(b)) + 1}: only {side} made it ({extra.describe()})"
    return None


def _groups(a: RunData, b: RunData, rules: Rules) -> tuple[GroupResult, ...]:
    series_a, series_b = histories(a.state), histories(b.state)
    found: dict[str, list[KeyDifference]] = {}
    counts: dict[str, int] = {}
    for name in sorted(set(series_a) | set(series_b)):
        tolerance = rules.tolerance_of(name)
        if tolerance is None:
            continue
        group = group_of(name)
        counts[group] = counts.get(group, 0) + 1
        found.setdefault(group, [])
        difference = _key_difference(
            name, series_a.get(name, {}), series_b.get(name, {}), tolerance, rules.history
        )
        if difference is not None:
            found[group].append(difference)
    return tuple(
        GroupResult(name=group, keys=counts[group], differences=tuple(found[group]))
        for group in sorted(found)
    )


def group_of(name: str) -> str:
    """The key group of a key name: ``commonData.<top key>`` or ``moduleData.<module>``."""
    module, colon, _ = name.partition(":")
    if colon:
        return f"moduleData.{module}"
    return f"commonData.{name.split('.', 1)[0]}"


def _key_difference(
    name: str,
    a: Mapping[tuple[int, int], tuple[str, Any]],
    b: Mapping[tuple[int, int], tuple[str, Any]],
    tolerance: Tolerance,
    history: bool,
) -> KeyDifference | None:
    final_a = a[max(a)][1] if a else MISSING
    final_b = b[max(b)][1] if b else MISSING
    if not history:
        if same(final_a, final_b, tolerance):
            return None
        point = max(max(a, default=(0, 0)), max(b, default=(0, 0)))
        time = (a.get(point) or b.get(point) or ("", None))[0]
        return KeyDifference(
            name=name, tick=point[1], time=time, a=final_a, b=final_b, points=1,
            final_a=final_a, final_b=final_b, tolerance=tolerance,
        )  # fmt: skip
    first, points = _walk(a, b, tolerance)
    if first is None:
        return None
    point, time, value_a, value_b = first
    return KeyDifference(
        name=name, tick=point[1], time=time, a=value_a, b=value_b, points=points,
        final_a=final_a, final_b=final_b, tolerance=tolerance,
    )  # fmt: skip


def _walk(
    a: Mapping[tuple[int, int], tuple[str, Any]],
    b: Mapping[tuple[int, int], tuple[str, Any]],
    tolerance: Tolerance,
) -> tuple[tuple[tuple[int, int], str, Any, Any] | None, int]:
    """The first point where the two histories differ (with the values there), and at
    how many points they do; each side's value is carried forward between its points."""
    if a == b:  # the common case, at C speed
        return None, 0
    first = None
    points = 0
    if a.keys() == b.keys():  # both in plan order already: no sort, no carrying
        for point, (time, value_a) in a.items():
            value_b = b[point][1]
            if value_a is value_b or (value_a == value_b and type(value_a) is type(value_b)):
                continue
            if not same(value_a, value_b, tolerance):
                points += 1
                first = first or (point, time, value_a, value_b)
        return first, points
    value_a = value_b = MISSING
    for point in sorted(a.keys() | b.keys()):
        time = ""
        if point in a:
            time, value_a = a[point]
        if point in b:
            time, value_b = b[point]
        if not same(value_a, value_b, tolerance):
            points += 1
            first = first or (point, time, value_a, value_b)
    return first, points


def _timing(a: RunData, b: RunData) -> tuple[Timing, ...]:
    times_a = {t.module: t for t in a.times}
    times_b = {t.module: t for t in b.times}
    modules = list(dict.fromkeys([*times_a, *times_b]))
    return tuple(Timing(module=m, a=times_a.get(m), b=times_b.get(m)) for m in modules)
