"""Per-module figures of a run: calls, attempts, failures, wall time, CPU and peak memory.

A *call* counts once however many attempts it took: the attempts that count are those
not superseded (an attempt cut off by a killed driver ran again after ``--resume``).
The distributions are five numbers each (min, lower quartile, median, upper quartile,
max) over a module's finished attempts, for the box plots.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from simba.record.reader import Attempt, Module
from simba.report.record import cpu_seconds


@dataclass(frozen=True, slots=True, kw_only=True)
class ModuleStats:
    name: str
    type: str
    calls: int
    """Calls that succeeded (each once, whatever its attempts)."""
    attempts: int
    failed: int
    """Attempts that ended other than in success."""
    wall_total: float
    wall_mean: float | None
    wall_p95: float | None
    wall_max: float | None
    cpu_total: float | None
    peak_rss_kb: int | None
    wall: tuple[float, ...] | None
    """Five-number summary of wall times, or ``None`` without a finished attempt."""
    cpu: tuple[float, ...] | None
    rss_mb: tuple[float, ...] | None


def module_stats(modules: Sequence[Module], attempts: Iterable[Attempt]) -> list[ModuleStats]:
    """One :class:`ModuleStats` per module, in schedule order."""
    by_module: dict[str, list[Attempt]] = {row.module: [] for row in modules}
    for attempt in attempts:
        by_module.setdefault(attempt.module, []).append(attempt)
    types = {row.module: row.type for row in modules}
    return [_one(name, types.get(name, "?"), rows) for name, rows in by_module.items()]


def _one(name: str, kind: str, rows: list[Attempt]) -> ModuleStats:
    counted = [row for row in rows if not row.superseded]
    walls = sorted(row.wall_time for row in counted if row.wall_time is not None)
    cpus = sorted(cpu for cpu in map(cpu_seconds, counted) if cpu is not None)
    rss = sorted(row.max_rss_kb for row in counted if row.max_rss_kb is not None)
    return ModuleStats(
        name=name,
        type=kind,
        calls=sum(1 for row in counted if row.outcome == "success"),
        attempts=len(rows),
        failed=sum(1 for row in rows if row.outcome not in (None, "success")),
        wall_total=sum(walls),
        wall_mean=sum(walls) / len(walls) if walls else None,
        wall_p95=quantile(walls, 0.95) if walls else None,
        wall_max=walls[-1] if walls else None,
        cpu_total=sum(cpus) if cpus else None,
        peak_rss_kb=rss[-1] if rss else None,
        wall=five_numbers(walls),
        cpu=five_numbers(cpus),
        rss_mb=five_numbers([kb / 1024 for kb in rss]),
    )


def quantile(ordered: Sequence[float], q: float) -> float:
    """The ``q`` quantile of sorted, non-empty ``ordered`` (linear interpolation)."""
    position = q * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def five_numbers(ordered: Sequence[float]) -> tuple[float, ...] | None:
    if not ordered:
        return None
    return tuple(quantile(ordered, q) for q in (0.0, 0.25, 0.5, 0.75, 1.0))
