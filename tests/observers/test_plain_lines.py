"""The plain lines: module lines with tick and time, failed attempts in one line, quiet."""

from __future__ import annotations

import io
from datetime import datetime
from pathlib import Path

from simba.events import CallFinished, ModuleLine, RunFinished, RunStarted, RunWarning, TickStarted
from simba.observers.lines import failed_attempt
from simba.observers.plain import PlainObserver

START = datetime(2024, 3, 1)


def events() -> list[object]:
    failed = CallFinished(
        module="epi",
        mode="step",
        tick=14,
        target_tick=15,
        attempt=2,
        outcome="exit",
        exit_code=3,
        wall_time=0.1,
        started_at=0.0,
        # The first line of the engine's message, which goes on with the log's lines.
        reason="module 'epi' (step at tick 14) exited with code 3; last lines of its stderr:",
    )
    return [
        RunStarted(
            run_dir=Path("/runs/r"),
            run_id="r",
            initial_tick=0,
            final_tick=20,
            initial_time=START,
            final_time=datetime(2024, 3, 21),
            call_count=42,
            modules=("epi",),
            calls_done=28,
        ),
        TickStarted(mode="step", tick=14, time=datetime(2024, 3, 15), call_count=2),
        ModuleLine(module="epi", tick=14, level="INFO", text="hello"),
        ModuleLine(module="epi", tick=14, level="ERROR", text="odd"),
        RunWarning(module="epi", tick=14, message="ignored"),
        RunWarning(module="epi", tick=14, message="ignored"),
        failed,
        RunFinished(run_dir=Path("/runs/r"), outcome="failed", calls=28, wall_time=1.0),
    ]


def lines(**options: bool) -> list[str]:
    out = io.StringIO()
    observer = PlainObserver(out, **options)
    for event in events():
        observer(event)  # type: ignore[arg-type]
    return out.getvalue().splitlines()


def test_plain_lines_say_where_and_when() -> None:
    assert lines() == [
        "run r: /runs/r",
        "ticks 0..20 (2024-03-01T00:00:00 .. 2024-03-21T00:00:00), 42 calls, 28 done before",
        "tick 14 2024-03-15T00:00:00 step: 2 calls (28/42 done)",
        "  tick 14 2024-03-15T00:00:00 [epi] INFO: hello",
        "  tick 14 2024-03-15T00:00:00 [epi] ERROR: odd",
        "warning: module 'epi' (tick 14): ignored",
        "  epi step at tick 14: attempt 2 failed: exited with code 3",
        "warning: module 'epi' (tick 14): ignored (and 1 more like it)",
    ]


def test_quiet_keeps_errors_only() -> None:
    assert lines(quiet=True, verbose=True) == [
        "  tick 14 2024-03-15T00:00:00 [epi] ERROR: odd",
        "  epi step at tick 14: attempt 2 failed: exited with code 3",
    ]


def test_a_failed_attempt_without_the_engines_wording_is_shown_as_it_is() -> None:
    event = CallFinished(
        module="m",
        mode="end",
        tick=3,
        target_tick=None,
        attempt=1,
        outcome="status",
        exit_code=0,
        wall_time=0.1,
        started_at=0.0,
        reason="module 'm' (end call at tick 3): the status file is not JSON",
    )
    assert failed_attempt(event) == "m end at tick 3: attempt 1 failed: the status file is not JSON"


def test_the_times_of_ticks_are_kept_only_for_the_latest_ticks() -> None:
    """A 100,000-tick run must not keep 100,000 times (flat memory, issue 15); a module's
    line still shows its tick's time, as it comes in that tick's batch."""
    stream = io.StringIO()
    observer = PlainObserver(stream)
    for tick in range(100_000):
        observer(TickStarted(mode="step", tick=tick, time=START, call_count=1))
    observer(ModuleLine(module="epi", tick=99_999, level="INFO", text="late"))
    assert len(observer.times.times) <= 64
    assert "tick 99999 2024-03-01T00:00:00 [epi] INFO: late" in stream.getvalue()
