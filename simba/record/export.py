"""The state history of a run as a table: long (one value per row) or wide (one row per tick).

The ``state`` table of the run database holds, for every successful call, the
commonData keys it set and the moduleData it returned.  Here they become rows:

* **long**: ``tick, time, module, mode, scope, key, value``, one row per value a call
  set, in plan order (``phase, tick, slot``), the keys of a call in the order the
  module wrote them; ``scope`` is ``commonData`` or ``moduleData``.
* **wide**: ``tick, time`` and one column per numeric key, one row per tick in
  simulated time order, each value as it stood after the last call of that tick
  (carried forward from earlier ticks).  A commonData key is named by its key path
  (``grid.load``), a module's moduleData key by ``<module>:<key path>`` (``epi:beta``);
  the columns are sorted by name, commonData first.  commonData merges key by key, as
  the run does; a call's moduleData replaces its module's whole moduleData.

Key paths: nested objects flatten into dotted paths (``{"grid": {"load": 3}}`` is
``grid.load``); lists are values, written as compact JSON.  A key that contains a dot
itself reads like a nested one (rare; module names cannot contain ``:``).

Values as text (CSV, and the long form's ``value`` column in Parquet): integers in
decimal, floats in Python's shortest round-trip form (``0.1``, ``1e-05``), ``true`` /
``false``, an empty field for ``null``, strings as they are, lists and empty objects
as compact JSON.  Byte for byte the same for the same history, on any machine.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import IO, Any

from simba.errors import RunDirectoryError
from simba.record.reader import RunRecord, StateRow

LONG_COLUMNS = ("tick", "time", "module", "mode", "scope", "key", "value")
_WILDCARDS = frozenset("*?[")


@dataclass(frozen=True, slots=True, kw_only=True)
class WideTable:
    """The wide form: column names (after ``tick`` and ``time``) and one row per tick."""

    names: tuple[str, ...]
    rows: tuple[tuple[int, str, tuple[int | float | None, ...]], ...]


def _by_tick(record: RunRecord) -> list[StateRow]:
    """The state history in tick order (then plan order within a tick)."""
    return sorted(record.state(), key=lambda row: (row.tick, row.phase, row.slot))


def flatten(value: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """``(key path, leaf)`` for every leaf of ``value``; an object is a leaf only if empty
    and nested (the top-level object of a call that set nothing gives no rows)."""
    if isinstance(value, dict) and (value or not prefix):
        for key, item in value.items():
            yield from flatten(item, f"{prefix}.{key}" if prefix else str(key))
    else:
        yield prefix, value


def series_name(scope: str, module: str, path: str) -> str:
    """What ``--keys`` matches and a wide column is called: ``path`` or ``module:path``."""
    return path if scope == "commonData" else f"{module}:{path}"


def format_value(value: Any) -> str:
    """A value as text, the same bytes on every machine (see the module's docstring)."""
    if value is None:
        return ""
    if value is True or value is False:
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


class KeyFilter:
    """``--keys``: glob patterns, or key paths that also select everything beneath them."""

    def __init__(self, patterns: Sequence[str]) -> None:
        self.patterns = tuple(patterns)
        self.used: set[str] = set()

    def __call__(self, name: str) -> bool:
        if not self.patterns:
            return True
        for pattern in self.patterns:
            if self._matches(pattern, name):
                self.used.add(pattern)
                return True
        return False

    @staticmethod
    def _matches(pattern: str, name: str) -> bool:
        if _WILDCARDS & set(pattern):
            return fnmatchcase(name, pattern)
        return name == pattern or name.startswith((pattern + ".", pattern + ":"))

    def check(self, names: Iterable[str]) -> None:
        """Refuse patterns that selected nothing, naming the keys there are."""
        unused = [pattern for pattern in self.patterns if pattern not in self.used]
        if not unused:
            return
        known = sorted(set(names))
        shown = ", ".join(known[:20]) + (f", ... ({len(known)} in all)" if len(known) > 20 else "")
        raise RunDirectoryError(
            f"--keys {', '.join(map(repr, unused))} selects no key of this run; its keys are: "
            f"{shown or 'none (no call has set any data yet)'}; a commonData key is named by "
            "its key path (grid.load), a moduleData key by <module>:<key path> (epi:beta), "
            "and * ? [] are glob patterns"
        )


def long_rows(record: RunRecord, keys: KeyFilter) -> Iterator[tuple[Any, ...]]:
    """The long form's rows (after the header), values as Python objects."""
    seen: set[str] = set()
    for change in record.state():
        scoped = (("commonData", change.common_data), ("moduleData", change.module_data))
        for scope, document in scoped:
            if scope == "moduleData" and document is None:
                continue
            for path, value in flatten(document):
                name = series_name(scope, change.module, path)
                seen.add(name)
                if keys(name):
                    yield (change.tick, change.time, change.module, change.mode, scope, path, value)
    keys.check(seen)


def wide_table(record: RunRecord, keys: KeyFilter) -> WideTable:
    """The wide form: every numeric key's value after each tick, carried forward."""
    common: dict[str, Any] = {}
    modules: dict[str, Any] = {}
    ticks: list[tuple[int, str, dict[str, Any]]] = []
    numeric: set[str] = set()
    seen: set[str] = set()
    for change in _by_tick(record):
        common.update(change.common_data)
        if change.module_data is not None:
            modules[change.module] = change.module_data
        values = _current(common, modules)
        seen.update(values)
        numeric.update(name for name, value in values.items() if is_number(value))
        if ticks and ticks[-1][0] == change.tick:
            ticks[-1] = (change.tick, ticks[-1][1], values)
        else:
            ticks.append((change.tick, change.time, values))
    names = tuple(sorted(name for name in numeric if keys(name)))
    names = tuple(sorted(names, key=lambda name: ":" in name))  # commonData first
    keys.check(seen)
    rows = tuple(
        (tick, when, tuple(_number(values.get(name)) for name in names))
        for tick, when, values in ticks
    )
    return WideTable(names=names, rows=rows)


def _current(common: Mapping[str, Any], modules: Mapping[str, Any]) -> dict[str, Any]:
    values = dict(flatten(common)) if common else {}
    for module, data in modules.items():
        for path, value in flatten(data):
            values[series_name("moduleData", module, path)] = value
    return values


def _number(value: Any) -> int | float | None:
    return value if is_number(value) else None


# -- writing ----------------------------------------------------------------------------


def write_long_csv(rows: Iterable[tuple[Any, ...]], out: IO[str]) -> None:
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(LONG_COLUMNS)
    for row in rows:
        writer.writerow((*row[:-1], format_value(row[-1])))


def write_wide_csv(table: WideTable, out: IO[str]) -> None:
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(("tick", "time", *table.names))
    for tick, when, values in table.rows:
        writer.writerow((tick, when, *map(format_value, values)))


def long_parquet(rows: Iterable[tuple[Any, ...]], out: IO[bytes]) -> None:
    """The long form as Parquet: the CSV's columns, ``tick`` an int64, the rest strings."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    columns: list[list[Any]] = [[] for _ in LONG_COLUMNS]
    for row in rows:
        for column, value in zip(columns, (*row[:-1], format_value(row[-1])), strict=True):
            column.append(value)
    types = [pa.int64()] + [pa.string()] * (len(LONG_COLUMNS) - 1)
    arrays = [pa.array(c, type=t) for c, t in zip(columns, types, strict=True)]
    pq.write_table(pa.Table.from_arrays(arrays, names=list(LONG_COLUMNS)), out)


def wide_parquet(table: WideTable, out: IO[bytes]) -> None:
    """The wide form as Parquet: a column of only integers is int64, else float64."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    arrays = [
        pa.array([row[0] for row in table.rows], type=pa.int64()),
        pa.array([row[1] for row in table.rows], type=pa.string()),
    ]
    for index in range(len(table.names)):
        values = [row[2][index] for row in table.rows]
        whole = all(value is None or isinstance(value, int) for value in values)
        if whole and all(v is None or -(2**63) <= v < 2**63 for v in values):
            arrays.append(pa.array(values, type=pa.int64()))
        else:
            arrays.append(pa.array([None if v is None else float(v) for v in values], pa.float64()))
    names = ["tick", "time", *table.names]
    pq.write_table(pa.Table.from_arrays(arrays, names=names), out)


def csv_text(rows: Iterable[tuple[Any, ...]]) -> str:
    """The long form's CSV as one string (for tests and small runs)."""
    buffer = io.StringIO()
    write_long_csv(rows, buffer)
    return buffer.getvalue()
