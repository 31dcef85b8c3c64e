"""Every key's history, from the state rows of a run, and the rule for equal values.

:func:`histories` turns the state rows (:class:`~simba.record.reader.StateRow`, in plan
order) into one history per key name, named and flattened as ``simba export`` does it
(:func:`simba.record.export.flatten` and :func:`~simba.record.export.series_name`): the
value after the last call of each ``(phase, tick)`` that set it, with the simulated
time.  commonData merges key by key, as the run merges it; a call's moduleData replaces
its module's whole moduleData, so a key it no longer holds becomes :data:`MISSING`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from simba.compare.rules import Tolerance
from simba.record.export import flatten, series_name
from simba.record.reader import StateRow


class _Missing:
    """A key that a side does not have (at that point)."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()

#: key name -> (phase, tick) -> (simulated time, value after that tick's last call).
Histories = dict[str, dict[tuple[int, int], tuple[str, Any]]]


def histories(rows: Iterable[StateRow]) -> Histories:
    """The history of every key that the rows set."""
    found: Histories = {}
    held: dict[str, set[str]] = {}  # module -> the names its moduleData holds now
    for row in rows:
        point = (row.phase, row.tick)
        for key, value in row.common_data.items():
            if isinstance(value, dict):  # nested: flattened into key paths
                for path, leaf in flatten(value, key):
                    found.setdefault(path, {})[point] = (row.time, leaf)
            else:  # what flatten() gives for a leaf, without its generator
                found.setdefault(key, {})[point] = (row.time, value)
        if row.module_data is None:
            continue
        names = set()
        for path, value in flatten(row.module_data):
            name = series_name("moduleData", row.module, path)
            names.add(name)
            found.setdefault(name, {})[point] = (row.time, value)
        for gone in held.get(row.module, set()) - names:
            found[gone][point] = (row.time, MISSING)
        held[row.module] = names
    return found


def same(a: Any, b: Any, tolerance: Tolerance) -> bool:
    """Whether ``a`` and ``b`` are equal: numbers within ``tolerance``, lists element by
    element, anything else exactly (``true`` is no number, and ``1`` equals ``1.0``)."""
    if a is b:
        return True
    if _number(a) and _number(b):
        if a == b:
            return True
        try:
            return tolerance.allows(float(a), float(b))
        except OverflowError:  # an integer beyond a float's range
            return False
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y, tolerance) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k], tolerance) for k in a)
    if a is MISSING or b is MISSING or _number(a) or _number(b):
        return False
    return bool(a == b)


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
