"""The failures of a run with the last lines of their stderr, read from the run directory.

A call's files are where :mod:`simba.engine.rundir` puts them: ``<tick>/`` for a
start call, ``<tick + 1>/`` for a step, ``end/`` for an end call, and in it
``stderr_<n>`` (``stderr_<n>.<attempt>`` for a retry), ``<n>`` the module's 1-based
place in the schedule, zero-padded to the digits of the module count.  A run with
``"runLayout": "journal"`` has no such files: its failures show their reason alone.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from simba.record.reader import Attempt, Module

#: Lines of a stderr file quoted in the report.
TAIL_LINES = 20
#: Bytes read from the end of a stderr file, at most.
_TAIL_BYTES = 16_384


@dataclass(frozen=True, slots=True, kw_only=True)
class Failure:
    """One failed attempt: which call, why, and the end of its stderr."""

    module: str
    mode: str
    tick: int
    attempt: int
    outcome: str
    reason: str
    exit_code: int | None
    signal: int | None
    superseded: bool
    log: Path | None
    tail: str


def failures(root: Path, attempts: Iterable[Attempt], modules: Iterable[Module]) -> list[Failure]:
    """Every attempt that ended other than in success, oldest first, with its stderr tail."""
    rows = list(modules)
    width = len(str(len(rows)))
    ordered = sorted(rows, key=lambda row: row.idx)  # the schedule's order, 1-based below
    numbers = {row.module: f"{place:0{width}d}" for place, row in enumerate(ordered, 1)}
    ticks = _tick_directories(root)
    found = []
    for attempt in attempts:
        if attempt.outcome in (None, "success"):
            continue
        log = _stderr_path(root, attempt, numbers, ticks)
        found.append(
            Failure(
                module=attempt.module,
                mode=attempt.mode,
                tick=attempt.tick,
                attempt=attempt.attempt,
                outcome=attempt.outcome,
                reason=attempt.reason or attempt.outcome,
                exit_code=attempt.exit_code,
                signal=attempt.signal,
                superseded=attempt.superseded,
                log=log,
                tail=tail(log) if log is not None else "",
            )
        )
    return found


def tail(path: Path, lines: int = TAIL_LINES) -> str:
    """The last ``lines`` lines of a text file (decoded leniently); empty if unreadable."""
    try:
        with path.open("rb") as stream:
            size = stream.seek(0, 2)
            stream.seek(max(0, size - _TAIL_BYTES))
            data = stream.read()
    except OSError:
        return ""
    text = data.decode("utf-8", errors="replace")
    return "\n".join(text.splitlines()[-lines:])


def _tick_directories(root: Path) -> Mapping[int, Path]:
    try:
        entries = list(root.iterdir())
    except OSError:
        return {}
    found = {}
    for entry in entries:
        name = entry.name
        if name.lstrip("-").isdigit() and entry.is_dir():
            found[int(name)] = entry
    return found


def _stderr_path(
    root: Path, attempt: Attempt, numbers: Mapping[str, str], ticks: Mapping[int, Path]
) -> Path | None:
    number = numbers.get(attempt.module)
    if number is None:
        return None
    if attempt.mode == "end":
        directory: Path | None = root / "end"
    else:
        directory = ticks.get(attempt.tick if attempt.mode == "start" else attempt.tick + 1)
    if directory is None:
        return None
    suffix = "" if attempt.attempt == 1 else f".{attempt.attempt}"
    path = directory / f"stderr_{number}{suffix}"
    return path if path.is_file() else None
