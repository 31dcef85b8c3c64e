"""One run's report, as the template shows it: a summary, tables, and the charts' data.

What the template prints (text, escaped by Jinja) lives in :class:`RunPage`; what the
charts draw goes, once, into :attr:`RunPage.data`, a JSON-ready mapping kept compact:
the calls as columns of numbers (one entry per attempt), times in seconds relative to
the run's start (wall clock) or to its first simulated time (state history).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from simba.record.reader import Message
from simba.report.logs import Failure, failures
from simba.report.record import RunReport, cpu_seconds
from simba.report.series import MAX_POINTS, sim_seconds, state_series
from simba.report.stats import ModuleStats, module_stats
from simba.wording import counted

#: An attempt's outcome as a small number in the page's data (``None``: still running).
#: ``cut off``: no end recorded, and its driver is gone (killed); drawn up to the driver's
#: last recorded moment.
OUTCOMES = (
    "success", "error", "timeout", "signal", "exit", "status", "fail", "running", "cut off",
)  # fmt: skip
#: INFO lines kept in the report (the last ones); warnings and errors are all kept.
INFO_LINES = 200


@dataclass(frozen=True, slots=True, kw_only=True)
class Banner:
    state: str
    headline: str
    note: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Warning_:
    level: str
    module: str | None
    tick: int | None
    time: str | None
    text: str
    count: int


@dataclass(frozen=True, slots=True, kw_only=True)
class RunPage:
    title: str
    banner: Banner
    error: str | None
    log_tail: str
    facts: tuple[tuple[str, str], ...]
    modules: tuple[ModuleStats, ...]
    order: tuple[tuple[int, str, str, str, str], ...]
    failures: tuple[Failure, ...]
    warnings: tuple[Warning_, ...]
    info: tuple[Message, ...]
    data: Mapping[str, Any]


def run_page(record: RunReport) -> RunPage:
    """The report of one run."""
    meta = record.meta
    counted = [a for a in record.attempts if not a.superseded]
    calls = sum(1 for a in counted if a.outcome == "success")
    found = failures(record.root, record.attempts, record.modules)
    last = record.drivers[-1] if record.drivers else None
    error = (last.error if last else None) or meta.error
    started = record.drivers[0].started_at if record.drivers else meta.started_at
    ended = last.ended_at if last else None
    stats = module_stats(record.modules, record.attempts)
    return RunPage(
        title=f"SIMBA run {meta.run_id or record.root.name}",
        banner=_banner(record, calls),
        error=error,
        log_tail=next((f.tail for f in reversed(found) if not f.superseded and f.tail), ""),
        facts=_facts(record, calls, started, ended),
        modules=tuple(stats),
        order=tuple(
            (row.idx, row.module, row.type, _show(row.priority), ", ".join(row.depends_on) or "-")
            for row in record.modules
        ),
        failures=tuple(found),
        warnings=_warnings(record.messages),
        info=tuple(m for m in record.messages if m.level == "INFO")[-INFO_LINES:],
        data=_data(record, stats, started or 0.0),
    )


def _banner(record: RunReport, calls: int) -> Banner:
    meta, state = record.meta, record.state
    planned = meta.planned_calls
    done = f"{calls} of {planned} calls" if planned is not None else f"{calls} calls"
    last = record.drivers[-1] if record.drivers else None
    if state == "running":
        now, driver = time.time(), last.driver if last else None
        running = [a for a in record.attempts if a.ended_at is None and a.driver == driver]
        doing = [f"{a.module} at tick {a.tick} for {now - a.started_at:.1f} s" for a in running]
        now_text = ", ".join(doing) or "between calls"
        return Banner(state=state, headline=f"Running: {done}", note=f"now: {now_text}")
    if state == "interrupted" and last is not None and last.ended_at is None:
        return Banner(
            state=state,
            headline=f"Interrupted: {done}",
            note=f"the driver (pid {last.pid} on {last.host}) is gone without recording an "
            f"end (killed?); continue with: simba run --resume {record.root}",
        )
    if state == "success":
        return Banner(state=state, headline=f"Success: {done}", note="")
    note = f"continue with: simba run --resume {record.root}"
    return Banner(state=state, headline=f"{state.capitalize()}: {done}", note=note)


def _facts(
    record: RunReport, calls: int, started: float | None, ended: float | None
) -> tuple[tuple[str, str], ...]:
    meta = record.meta
    command = " ".join(record.drivers[-1].command_line) if record.drivers else ""
    end_time = ended if ended is not None else (time.time() if record.state == "running" else None)
    duration = end_time - started if end_time is not None and started is not None else None
    pairs = [
        ("Run", meta.run_id or record.root.name),
        ("Cell", meta.cell_id or "-"),
        ("Run directory", str(record.root)),
        ("Scenario", meta.scenario or "-"),
        ("SIMBA version", meta.simba_version or "-"),
        ("Command", command or "-"),
        ("Drivers", _drivers(len(record.drivers))),
        ("Started", _clock(started)),
        ("Ended", _clock(ended) if ended is not None else "-"),
        ("Duration", f"{duration:.3f} s" if duration is not None else "-"),
        ("Calls", f"{calls} of {_show(meta.planned_calls)} planned"),
        ("Attempts", str(len(record.attempts))),
        ("Ticks", f"{_show(meta.initial_tick)} to {_show(meta.final_tick)}"),
        ("Simulated time", f"{_show(meta.initial_time)} to {_show(meta.final_time)}"),
    ]
    return tuple(pairs)


def _warnings(messages: Sequence[Message]) -> tuple[Warning_, ...]:
    """WARNING and ERROR lines, a repeated text once with its count."""
    counts: Counter[tuple[str, str | None, str]] = Counter()
    first: dict[tuple[str, str | None, str], Message] = {}
    for message in messages:
        if message.level == "INFO":
            continue
        key = (message.level, message.module, message.text)
        counts[key] += 1
        first.setdefault(key, message)
    return tuple(
        Warning_(
            level=m.level, module=m.module, tick=m.tick, time=m.time, text=m.text, count=counts[k]
        )
        for k, m in first.items()
    )


def _data(record: RunReport, stats: Sequence[ModuleStats], origin: float) -> dict[str, Any]:
    names = [row.module for row in record.modules]
    for attempt in record.attempts:
        if attempt.module not in names:
            names.append(attempt.module)
    first_time = _first_time(record)
    return {
        "kind": "run",
        "state": record.state,
        "origin": round(origin, 3),
        "simOrigin": first_time,
        "modules": names,
        "dependsOn": [list(row.depends_on) for row in record.modules],
        "calls": _calls(record, names, origin),
        "outcomes": list(OUTCOMES),
        "tickTimes": _tick_times(record, first_time),
        "stats": [
            {"name": s.name, "wall": s.wall, "cpu": s.cpu, "rss": s.rss_mb} for s in stats
        ],
        "maxPoints": MAX_POINTS,
        "series": [
            {"key": s.key, "scope": s.scope, "module": s.module, "n": s.points,
             "x": [_round(v) for v in s.x], "y": [_significant(v) for v in s.y]}
            for s in state_series(record.states, first_time)
        ],
        "services": _services(record, origin),
        "drivers": [[round(d.started_at - origin, 3), d.driver] for d in record.drivers[1:]],
    }  # fmt: skip


def _calls(record: RunReport, names: list[str], origin: float) -> dict[str, list[Any]]:
    """The attempts as columns: module, mode, tick, attempt, start, wall, CPU, RSS, outcome."""
    index = {name: i for i, name in enumerate(names)}
    modes = {"start": 0, "step": 1, "end": 2}
    columns: dict[str, list[Any]] = {k: [] for k in "mktasdcro"}
    live = record.drivers[-1].driver if record.state == "running" and record.drivers else None
    last_seen = _last_seen(record)
    now = time.time()
    for a in record.attempts:
        end = a.ended_at
        outcome = a.outcome
        if end is None:
            live_call = a.driver == live and not a.superseded
            end = now if live_call else max(a.started_at, last_seen.get(a.driver, a.started_at))
            outcome = "running" if live_call else "cut off"
        columns["m"].append(index[a.module])
        columns["k"].append(modes.get(a.mode, 1))
        columns["t"].append(a.tick)
        columns["a"].append(a.attempt)
        columns["s"].append(round(a.started_at - origin, 4))
        columns["d"].append(
            round(a.wall_time if a.wall_time is not None else end - a.started_at, 4)
        )
        cpu = cpu_seconds(a)
        columns["c"].append(None if cpu is None else round(cpu, 4))
        columns["r"].append(a.max_rss_kb)
        columns["o"].append(OUTCOMES.index(outcome) if outcome in OUTCOMES else 1)
    return columns


def _last_seen(record: RunReport) -> dict[int, float]:
    """Each driver's last recorded moment: its end, else the last end or start it recorded."""
    seen: dict[int, float] = {}
    for a in record.attempts:
        moment = a.ended_at if a.ended_at is not None else a.started_at
        seen[a.driver] = max(seen.get(a.driver, moment), moment)
    for driver in record.drivers:
        if driver.ended_at is not None:
            seen[driver.driver] = driver.ended_at
    return seen


def _first_time(record: RunReport) -> float:
    for text in (record.meta.initial_time, *(row.time for row in record.states)):
        seconds = sim_seconds(text) if isinstance(text, str) else None
        if seconds is not None:
            return seconds
    return 0.0


def _tick_times(record: RunReport, origin: float) -> list[list[float]]:
    """Each tick's simulated time, run-length coded: ``[first tick, count, seconds, step]``."""
    known: dict[int, float] = {}
    for row in record.states:
        if row.phase == 1 and row.tick not in known:
            seconds = sim_seconds(row.time)
            if seconds is not None:
                known[row.tick] = seconds - origin
    segments: list[list[float]] = []
    for tick in sorted(known):
        seconds = known[tick]
        if segments:
            first, count, start, step = segments[-1]
            if tick == first + count and (count == 1 or seconds - start == step * count):
                segments[-1] = [first, count + 1, start, seconds - start if count == 1 else step]
                continue
        segments.append([tick, 1, seconds, 0])
    return segments


def _services(record: RunReport, origin: float) -> list[dict[str, Any]]:
    by_module: dict[str, tuple[list[float], list[int]]] = {}
    for stat in record.service_stats:
        xs, ys = by_module.setdefault(stat.module, ([], []))
        xs.append(round(stat.at - origin, 3))
        ys.append(stat.jobs_completed)
    return [{"module": m, "x": xs, "y": ys} for m, (xs, ys) in by_module.items()]


def _significant(value: float) -> float | int:
    """``value`` to 7 significant digits (a chart needs no more; the JSON gets shorter)."""
    rounded = float(f"{value:.7g}")
    return int(rounded) if rounded.is_integer() and abs(rounded) < 1e15 else rounded


def _round(value: float, digits: int = 3) -> float | int:
    rounded = round(value, digits)
    return int(rounded) if rounded == int(rounded) and abs(rounded) < 1e15 else rounded


def _drivers(count: int) -> str:
    if count <= 1:
        return f"{count} (never resumed)"
    return f"{count} (resumed {counted(count - 1, 'time')})"


def _show(value: Any) -> str:
    """A value of the record as the page shows it: ``?`` where it is not (yet) known."""
    if value is None:
        return "?"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _clock(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S %z", time.localtime(seconds))


__all__ = ["RunPage", "run_page"]
