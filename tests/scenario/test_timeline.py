"""The clock (DESIGN §3): ISO durations, tick <-> time, the final tick and the tick format."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from conftest import EXAMPLE_SOURCES, MODULES
from hypothesis import given, settings
from hypothesis import strategies as st

from simba.scenario import load_scenario
from simba.scenario.timeline import Interval, Timeline, parse_duration, parse_time


def make_timeline(
    initial: str | datetime,
    end: str | datetime,
    *intervals: tuple[int | None, str],
    initial_tick: int = 0,
) -> Timeline:
    """A Timeline from ``(endTick or None, tickDuration)`` pairs, intervals consecutive."""
    built = []
    start = initial_tick
    for end_tick, text in intervals:
        built.append(
            Interval(
                start_tick=start,
                end_tick=end_tick,
                tick_duration=parse_duration(text),
                duration_text=text,
            )
        )
        start = (end_tick if end_tick is not None else start) + 1
    return Timeline(
        initial_tick=initial_tick,
        initial_time=parse_time(initial) if isinstance(initial, str) else initial,
        intervals=tuple(built),
        end_time=parse_time(end) if isinstance(end, str) else end,
    )


# -- ISO 8601 durations ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "exact"),
    [
        ("PT10M", timedelta(minutes=10)),
        ("PT600S", timedelta(seconds=600)),
        ("PT1H", timedelta(hours=1)),
        ("P1D", timedelta(days=1)),
        ("P1W", timedelta(days=7)),
        ("P2W", timedelta(days=14)),
        ("P1DT2H30M", timedelta(days=1, hours=2, minutes=30)),
        ("PT0.5S", timedelta(milliseconds=500)),
        ("PT1.25S", timedelta(seconds=1.25)),
    ],
)
def test_exact_durations(text: str, exact: timedelta) -> None:
    """Durations without years or months parse to their exact length (P1W is 7 days)."""
    duration = parse_duration(text)
    assert duration.months == 0
    assert duration.exact == exact
    assert duration.total_seconds() == exact.total_seconds()
    assert duration.is_positive


def test_pt10m_equals_pt600s() -> None:
    """PT10M and PT600S are the same duration."""
    assert parse_duration("PT10M") == parse_duration("PT600S")


@pytest.mark.parametrize(
    ("text", "months", "exact"),
    [
        ("P1M", 1, timedelta(0)),
        ("P3M", 3, timedelta(0)),
        ("P1Y", 12, timedelta(0)),
        ("P1Y2M", 14, timedelta(0)),
        ("P1MT12H", 1, timedelta(hours=12)),
    ],
)
def test_calendar_durations(text: str, months: int, exact: timedelta) -> None:
    """Years and months are kept as calendar months, not converted to days."""
    duration = parse_duration(text)
    assert (duration.months, duration.exact) == (months, exact)
    assert duration.is_calendar
    with pytest.raises(ValueError, match="no fixed length"):
        duration.total_seconds()


@pytest.mark.parametrize(
    "text",
    [
        "P",
        "PT",
        "1D",
        "-P1D",
        "P-1D",
        "-PT10M",
        "",
        " P1D",
        "P1D ",
        "pt10m",
        "P1.5D",
        "PT1.S",
        "PT10",
    ],
)
def test_rejects_malformed_durations(text: str) -> None:
    """Malformed, signed or empty durations raise ValueError with an example of the form."""
    with pytest.raises(ValueError, match="ISO 8601 duration"):
        parse_duration(text)


def test_zero_duration_is_not_positive() -> None:
    """PT0S parses but is not positive, so the loader can reject it as a tick length."""
    assert not parse_duration("PT0S").is_positive
    assert not parse_duration("P0D").is_positive


def test_overlong_duration_is_a_value_error() -> None:
    """A duration too long for datetime raises ValueError, not OverflowError."""
    with pytest.raises(ValueError, match="too long"):
        parse_duration("PT" + "9" * 30 + "S")


# -- tick <-> time ---------------------------------------------------------------------------


def test_monthly_ticks_from_january_31_do_not_drift() -> None:
    """Monthly ticks from Jan 31 2024 give Feb 29, Mar 31, Apr 30, and Jan 31 a year on."""
    timeline = make_timeline("2024-01-31T00:00:00", "2025-03-01T00:00:00", (None, "P1M"))
    assert [timeline.time(k).date().isoformat() for k in range(5)] == [
        "2024-01-31",
        "2024-02-29",
        "2024-03-31",
        "2024-04-30",
        "2024-05-31",
    ]
    assert timeline.time(12) == datetime(2025, 1, 31)
    assert timeline.time(13) == datetime(2025, 2, 28)


@pytest.mark.parametrize("examples", EXAMPLE_SOURCES)
def test_reference_three_interval_clock(
    write_scenario: Callable[..., Path], examples: Path
) -> None:
    """The reference-format driver.json (10-, 30-, 60-min ticks) ends at tick 11 = 03:30."""
    driver = json.loads((examples / "local" / "driver.json").read_text(encoding="utf-8"))
    timeline = load_scenario(write_scenario([], driver=driver)).timeline
    tz = timezone.utc
    assert timeline.final_tick == 11
    assert timeline.time(0) == datetime(2024, 1, 1, 0, 0, tzinfo=tz)
    assert timeline.time(1) == datetime(2024, 1, 1, 0, 10, tzinfo=tz)
    assert timeline.time(6) == datetime(2024, 1, 1, 1, 0, tzinfo=tz)
    assert timeline.time(7) == datetime(2024, 1, 1, 1, 30, tzinfo=tz)
    assert timeline.time(11) == datetime(2024, 1, 1, 3, 30, tzinfo=tz)
    assert timeline.time(11).isoformat() == "2024-01-01T03:30:00+00:00"
    assert timeline.tick_format == "{:02d}"
    assert timeline.format_tick(7) == "07"


def test_later_interval_starts_at_previous_last_tick() -> None:
    """Interval i begins at the previous interval's last tick: time(b_i) is shared."""
    timeline = make_timeline(
        "2024-01-01T00:00:00", "2024-01-10T00:00:00", (2, "PT1H"), (None, "P1D")
    )
    assert timeline.time(2) == datetime(2024, 1, 1, 2)
    assert timeline.time(3) == datetime(2024, 1, 2, 2)
    assert timeline.time(4) == datetime(2024, 1, 3, 2)


@pytest.mark.parametrize(
    ("final_tick", "tick_format"),
    [
        (0, "{:01d}"),
        (9, "{:01d}"),
        (10, "{:02d}"),
        (99, "{:02d}"),
        (100, "{:03d}"),
        (999, "{:03d}"),
        (1000, "{:04d}"),
    ],
)
def test_tick_format_width_is_digits_of_final_tick(final_tick: int, tick_format: str) -> None:
    """tickFormat pads to exactly the number of digits of the final tick."""
    start = datetime(2024, 1, 1)
    timeline = make_timeline(start, start + timedelta(seconds=final_tick), (None, "PT1S"))
    assert timeline.final_tick == final_tick
    assert timeline.tick_format == tick_format
    assert len(timeline.format_tick(final_tick)) == len(str(final_tick))
    assert timeline.format_tick(1) == "1".zfill(len(str(final_tick)))


@pytest.mark.parametrize(
    ("end", "final_tick"),
    [
        ("2024-01-01T03:00:00", 3),  # exact hit
        ("2024-01-01T02:30:00", 3),  # overshoot: first tick at or after
        ("2024-01-01T03:00:01", 4),
        ("2024-01-01T00:00:01", 1),
    ],
)
def test_final_tick_is_first_tick_at_or_after_end_time(end: str, final_tick: int) -> None:
    """The final tick is the first tick whose time is at or after endTime."""
    timeline = make_timeline("2024-01-01T00:00:00", end, (None, "PT1H"))
    assert timeline.final_tick == final_tick


def test_final_tick_in_a_later_interval() -> None:
    """The final tick is found across interval boundaries (overshoot in the second interval)."""
    timeline = make_timeline(
        "2024-01-01T00:00:00", "2024-01-01T05:10:00", (2, "PT1H"), (5, "PT30M"), (None, "PT2H")
    )
    # ticks: 0 00:00, 2 02:00, 5 03:30, 6 05:30
    assert timeline.final_tick == 6
    assert timeline.time(6) == datetime(2024, 1, 1, 5, 30)


@pytest.mark.parametrize("initial_tick", [0, 5, -3])
def test_end_time_equal_to_initial_time_gives_initial_tick(initial_tick: int) -> None:
    """endTime == initialTime makes the final tick initialTick (no steps at all)."""
    timeline = make_timeline(
        "2024-01-01T00:00:00", "2024-01-01T00:00:00", (None, "PT1H"), initial_tick=initial_tick
    )
    assert timeline.final_tick == initial_tick


def test_run_whose_final_tick_is_zero(
    write_scenario: Callable[..., Path], simba_cli: Callable[..., Any], tmp_path: Path
) -> None:
    """A real run with endTime == initialTime makes one start and one end call at tick 0."""
    driver = {
        "initialTime": "2024-01-01T00:00:00",
        "endTime": "2024-01-01T00:00:00",
        "scheduleIntervals": [{"tickDuration": "P1D"}],
        "runId": "zero",
    }
    scenario = write_scenario(
        [{"name": "only", "command": str(MODULES / "ok.sh"), "priority": 1}], driver=driver
    )
    result = simba_cli("run", scenario)
    assert result.returncode == 0, result.stderr
    run_dir = tmp_path / "runs" / "zero"
    trace = [
        json.loads(line)
        for line in (run_dir / ".simba" / "trace.jsonl").read_text().splitlines()
        if line
    ]
    assert [(r["mode"], r["tick"], r["outcome"]) for r in trace] == [
        ("start", 0, "success"),
        ("end", 0, "success"),
    ]
    end_config = json.loads((run_dir / "end" / "module_1.json").read_text())
    assert (end_config["currentTick"], end_config["lastRunTick"]) == (0, 0)
    assert end_config["tickFormat"] == "{:01d}"


@pytest.mark.parametrize("initial_tick", [5, -3])
def test_any_initial_tick(initial_tick: int) -> None:
    """Tick initialTick is at initialTime and later ticks count from it."""
    timeline = make_timeline(
        "2024-01-01T00:00:00",
        "2024-01-01T03:00:00",
        (initial_tick + 1, "PT1H"),
        (None, "PT30M"),
        initial_tick=initial_tick,
    )
    assert timeline.time(initial_tick) == datetime(2024, 1, 1)
    assert timeline.time(initial_tick + 1) == datetime(2024, 1, 1, 1)
    assert timeline.time(initial_tick + 2) == datetime(2024, 1, 1, 1, 30)
    assert timeline.final_tick == initial_tick + 5


def test_time_zone_kept_as_written() -> None:
    """A +02:00 offset stays +02:00 in every tick's time; it is not converted to UTC."""
    timeline = make_timeline(
        "2024-01-01T00:00:00+02:00", "2024-01-02T00:00:00+02:00", (None, "PT6H")
    )
    for tick in range(timeline.final_tick + 1):
        assert timeline.time(tick).utcoffset() == timedelta(hours=2)
    assert timeline.time(1).isoformat() == "2024-01-01T06:00:00+02:00"


def test_end_time_in_another_zone_compares_as_instant() -> None:
    """An endTime written in another offset still ends at the same instant."""
    timeline = make_timeline(
        "2024-01-01T00:00:00+02:00", "2024-01-01T00:00:00+00:00", (None, "PT1H")
    )
    assert timeline.final_tick == 2
    assert timeline.time(2).isoformat() == "2024-01-01T02:00:00+02:00"


def test_naive_time_stays_naive() -> None:
    """A time without offset stays naive: no zone is invented."""
    timeline = make_timeline("2024-01-01T00:00:00", "2024-01-02T00:00:00", (None, "PT6H"))
    assert timeline.time(3).tzinfo is None
    assert timeline.time(3).isoformat() == "2024-01-01T18:00:00"


def test_intervals_ending_before_end_time_raise() -> None:
    """Bounded intervals that stop before endTime raise ValueError naming endTime."""
    with pytest.raises(ValueError, match="before endTime"):
        make_timeline("2024-01-01T00:00:00", "2024-01-01T05:00:00", (2, "PT1H"), (3, "PT1H"))


def test_intervals_ending_exactly_at_end_time_are_enough() -> None:
    """A last bounded interval whose last tick is at endTime is accepted."""
    timeline = make_timeline("2024-01-01T00:00:00", "2024-01-01T05:00:00", (2, "PT1H"), (5, "PT1H"))
    assert timeline.final_tick == 5


def test_final_tick_past_year_9999_raises() -> None:
    """A final tick whose time cannot be represented raises ValueError, not OverflowError."""
    with pytest.raises(ValueError, match="9999"):
        make_timeline("9999-01-01T00:00:00", "9999-12-31T00:00:00", (None, "P1Y"))


def test_timeline_is_immutable() -> None:
    """Assigning to a built Timeline raises."""
    timeline = make_timeline("2024-01-01T00:00:00", "2024-01-02T00:00:00", (None, "PT6H"))
    with pytest.raises(AttributeError):
        timeline.final_tick = 99  # type: ignore[misc]
    assert timeline.final_tick == 4


# -- properties ------------------------------------------------------------------------------

durations = st.one_of(
    st.integers(1, 90_000).map(lambda s: f"PT{s}S"),
    st.integers(1, 600).map(lambda m: f"PT{m}M"),
    st.integers(1, 40).map(lambda d: f"P{d}D"),
    st.integers(1, 4).map(lambda w: f"P{w}W"),
    st.integers(1, 24).map(lambda m: f"P{m}M"),
    st.tuples(st.integers(1, 3), st.integers(0, 30)).map(lambda md: f"P{md[0]}M{md[1]}D"),
    st.integers(1, 2).map(lambda y: f"P{y}Y"),
)


@st.composite
def clocks(draw: Any) -> tuple[Timeline, datetime]:
    initial_tick = draw(st.integers(-50, 50))
    initial_time = draw(
        st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2100, 1, 1))
    )
    lengths = draw(st.lists(st.integers(1, 30), max_size=3))
    intervals: list[tuple[int | None, str]] = []
    tick = initial_tick
    for length in lengths:
        tick += length
        intervals.append((tick, draw(durations)))
        tick += 1
    intervals.append((None, draw(durations)))
    end_time = initial_time + timedelta(seconds=draw(st.integers(0, 3 * 10**8)))
    return make_timeline(initial_time, end_time, *intervals, initial_tick=initial_tick), end_time


@settings(max_examples=200, deadline=None)
@given(clocks())
def test_time_increases_and_final_tick_is_first_at_or_after_end(
    clock: tuple[Timeline, datetime],
) -> None:
    """time(k) strictly increases, and the final tick T has time(T-1) < endTime <= time(T)."""
    timeline, end_time = clock
    first, final = timeline.initial_tick, timeline.final_tick
    assert final >= first
    assert timeline.time(final) >= end_time
    if final > first:
        assert timeline.time(final - 1) < end_time
    ticks = set(range(first, min(final, first + 60) + 2))
    ticks |= {final - 1, final, final + 1}
    for interval in timeline.intervals:
        ticks |= {interval.start_tick - 1, interval.start_tick, interval.start_tick + 1}
    ordered = sorted(t for t in ticks if first <= t <= final + 1)
    times = [timeline.time(t) for t in ordered]
    assert all(a < b for a, b in itertools.pairwise(times))
    assert timeline.time(first) == min(times)
    assert timeline.tick_format == f"{{:0{len(str(final))}d}}"
