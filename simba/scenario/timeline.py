"""Ticks and the date-times they stand for (DESIGN §3).

Within interval *i*, which begins at tick ``b_i`` (the first at ``initialTick``, each
next at the previous interval's last tick)::

    time(k) = time(b_i) + (k - b_i) * tickDuration_i

Calendar parts of a duration (years, months) are multiplied before they are added,
so monthly ticks from Jan 31 give Feb 29, Mar 31, Apr 30: no drift.  The final tick
is the first tick whose time is at or after ``endTime``.
"""

from __future__ import annotations

import bisect
import math
import re
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta

from dateutil.relativedelta import relativedelta

_DURATION = re.compile(
    r"^P(?!$)(?:(?P<years>\d+)Y)?(?:(?P<months>\d+)M)?(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?=\d)(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?$"
)


@dataclass(frozen=True, slots=True)
class Duration:
    """An ISO 8601 duration split into its calendar part and its exact part."""

    months: int = 0
    exact: timedelta = timedelta(0)

    @property
    def is_positive(self) -> bool:
        return self.months > 0 or self.exact > timedelta(0)

    @property
    def is_calendar(self) -> bool:
        return self.months != 0

    def times(self, count: int) -> relativedelta | timedelta:
        """``count`` of this duration, ready to add to a datetime."""
        if self.months:
            return relativedelta(months=self.months * count) + self.exact * count
        return self.exact * count

    def total_seconds(self) -> float:
        """Exact length in seconds; only for durations without months or years."""
        if self.months:
            raise ValueError("a duration with months or years has no fixed length")
        return self.exact.total_seconds()


def parse_duration(text: str) -> Duration:
    """Parse ``PnYnMnWnDTnHnMnS`` (``P1W`` is 7 days, ``P1M`` one calendar month).

    Raises ``ValueError`` with a sentence for the user.
    """
    match = _DURATION.match(text) if isinstance(text, str) else None
    if match is None:
        raise ValueError(
            f"{text!r} is not an ISO 8601 duration; write e.g. PT10M, PT600S, P1D, P1W or P1M"
        )
    part = {key: value or "0" for key, value in match.groupdict().items()}
    try:
        exact = timedelta(
            weeks=int(part["weeks"]),
            days=int(part["days"]),
            hours=int(part["hours"]),
            minutes=int(part["minutes"]),
            seconds=float(part["seconds"]),
        )
    except OverflowError as exc:
        raise ValueError(f"{text!r} is too long a duration for a date-time") from exc
    return Duration(months=12 * int(part["years"]) + int(part["months"]), exact=exact)


#: The longest timeout SIMBA accepts, in seconds: the longest wait the platform's threads
#: can do (``threading.TIMEOUT_MAX``, about 292 years on Linux).
LONGEST_TIMEOUT = threading.TIMEOUT_MAX


def timeout_seconds(value: object, *, text: str | None = None) -> float:
    """Seconds from a number or an ISO 8601 duration (``text``: as the user wrote it).

    Raises ``ValueError`` with a sentence for the user if it is no length of time SIMBA
    can wait for: not a number, not longer than zero, or longer than :data:`LONGEST_TIMEOUT`.
    """
    if isinstance(value, str):
        seconds = parse_duration(value).total_seconds()
    elif isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{value!r} is not a number of seconds or an ISO 8601 duration")
    else:
        try:
            seconds = float(value)
        except OverflowError:  # an integer beyond a double's range
            seconds = math.inf
    shown = str(value) if text is None else text
    shown = shown if len(shown) <= 40 else shown[:37] + "..."
    if math.isnan(seconds):
        raise ValueError(f"{shown} is not a number of seconds; write e.g. 600 or PT10M")
    if seconds > LONGEST_TIMEOUT:
        raise ValueError(
            f"{shown} is longer than SIMBA can wait for (at most {LONGEST_TIMEOUT:.0f} "
            "seconds, about 290 years); write a shorter time, or leave the timeout out"
        )
    if not seconds > 0:
        raise ValueError(f"{shown} is no length of time: it must be longer than zero")
    return seconds


def parse_time(text: str) -> datetime:
    """Parse an ISO 8601 date-time (or date), keeping its time zone as written."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"{text!r} is not an ISO 8601 date-time")
    try:  # the standard library reads the common forms; dateutil (slower to import) the rest
        return datetime.fromisoformat(text)
    except ValueError:
        pass
    from dateutil.parser import isoparse

    try:
        return isoparse(text)
    except (ValueError, OverflowError) as exc:
        raise ValueError(
            f"{text!r} is not an ISO 8601 date-time; write e.g. 2024-01-01T00:00:00+00:00"
        ) from exc


@dataclass(frozen=True, slots=True, kw_only=True)
class Interval:
    """Ticks ``start_tick..end_tick`` (``None``: unbounded) of one tick duration."""

    start_tick: int
    end_tick: int | None
    tick_duration: Duration
    duration_text: str


class Timeline:
    """Maps ticks to times for one driver configuration; immutable after construction."""

    __slots__ = (
        "_anchors",
        "_recent",
        "_starts",
        "final_tick",
        "initial_tick",
        "intervals",
        "tick_format",
    )

    def __init__(
        self,
        *,
        initial_tick: int,
        initial_time: datetime,
        intervals: tuple[Interval, ...],
        end_time: datetime,
    ) -> None:
        self.initial_tick = initial_tick
        self.intervals = intervals
        self._starts = [interval.start_tick for interval in intervals]
        self._recent: dict[int, datetime] = {}  # the last few ticks asked for (see time)
        # The anchor of interval i is (b_i, time(b_i)).
        anchors: list[tuple[int, datetime]] = []
        anchor = (initial_tick, initial_time)
        for interval in intervals:
            anchors.append(anchor)
            if interval.end_tick is not None:
                anchor = (interval.end_tick, self._time_in(interval, anchor, interval.end_tick))
        self._anchors = tuple(anchors)
        self.final_tick = self._first_tick_at_or_after(end_time)
        try:
            self.time(self.final_tick)
        except (OverflowError, ValueError) as exc:
            raise ValueError(
                f"the final tick {self.final_tick} lies past the year 9999 "
                f"(after endTime {end_time.isoformat()}); end earlier or use shorter ticks"
            ) from exc
        self.tick_format = f"{{:0{len(str(self.final_tick))}d}}"  # set last: see __setattr__

    def __setattr__(self, name: str, value: object) -> None:
        if hasattr(self, "tick_format"):
            raise AttributeError(f"a Timeline is immutable; cannot set {name!r}")
        object.__setattr__(self, name, value)

    @staticmethod
    def _time_in(interval: Interval, anchor: tuple[int, datetime], tick: int) -> datetime:
        base_tick, base_time = anchor
        return base_time + interval.tick_duration.times(tick - base_tick)

    def time(self, tick: int) -> datetime:
        """The date-time of ``tick`` (ticks before ``initialTick`` extend the first interval).

        The run asks for the same few ticks many times (each call's current and target
        time): the last few answers are kept.
        """
        found = self._recent.get(tick)
        if found is None:
            index = max(bisect.bisect_right(self._starts, tick) - 1, 0)
            found = self._time_in(self.intervals[index], self._anchors[index], tick)
            if len(self._recent) >= 16:
                self._recent.clear()
            self._recent[tick] = found
        return found

    def format_tick(self, tick: int) -> str:
        return self.tick_format.format(tick)

    def _first_tick_at_or_after(self, end_time: datetime) -> int:
        """The final tick T; raises ``ValueError`` if the intervals end before ``end_time``."""
        if self._anchors[0][1] >= end_time:
            return self.initial_tick
        for interval, anchor in zip(self.intervals, self._anchors, strict=True):
            last = interval.end_tick

            def before_end(
                tick: int, interval: Interval = interval, anchor: tuple[int, datetime] = anchor
            ) -> bool:
                try:
                    return self._time_in(interval, anchor, tick) < end_time
                except (OverflowError, ValueError):  # past year 9999: certainly not before
                    return False

            if last is not None and before_end(last):
                continue
            # time is increasing in k inside the interval: gallop, then bisect.
            low, step = anchor[0], 1
            high = low + step
            while (last is None or high < last) and before_end(high):
                low, step = high, step * 2
                high = low + step
            if last is not None:
                high = min(high, last)
            while high - low > 1:
                middle = (low + high) // 2
                if before_end(middle):
                    low = middle
                else:
                    high = middle
            return high
        last_interval = self.intervals[-1]
        raise ValueError(
            f"the schedule intervals end at tick {last_interval.end_tick} "
            f"({self.time(last_interval.end_tick or 0).isoformat()}), before endTime "
            f"{end_time.isoformat()}; extend the last interval or leave out its endTick"
        )
