"""The driver section: initialTime, endTime and scheduleIntervals -> a Driver and its Timeline.

The document has passed the ``driver`` schema; this module checks what a schema cannot
say (times that parse and follow each other, intervals without gaps or overlaps, a
``continueFromTick`` inside the run) and adds each problem to the collection it is given.
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
from typing import Any

from simba.scenario.model import Driver
from simba.scenario.problems import Problems
from simba.scenario.timeline import Interval, Timeline, parse_duration, parse_time


def parse_driver(
    problems: Problems, file: Path, doc: dict[str, Any], prefix: str, cwd: Path
) -> tuple[Driver | None, Timeline | None]:
    """The driver and timeline of a schema-valid driver document, or Nones after problems.

    ``prefix`` is the JSON path of the document in ``file``; a relative
    ``outputDirectory`` is taken relative to ``cwd``.
    """

    def at(key: str) -> str:
        return f"{prefix}.{key}" if prefix else key

    count = len(problems)
    initial_time = _time(problems, file, at("initialTime"), doc["initialTime"])
    end_time = _end_time(problems, file, at("endTime"), doc["endTime"], initial_time)
    if initial_time is not None and end_time is not None:
        _check_order(problems, file, at("endTime"), initial_time, end_time)
    initial_tick = int(doc.get("initialTick", 0))
    intervals = _intervals(
        problems, file, at("scheduleIntervals"), doc["scheduleIntervals"], initial_tick
    )
    if len(problems) > count or initial_time is None or end_time is None:
        return None, None
    try:
        timeline = Timeline(
            initial_tick=initial_tick,
            initial_time=initial_time,
            intervals=intervals,
            end_time=end_time,
        )
    except (ValueError, OverflowError) as exc:
        problems.add(file, at("scheduleIntervals"), str(exc))
        return None, None
    output = Path(doc.get("outputDirectory", "runs"))
    driver = Driver(
        initial_time=initial_time,
        end_time=end_time,
        initial_tick=initial_tick,
        intervals=intervals,
        continue_from_tick=doc.get("continueFromTick"),
        output_directory=Path(os.path.normpath(output if output.is_absolute() else cwd / output)),
        run_id=doc.get("runId"),
        cell_id=doc.get("cellId"),
        seed=doc.get("seed"),
        output_directory_given="outputDirectory" in doc,
        run_layout=str(doc.get("runLayout", "tick")),  # scale: DESIGN §16
    )
    cont = driver.continue_from_tick
    if cont is not None and not initial_tick <= cont <= timeline.final_tick:
        problems.add(
            file,
            at("continueFromTick"),
            f"must lie between initialTick {initial_tick} and the final tick "
            f"{timeline.final_tick}, not {cont}",
        )
        return None, None
    return driver, timeline


def _check_order(
    problems: Problems, file: Path, where: str, initial_time: datetime, end_time: datetime
) -> None:
    if (initial_time.tzinfo is None) != (end_time.tzinfo is None):
        problems.add(
            file, where, "initialTime and endTime must both have a time zone or both have none"
        )
    elif end_time < initial_time:
        problems.add(
            file,
            where,
            f"endTime {end_time.isoformat()} is before initialTime {initial_time.isoformat()}",
        )


def _time(problems: Problems, file: Path, where: str, text: str) -> datetime | None:
    try:
        return parse_time(text)
    except ValueError as exc:
        problems.add(file, where, str(exc))
        return None


def _end_time(
    problems: Problems, file: Path, where: str, text: str, initial_time: datetime | None
) -> datetime | None:
    """``endTime``: a time, or a duration (``P…``) after ``initialTime``."""
    if not text.startswith("P"):
        return _time(problems, file, where, text)
    try:
        duration = parse_duration(text)
    except ValueError as exc:
        problems.add(file, where, str(exc))
        return None
    if initial_time is None:
        return None
    try:
        return initial_time + duration.times(1)
    except (OverflowError, ValueError):
        problems.add(file, where, f"initialTime plus {text} lies past the year 9999")
        return None


def _intervals(
    problems: Problems, file: Path, where: str, docs: list[dict[str, Any]], initial_tick: int
) -> tuple[Interval, ...]:
    """The intervals, each starting right after the previous one; only the last unbounded."""
    intervals: list[Interval] = []
    expected_start = initial_tick
    for i, doc in enumerate(docs):
        here = f"{where}[{i}]"
        start = doc.get("startTick", expected_start)
        if start != expected_start:
            what = (
                "the first interval must start at initialTick"
                if i == 0
                else "each interval must start right after the previous endTick"
            )
            kind = "a gap" if start > expected_start else "an overlap"
            problems.add(
                file,
                f"{here}.startTick",
                f"startTick {start} leaves {kind}: {what} ({expected_start})",
            )
        end = doc.get("endTick", "Infinity")
        end_tick = None if end == "Infinity" else int(end)
        if end_tick is None and i != len(docs) - 1:
            problems.add(
                file,
                f"{here}.endTick",
                "only the last interval may be unbounded; give this one an endTick",
            )
        if end_tick is not None and end_tick < expected_start:
            problems.add(
                file,
                f"{here}.endTick",
                f"endTick {end_tick} is before the interval's first tick {expected_start}",
            )
        try:
            duration = parse_duration(doc["tickDuration"])
        except ValueError as exc:
            problems.add(file, f"{here}.tickDuration", str(exc))
            continue
        if not duration.is_positive:
            problems.add(file, f"{here}.tickDuration", "a tick must last longer than zero")
        intervals.append(
            Interval(
                start_tick=expected_start,
                end_tick=end_tick,
                tick_duration=duration,
                duration_text=doc["tickDuration"],
            )
        )
        expected_start = (end_tick if end_tick is not None else expected_start) + 1
    return tuple(intervals)
