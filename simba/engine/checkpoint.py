"""Checkpoints and the run journal: what a resumed run needs to carry on exactly.

A run keeps two records in ``.simba/``:

- ``checkpoint.json``, written atomically (temporary file, fsync, rename, directory
  fsync) at batch boundaries, at most about once a second, and at failure, end and
  signals: the position of the next batch, the whole :class:`~simba.engine.state.RunState`,
  and how far the trace had got at that moment;
- ``trace.jsonl``, one flushed line per finished call attempt.

Resuming restores the checkpoint, then *replays* the successful calls the trace
recorded after it: each reads the status file its call left and merges it as if the
call had just run.  So a call that finished before the driver died never runs twice,
and only a call cut off mid-way runs again (at-least-once for that call).  The same
replay serves ``continueFromTick``.

Both are checked when read: the checkpoint against ``schema/checkpoint.json`` and its
digest (a SHA-256 over the document as written, so any later change shows), each trace
record after the checkpoint's offset against ``schema/trace.json``.  Damage is a
:class:`~simba.errors.CheckpointError` naming the file, never a run that goes on from it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from simba import schemas
from simba.engine.state import ModuleState, RunState
from simba.errors import CheckpointError
from simba.jsonfile import (
    JSONFileError,
    dump_json,
    open_regular,
    parse_json,
    read_json,
    write_bytes,
)
from simba.record.rows import EarlierAttempt

FORMAT = 1
#: Seconds between two checkpoints at batch boundaries (failure, end and signals always write).
CHECKPOINT_INTERVAL = 1.0


@dataclass(frozen=True, slots=True, kw_only=True)
class Position:
    """The next batch to run: its mode and tick (``done`` once the run has finished)."""

    mode: str
    tick: int

    def to_json(self) -> dict[str, Any]:
        return {"mode": self.mode, "tick": self.tick}


@dataclass(frozen=True, slots=True, kw_only=True)
class Checkpoint:
    fingerprint: str
    position: Position
    trace_offset: int
    state: RunState


def save_checkpoint(path: Path, checkpoint: Checkpoint) -> None:
    state = checkpoint.state
    document = {
        "format": FORMAT,
        "fingerprint": checkpoint.fingerprint,
        "position": checkpoint.position.to_json(),
        "traceOffset": checkpoint.trace_offset,
        "callsDone": state.calls_done,
        "commonData": state.common_data,
        "modules": {name: _module_to_json(m) for name, m in state.modules.items()},
    }
    body = dump_json(document, indent=None)
    # The digest goes last, over everything before it: any later change shows on resume.
    digest = f', "digest": "{_digest(body)}"}}\n'.encode()
    write_bytes(path, body[:-1] + digest, sync=True)


def _digest(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


class Boundaries:
    """The run's state at the last batch boundary, saved at most about once a second."""

    def __init__(self, path: Path, fingerprint: str) -> None:
        self.path = path
        self.fingerprint = fingerprint
        self.before_save: Callable[[], None] | None = None
        """Called before each save: the run database commits, so it never lags the checkpoint."""
        self._boundary: Checkpoint | None = None
        self._saved_at = 0.0

    def mark(
        self, position: Position, state: RunState, trace_offset: int, *, force: bool = False
    ) -> None:
        """Remember ``state`` (a copy) before ``position``; save it if a second has passed."""
        self._boundary = Checkpoint(
            fingerprint=self.fingerprint,
            position=position,
            trace_offset=trace_offset,
            state=RunState(
                common_data=state.common_data,
                modules={n: dataclasses.replace(m) for n, m in state.modules.items()},
                calls_done=state.calls_done,
            ),
        )
        now = time.monotonic()
        if force or now - self._saved_at >= CHECKPOINT_INTERVAL:
            self.save()
            self._saved_at = now

    def save(self) -> None:
        """Write the last boundary's checkpoint (if there is one)."""
        if self.before_save is not None:
            self.before_save()
        if self._boundary is not None:
            save_checkpoint(self.path, self._boundary)


def load_checkpoint(path: Path) -> Checkpoint:
    """Read ``path``, checked against ``schema/checkpoint.json``; raises :class:`CheckpointError`.

    Whether it fits the scenario (its modules, its position in the plan) is for the
    caller to check: see :func:`simba.engine.start.open_run`.
    """
    try:
        document = read_json(path, max_bytes=None)
    except FileNotFoundError:
        raise CheckpointError(
            f"{path.parent.parent} has no checkpoint ({path.name} is missing); "
            "it is not a SIMBA run directory, or the run never started"
        ) from None
    except JSONFileError as exc:
        raise damaged(path, str(exc)) from exc
    if isinstance(document, dict) and document.get("format", FORMAT) != FORMAT:
        raise CheckpointError(
            f"the checkpoint {path} was written by another SIMBA version "
            f"(format {document['format']!r}); resume it with that version"
        )
    problems = schemas.validate("checkpoint", document, file=str(path))
    if problems:
        raise damaged(path, "; ".join(f"{p.path or 'top level'}: {p.message}" for p in problems))
    # No digest in checkpoints of SIMBA 0.1.0; the document is exactly as dumped before it.
    if "digest" in document and document.pop("digest") != _digest(dump_json(document, indent=None)):
        raise damaged(path, "its digest does not match its content")
    try:
        state = RunState(
            common_data=document["commonData"],
            modules={name: _module_from_json(m) for name, m in document["modules"].items()},
            calls_done=int(document["callsDone"]),
        )
    except ValueError as exc:  # a lastRunTime that is no date-time
        raise damaged(path, f"modules: {exc}") from exc
    return Checkpoint(
        fingerprint=document["fingerprint"],
        position=Position(
            mode=document["position"]["mode"], tick=int(document["position"]["tick"])
        ),
        trace_offset=int(document["traceOffset"]),
        state=state,
    )


def damaged(path: Path, detail: str) -> CheckpointError:
    """The error for a run record (``.simba/...``) that is not as SIMBA wrote it."""
    return CheckpointError(
        f"cannot resume: {path} is damaged ({detail}); SIMBA wrote it otherwise, so it was "
        "changed or corrupted since. Restore it from a backup, or start the run anew "
        "(without --resume, or with --overwrite)"
    )


def _module_to_json(module: ModuleState) -> dict[str, Any]:
    return {
        "moduleData": module.module_data,
        "lastRunTick": module.last_run_tick,
        "lastRunTime": module.last_run_time.isoformat() if module.last_run_time else None,
        "calls": module.calls,
        "failures": module.failures,
        "wallTime": module.wall_time,
        "maxWallTime": module.max_wall_time,
    }


def _module_from_json(document: Mapping[str, Any]) -> ModuleState:
    last_time = document["lastRunTime"]
    return ModuleState(
        module_data=document["moduleData"],
        last_run_tick=None if document["lastRunTick"] is None else int(document["lastRunTick"]),
        last_run_time=datetime.fromisoformat(last_time) if last_time else None,
        calls=int(document["calls"]),
        failures=int(document["failures"]),
        wall_time=float(document["wallTime"]),
        max_wall_time=float(document["maxWallTime"]),
    )


@dataclass(frozen=True, slots=True)
class RecordedCalls:
    """What the trace records after a checkpoint: the calls that succeeded, by
    ``(module, mode, tick)``, and the number of failed attempts per module."""

    succeeded: frozenset[tuple[str, str, int]] = frozenset()
    failed: Mapping[str, int] = field(default_factory=dict)
    attempts: tuple[EarlierAttempt, ...] = ()
    """Every attempt recorded after the checkpoint, for the run database."""


def recorded_calls(
    trace_file: Path, offset: int, replayable: Callable[[str, str, int, int], bool] | None = None
) -> RecordedCalls:
    """The call attempts the trace records after ``offset`` (see :class:`RecordedCalls`).

    ``replayable(module, mode, tick, attempt)`` says whether a successful attempt's status
    is on record (a journal run's or an inline call's row may not have been committed when
    the driver died): the trace is cut before the first that is not, so that call and
    every later one run again, as if the driver had died before it.

    A last line cut off by a crash is dropped from the file, so appending can go on; a
    whole line that is not a trace record raises :class:`CheckpointError`, as does an
    ``offset`` past the end of the file (the checkpoint and the trace do not belong together).
    """
    done: set[tuple[str, str, int]] = set()
    failed: Counter[str] = Counter()
    attempts: list[EarlierAttempt] = []
    try:
        handle = open_regular(trace_file, "r+b")
    except FileNotFoundError:
        if offset:
            raise damaged(
                trace_file.parent / "checkpoint.json", "its trace.jsonl is missing"
            ) from None
        return RecordedCalls()
    except OSError as exc:  # not a regular file (a named pipe put there), unreadable
        raise damaged(trace_file, exc.strerror or str(exc)) from None
    with handle:
        size = handle.seek(0, os.SEEK_END)
        if offset > size:
            raise damaged(
                trace_file.parent / "checkpoint.json",
                f"traceOffset {offset} lies past the end of trace.jsonl ({size} bytes)",
            )
        handle.seek(offset)
        good = offset
        for line in handle:
            if not line.endswith(b"\n"):
                break
            good += len(line)
            record = _trace_record(trace_file, line, f"the record at byte {good - len(line)}")
            if replayable is not None and not _replayable(record, replayable):
                good -= len(line)
                break
            if record["outcome"] == "success":
                done.add((record["module"], record["mode"], int(record["tick"])))
            else:
                failed[record["module"]] += 1
            attempts.append(_earlier_attempt(record))
        handle.truncate(good)
    return RecordedCalls(frozenset(done), dict(failed), tuple(attempts))


def _replayable(
    record: Mapping[str, Any], replayable: Callable[[str, str, int, int], bool]
) -> bool:
    if record["outcome"] != "success":
        return True
    key = (record["module"], record["mode"], int(record["tick"]), int(record.get("attempt", 1)))
    return replayable(*key)


def _earlier_attempt(record: Mapping[str, Any]) -> EarlierAttempt:
    target = record.get("targetTick")
    return EarlierAttempt(
        module=record["module"],
        mode=record["mode"],
        tick=int(record["tick"]),
        target_tick=None if target is None else int(target),
        attempt=int(record.get("attempt", 1)),
        outcome=record["outcome"],
        exit_code=record.get("exitCode"),
        wall_time=float(record.get("wallTime", 0.0)),
        started_at=float(record.get("startedAt", 0.0)),
        reason=record.get("reason"),
    )


def _trace_record(trace_file: Path, line: bytes, where: str) -> dict[str, Any]:
    """One line of the trace, checked against ``schema/trace.json``."""
    try:
        record = parse_json(line)
    except JSONFileError as exc:
        raise damaged(trace_file, f"{where}: {exc}") from exc
    problems = schemas.validate("trace", record, file=str(trace_file))
    if problems:
        details = "; ".join(f"{p.path or 'top level'}: {p.message}" for p in problems)
        raise damaged(trace_file, f"{where}: {details}")
    assert isinstance(record, dict)
    return record
