"""What a comparison reads of a run: its calls, its state history and its times.

:func:`read_run` reads a run directory's database into a :class:`RunData`; a baseline
file holds the same (:mod:`simba.compare.baseline`).  Everything else of the run
database (messages, drivers, service stats) is left out: a comparison does not look
at it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from simba.record.reader import StateRow, open_record


@dataclass(frozen=True, slots=True, kw_only=True)
class CallRecord:
    """One call of the plan, as it ended: its last attempt's outcome and how many it took."""

    phase: int
    tick: int
    slot: int
    module: str
    mode: str
    outcome: str | None
    attempts: int

    def describe(self) -> str:
        return f"{self.module} {self.mode} at tick {self.tick}: {self.outcome or 'not ended'}"


@dataclass(frozen=True, slots=True, kw_only=True)
class ModuleTime:
    """A module's wall and CPU seconds over its calls (for information only)."""

    module: str
    calls: int
    wall_time: float
    cpu_time: float | None


@dataclass(frozen=True, slots=True, kw_only=True)
class RunData:
    """One run as a comparison sees it."""

    label: str
    """The run directory or baseline it came from (and the cell)."""
    run_id: str | None
    outcome: str | None
    final_tick: int | None
    calls: tuple[CallRecord, ...]
    state: tuple[StateRow, ...]
    times: tuple[ModuleTime, ...]


def read_run(directory: Path, *, label: str) -> RunData:
    """A run directory's database, read into a :class:`RunData`."""
    with open_record(directory) as record:
        meta = record.meta()
        state = tuple(record.state())
        calls, times = _calls(record.path)
    return RunData(
        label=label,
        run_id=meta.run_id,
        outcome=meta.outcome,
        final_tick=meta.final_tick,
        calls=calls,
        state=state,
        times=times,
    )


#: The attempts' columns a comparison needs, in plan order (the reader's order).
_ATTEMPTS = (
    "SELECT phase, tick, slot, module, mode, outcome, wall_time, user_cpu, system_cpu"
    " FROM attempts WHERE superseded = 0 ORDER BY phase, tick, slot, started_at, id"
)


def _calls(database: Path) -> tuple[tuple[CallRecord, ...], tuple[ModuleTime, ...]]:
    """Each call's last attempt and attempt count; each module's times.

    Its own query of the columns it needs (a 10,000-call run is read in a fraction of
    the time :meth:`~simba.record.reader.RunRecord.attempts` takes to build full rows).
    """
    calls: dict[tuple[int, int, int], CallRecord] = {}
    times: dict[str, list[float]] = {}  # module -> [calls, wall, cpu]
    unknown_cpu: set[str] = set()
    connection = sqlite3.connect(f"{database.resolve().as_uri()}?mode=ro", uri=True)
    try:
        rows = connection.execute(_ATTEMPTS).fetchall()
    finally:
        connection.close()
    for phase, tick, slot, module, mode, outcome, wall, user, system in rows:
        earlier = calls.get((phase, tick, slot))
        calls[phase, tick, slot] = CallRecord(
            phase=phase,
            tick=tick,
            slot=slot,
            module=module,
            mode=mode,
            outcome=outcome,
            attempts=1 if earlier is None else earlier.attempts + 1,
        )
        total = times.setdefault(module, [0, 0.0, 0.0])
        total[0] += earlier is None
        total[1] += wall or 0.0
        if user is None or system is None:
            unknown_cpu.add(module)
        else:
            total[2] += user + system
    return tuple(calls.values()), tuple(
        ModuleTime(
            module=name,
            calls=int(count),
            wall_time=wall,
            cpu_time=None if name in unknown_cpu else cpu,
        )
        for name, (count, wall, cpu) in times.items()
    )


def state_row(document: Mapping[str, Any]) -> StateRow:
    """A state row from its baseline form (the run database's column names)."""
    return StateRow(
        phase=document["phase"],
        tick=document["tick"],
        slot=document["slot"],
        module=document["module"],
        mode=document["mode"],
        target_tick=document.get("target_tick"),
        time=document["time"],
        common_data=document["common_data"],
        module_data=document.get("module_data"),
    )
