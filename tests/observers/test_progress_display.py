"""The rich display at 80 columns with the largest numbers a run shows, and its clock."""

from __future__ import annotations

import io
import re
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from rich.console import Console

from simba.events import CallFinished, RunFinished, RunStarted, RunWarning, TickStarted
from simba.observers.progress import ProgressObserver, clock

START = datetime(2024, 1, 1)
_CONTROL = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def plain(line: str) -> str:
    """``line`` without the cursor's control sequences (no colour is asked for)."""
    return _CONTROL.sub("", line).rstrip()


def console(width: int) -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, width=width, force_terminal=True, color_system=None), out


def started(final_tick: int, calls: int, done: int = 0) -> RunStarted:
    return RunStarted(
        run_dir=Path("/runs/r"),
        run_id="r",
        initial_tick=0,
        final_tick=final_tick,
        initial_time=START,
        final_time=START + timedelta(days=final_tick),
        call_count=calls,
        modules=("a",),
        calls_done=done,
    )


def success(tick: int) -> CallFinished:
    return CallFinished(
        module="a",
        mode="step",
        tick=tick,
        target_tick=tick + 1,
        attempt=1,
        outcome="success",
        exit_code=0,
        wall_time=0.01,
        started_at=0.0,
    )


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [(None, "-:--:--"), (0, "0:00:00"), (59.6, "0:01:00"), (3725, "1:02:05"), (1e5, "27:46:40")],
)
def test_the_clock_is_never_cut(seconds: float | None, shown: str) -> None:
    """Hours grow as they must; an unknown time is -:--:--."""
    assert clock(seconds) == shown


def test_two_lines_at_80_columns_keep_every_number_whole() -> None:
    """Tick 12345/20000, its time, 33333/40000 calls, the rate, elapsed and ETA: uncut."""
    rich, out = console(80)
    display = ProgressObserver(rich)
    display(started(20_000, 40_000, done=33_000))
    assert display.live is not None
    display.live.stop()  # render by hand below, not from the refresh thread
    display(
        TickStarted(mode="step", tick=12_345, time=START + timedelta(days=12_345), call_count=2)
    )
    for _ in range(333):
        display(success(12_345))
    rich.print(display)
    lines = [plain(line) for line in out.getvalue().splitlines()]
    top, second = lines[-2:]
    assert re.fullmatch(r"tick 12345/20000  2057-10-19T00:00:00  ━+ *  33333/40000 calls", top)
    assert re.fullmatch(r"\d+\.\d calls/s  elapsed \d+:\d\d:\d\d  ETA \d+:\d\d:\d\d", second)
    assert len(top) <= 80 and len(second) <= 80 and "…" not in out.getvalue()


def test_the_start_and_end_batches_are_named_after_the_tick() -> None:
    rich, out = console(80)
    display = ProgressObserver(rich)
    display(started(5, 12))
    assert display.live is not None
    display.live.stop()
    display(TickStarted(mode="end", tick=5, time=START + timedelta(days=5), call_count=2))
    rich.print(display)
    assert "tick 5/5 end  2024-01-06T00:00:00" in out.getvalue()


def test_warnings_once_then_a_count_and_quiet_shows_none() -> None:
    """The same warning three times: shown once, then '(and 2 more like it)' at the end."""
    for quiet in (False, True):
        rich, out = console(200)
        display = ProgressObserver(rich, quiet=quiet)
        display(started(3, 4))
        for tick in range(3):
            display(RunWarning(module="a", tick=tick, message="ignored key x"))
        display(RunWarning(module="b", tick=0, message="ignored key x"))
        display(RunFinished(run_dir=Path("/runs/r"), outcome="success", calls=4, wall_time=1))
        warnings = [plain(line) for line in out.getvalue().splitlines() if "warning" in line]
        if quiet:
            assert warnings == []
            continue
        assert warnings == [
            "warning: module 'a' (tick 0): ignored key x",
            "warning: module 'b' (tick 0): ignored key x",
            "warning: module 'a' (tick 0): ignored key x (and 2 more like it)",
        ]
