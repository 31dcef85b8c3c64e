"""``simba baseline save``: a run's comparable record as one small, canonical JSON file.

A baseline holds exactly what :mod:`simba.compare.diff` reads of a run (see
:class:`~simba.compare.runs.RunData`): the run's id, outcome and final tick, every call
of the plan with its outcome and attempt count, the state history (the ``state`` rows of
the run database) and each module's wall and CPU seconds.  No tick directories, no
module output, no messages.

JSON rather than a copy of the SQLite database: a baseline is kept in a repository and
reviewed there, so it is text that ``git diff`` shows line by line and a pull request
can comment on; git compresses it well; any tool reads it.  It is canonical: keys
sorted, one call or state row per line, the same bytes for the same run on any machine
(except the times, which are for information only).  A sweep's baseline holds every
cell that ran, under its cell id.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from simba._version import __version__
from simba.compare.runs import CallRecord, ModuleTime, RunData, state_row
from simba.errors import RunDirectoryError
from simba.jsonfile import JSONFileError, read_json
from simba.record.reader import StateRow

#: The version of the baseline format, the file's ``simbaBaseline`` key.
FORMAT = 1


def dumps(runs: Mapping[str, RunData]) -> str:
    """The canonical text of a baseline."""
    lines = ["{", f'"simbaBaseline": {FORMAT},', f'"simba": {_json(__version__)},', '"runs": {']
    for index, (cell, run) in enumerate(sorted(runs.items())):
        lines.append(f"{_json(cell)}: {{")
        lines.append(f'"runId": {_json(run.run_id)},')
        lines.append(f'"outcome": {_json(run.outcome)},')
        lines.append(f'"finalTick": {_json(run.final_tick)},')
        lines.append('"times": ' + _json([_time(t) for t in run.times]) + ",")
        lines += _rows("calls", (_call(call) for call in run.calls), last=False)
        lines += _rows("state", (_state(row) for row in run.state), last=True)
        lines.append("}," if index < len(runs) - 1 else "}")
    lines += ["}", "}"]
    return "\n".join(lines) + "\n"


def read_baseline(path: Path) -> dict[str, RunData]:
    """The runs of a baseline file, by cell id; RunDirectoryError (exit 2) if it is none."""
    try:
        document = read_json(path, max_bytes=None)
        if not isinstance(document, dict) or document.get("simbaBaseline") != FORMAT:
            raise ValueError(f'it has no "simbaBaseline": {FORMAT}')
        return {
            cell: _run(run, label=f"{path}" + (f" (cell {cell})" if cell else ""))
            for cell, run in document["runs"].items()
        }
    except (JSONFileError, ValueError, KeyError, TypeError) as exc:
        raise RunDirectoryError(
            f"{path} is not a SIMBA baseline ({exc}); make one with "
            "simba baseline save RUN_DIR DEST"
        ) from None


def _run(document: Mapping[str, Any], *, label: str) -> RunData:
    return RunData(
        label=label,
        run_id=document["runId"],
        outcome=document["outcome"],
        final_tick=document["finalTick"],
        calls=tuple(CallRecord(**call) for call in document["calls"]),
        state=tuple(state_row(row) for row in document["state"]),
        times=tuple(
            ModuleTime(
                module=t["module"],
                calls=t["calls"],
                wall_time=t["wallTime"],
                cpu_time=t["cpuTime"],
            )
            for t in document["times"]
        ),
    )


def _rows(name: str, rows: Iterable[Any], *, last: bool) -> list[str]:
    texts = [_json(row) for row in rows]
    if not texts:
        return [f'"{name}": []' + ("" if last else ",")]
    body = [text + "," for text in texts[:-1]] + [texts[-1]]
    return [f'"{name}": [', *body, "]" if last else "],"]


def _call(call: CallRecord) -> dict[str, Any]:
    return {
        "phase": call.phase,
        "tick": call.tick,
        "slot": call.slot,
        "module": call.module,
        "mode": call.mode,
        "outcome": call.outcome,
        "attempts": call.attempts,
    }


def _state(row: StateRow) -> dict[str, Any]:
    """A state row in its baseline form: the run database's column names."""
    return dataclasses.asdict(row)


def _time(time: ModuleTime) -> dict[str, Any]:
    return {
        "module": time.module,
        "calls": time.calls,
        "wallTime": round(time.wall_time, 6),
        "cpuTime": None if time.cpu_time is None else round(time.cpu_time, 6),
    }


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
