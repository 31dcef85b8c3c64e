"""What the engine tells the recorder besides events: the run, its modules, and how a
resumed run reconciles the database with what it keeps."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True, kw_only=True)
class RunIdentity:
    """What ``meta`` says about the run besides what :class:`RunStarted` brings."""

    run_id: str
    """The run's id (a sweep's, for its cells)."""
    scenario: str
    fingerprint: str
    simba_version: str
    cell_id: str | None = None
    command_line: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class ModuleRow:
    """A row of ``modules``."""

    module: str
    idx: int
    type: str
    priority: float
    depends_on: tuple[str, ...]
    trusted: bool
    image: str | None = None
    """The digest of its container image, pinned at run start (DESIGN §15)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class EarlierAttempt:
    """An attempt an earlier driver recorded in ``trace.jsonl`` after its last checkpoint."""

    module: str
    mode: str
    tick: int
    target_tick: int | None
    attempt: int
    outcome: str
    exit_code: int | None
    wall_time: float
    started_at: float
    """Seconds since that driver started (as the trace records it)."""
    reason: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Reopening:
    """How a resumed or continued run reconciles the database with what it keeps.

    Calls at or after ``position`` (``(phase, tick)``) that this driver runs again
    lose their ``state`` rows and their attempts become ``superseded``; the calls it
    takes over (``taken_over(module, mode, tick)``) keep theirs and get their state
    row again when replayed, with the ``earlier`` attempts the database may not have
    committed before the earlier driver died.
    """

    position: tuple[int, int]
    taken_over: Callable[[str, str, int], bool]
    earlier: tuple[EarlierAttempt, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class MergedCall:
    """A successful call's effect on the state, after the merge (a ``state`` row): the
    commonData keys it set (those the merge accepted) and the moduleData it returned;
    also for a call taken from an earlier driver (``replayed``)."""

    module: str
    mode: str
    tick: int
    target_tick: int | None
    slot: int
    time: datetime
    """The simulated time of the call's tick."""
    common_data: Mapping[str, Any]
    module_data: Mapping[str, Any] | None
    replayed: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class CallDocuments:
    """One recorded attempt of a call (a ``documents`` row)."""

    module: str
    mode: str
    tick: int
    attempt: int
    config: str
    status: bytes | None
    stdout: bytes
    stderr: bytes
    slot: int = 0
