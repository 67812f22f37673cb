"""Clocks for SLA targets: 24x7, or business hours in a time zone with holidays.

Business time is counted in real elapsed time within open hours, so a day on
which daylight saving shifts inside open hours is an hour shorter or longer,
as a person at the desk lives it. Open hours are wall-clock times of the
calendar's zone, resolved per date, so 09:00 stays 09:00 across a DST change.

All arithmetic happens in UTC: Python adds and subtracts datetimes that share
a ``ZoneInfo`` on the wall clock, which is an hour off across a DST change.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

#: How far ahead a deadline may be searched before the calendar is called broken.
_HORIZON_DAYS = 3 * 366


class Calendar(Protocol):
    def add(self, start: datetime, work: timedelta) -> datetime:
        """The moment when ``work`` of open time has passed since ``start``."""

    def between(self, start: datetime, end: datetime) -> timedelta:
        """Open time between two moments (zero if ``end`` is not after ``start``)."""


class AlwaysOpen:
    """24x7: business time is plain elapsed time."""

    name = "24x7"

    def add(self, start: datetime, work: timedelta) -> datetime:
        return (start.astimezone(UTC) + work).astimezone(start.tzinfo)

    def between(self, start: datetime, end: datetime) -> timedelta:
        return max(end.astimezone(UTC) - start.astimezone(UTC), timedelta(0))


@dataclass(frozen=True)
class BusinessHours:
    """Weekly open hours (weekday 0 = Monday) in an IANA time zone, minus holidays."""

    zone: ZoneInfo
    weekly: Mapping[int, tuple[tuple[time, time], ...]]
    holidays: frozenset[date] = field(default_factory=frozenset)
    name: str = "business"

    def __post_init__(self) -> None:
        if not any(self.weekly.get(day) for day in range(7)):
            raise ValueError(f"calendar {self.name!r} has no open hours in the week")
        for day, spans in self.weekly.items():
            for opens, closes in spans:
                if opens >= closes:
                    raise ValueError(
                        f"calendar {self.name!r}: {opens:%H:%M}-{closes:%H:%M} on weekday {day} "
                        "closes before it opens"
                    )

    def _open_spans(self, start: datetime) -> Iterator[tuple[datetime, datetime]]:
        """Open spans in time order, from the day of ``start`` on, as UTC moments."""
        first = start.astimezone(self.zone).date()
        for offset in range(_HORIZON_DAYS):
            day = first + timedelta(days=offset)
            if day in self.holidays:
                continue
            for opens, closes in self.weekly.get(day.weekday(), ()):
                yield (
                    datetime.combine(day, opens, tzinfo=self.zone).astimezone(UTC),
                    datetime.combine(day, closes, tzinfo=self.zone).astimezone(UTC),
                )
        raise ValueError(f"calendar {self.name!r} has no open time within {_HORIZON_DAYS} days")

    def add(self, start: datetime, work: timedelta) -> datetime:
        remaining = work
        utc_start = start.astimezone(UTC)
        for opens, closes in self._open_spans(start):
            begin = max(opens, utc_start)
            if begin >= closes:
                continue
            if begin + remaining <= closes:
                return (begin + remaining).astimezone(start.tzinfo)
            remaining -= closes - begin
        raise AssertionError("unreachable: _open_spans raises at its horizon")

    def between(self, start: datetime, end: datetime) -> timedelta:
        total = timedelta(0)
        start, end = start.astimezone(UTC), end.astimezone(UTC)
        if end <= start:
            return total
        for opens, closes in self._open_spans(start):
            if opens >= end:
                return total
            total += max(min(closes, end) - max(opens, start), timedelta(0))
        return total
