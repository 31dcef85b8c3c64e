"""A run's record for the report: the database's rows (:mod:`simba.record.reader`) and
how the run stands now.

The database is opened read-only, so a report can be made while the run writes it and
after its driver was killed.  Whether the run is still *running* is not in the database:
a last driver without an end is running if its process still lives (on this host; a
driver on another host is taken to live), else it was killed (*interrupted*).
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from simba.record.reader import (
    Attempt,
    Driver,
    Message,
    Module,
    RunMeta,
    ServiceStat,
    StateRow,
    open_record,
)

#: How a run stands: finished (``success``, ``failed``, ``interrupted``) or ``running``.
RunState = Literal["success", "failed", "interrupted", "running"]


@dataclass(frozen=True, slots=True, kw_only=True)
class RunReport:
    """Everything the database of one run holds, and how the run stands now."""

    root: Path
    meta: RunMeta
    drivers: tuple[Driver, ...]
    modules: tuple[Module, ...]
    attempts: tuple[Attempt, ...]
    """Every attempt, superseded ones too, in the order they started."""
    states: tuple[StateRow, ...]
    messages: tuple[Message, ...]
    service_stats: tuple[ServiceStat, ...]
    state: RunState
    driver_alive: bool


def read_run(root: Path) -> RunReport:
    """Read the database of the run in ``root``; a clear error (exit 2) if there is none."""
    with open_record(root) as record:
        drivers = tuple(record.drivers())
        meta = record.meta()
        attempts = sorted(record.attempts(), key=lambda attempt: (attempt.started_at, attempt.id))
        report = RunReport(
            root=root,
            meta=meta,
            drivers=drivers,
            modules=tuple(record.modules()),
            attempts=tuple(attempts),
            states=tuple(record.state()),
            messages=tuple(record.messages()),
            service_stats=tuple(record.service_stats()),
            state="running",
            driver_alive=False,
        )
    last = drivers[-1] if drivers else None
    alive = last is not None and last.ended_at is None and _alive(last)
    from dataclasses import replace

    return replace(report, state=_state(last, meta, alive), driver_alive=alive)


def cpu_seconds(attempt: Attempt) -> float | None:
    """User plus system CPU seconds of an attempt; ``None`` where neither is known."""
    if attempt.user_cpu is None and attempt.system_cpu is None:
        return None
    return (attempt.user_cpu or 0.0) + (attempt.system_cpu or 0.0)


def _state(last: Driver | None, meta: RunMeta, alive: bool) -> RunState:
    if last is not None and last.ended_at is None:
        return "running" if alive else "interrupted"
    outcome = (last.outcome if last else None) or meta.outcome
    if outcome == "success":
        return "success"
    if outcome == "failed":
        return "failed"
    return "interrupted"


def _alive(driver: Driver) -> bool:
    """Whether the driver process still runs (knowable only on its own host)."""
    if driver.host != socket.gethostname():
        return True  # another machine's driver: taken to run until it records its end
    try:
        os.kill(driver.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a pid taken by another program since the driver died
        return b"simba" in Path(f"/proc/{driver.pid}/cmdline").read_bytes()
    except OSError:
        return True
