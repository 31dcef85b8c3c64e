"""Every numeric key of the state history as a series over simulated time, downsampled.

A key is a path into commonData (``commonData.epidemic.I``) or into a module's
moduleData (``moduleData.sir.beta``); nested objects are followed, lists and
non-numbers are not charted (a boolean is not a number here).  A series longer than
:data:`MAX_POINTS` is *downsampled* by min/max-preserving buckets: its points are cut
into ``MAX_POINTS / 2`` buckets of consecutive points and each bucket keeps its lowest
and its highest point, in their order, so every peak and trough stays visible (the
first and the last point are always kept).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from simba.record.reader import StateRow

#: Points per series above which a series is downsampled.
MAX_POINTS = 2000


@dataclass(frozen=True, slots=True, kw_only=True)
class Series:
    """One numeric key over simulated time: ``x`` in seconds since the first time."""

    key: str
    scope: str
    """``commonData`` or ``moduleData``."""
    module: str | None
    """The module whose moduleData it is, or which last set the commonData key."""
    x: tuple[float, ...]
    y: tuple[float, ...]
    points: int
    """How many points the history had before downsampling."""


def sim_seconds(text: str) -> float | None:
    """An ISO 8601 simulated time as POSIX seconds (a time without zone taken as UTC)."""
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


def numeric_leaves(value: Any, prefix: str) -> Iterator[tuple[str, float]]:
    """``(path, number)`` for every finite number in ``value``, following nested objects."""
    if isinstance(value, bool):
        return
    if isinstance(value, (int, float)):
        if math.isfinite(value):
            yield prefix, float(value)
        return
    if isinstance(value, Mapping):
        for name, item in value.items():
            yield from numeric_leaves(item, f"{prefix}.{name}")


def state_series(states: Iterable[StateRow], origin: float) -> list[Series]:
    """The numeric keys of ``states`` in the order they first appear, each downsampled."""
    points: dict[str, tuple[str, str | None, list[float], list[float]]] = {}
    for row in states:
        at = sim_seconds(row.time)
        if at is None:
            continue
        x = at - origin
        for key, number in numeric_leaves(row.common_data, "commonData"):
            entry = points.setdefault(key, ("commonData", row.module, [], []))
            entry[2].append(x)
            entry[3].append(number)
        for key, number in numeric_leaves(row.module_data or {}, f"moduleData.{row.module}"):
            entry = points.setdefault(key, ("moduleData", row.module, [], []))
            entry[2].append(x)
            entry[3].append(number)
    series = []
    for key, (scope, module, xs, ys) in points.items():
        kept = downsample(ys)
        series.append(
            Series(
                key=key,
                scope=scope,
                module=module,
                x=tuple(xs[i] for i in kept),
                y=tuple(ys[i] for i in kept),
                points=len(ys),
            )
        )
    return series


def downsample(values: Sequence[float], limit: int = MAX_POINTS) -> list[int]:
    """The indices kept of ``values``: all of them, or each bucket's min and max in order."""
    count = len(values)
    if count <= limit:
        return list(range(count))
    buckets = max(1, limit // 2)
    kept = [0]
    for bucket in range(buckets):
        low, high = bucket * count // buckets, (bucket + 1) * count // buckets
        if low >= high:
            continue
        chunk = range(low, high)
        lowest = min(chunk, key=values.__getitem__)
        highest = max(chunk, key=values.__getitem__)
        kept.extend(sorted({lowest, highest}))
    kept.append(count - 1)
    return sorted(set(kept))
