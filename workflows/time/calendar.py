"""Business time: SLA strings such as ``4bh`` / ``2bd`` on the agency's calendar."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import holidays

SLA_PATTERN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(bh|bd)\s*$")
WEEKDAYS = {"mon": 0, "tue": 1, "wed": 2, "thu": 3, "fri": 4, "sat": 5, "sun": 6}
# a due date further than this is a configuration error (e.g. a calendar with no working day)
MAX_SEARCH_DAYS = 3 * 366


@dataclass(frozen=True)
class Sla:
    """A service level: an amount of business hours or business days."""

    amount: float
    unit: str  # "bh" or "bd"

    def business_hours(self, hours_per_day: float) -> float:
        """The SLA in business hours on a calendar with `hours_per_day` working hours."""
        return self.amount if self.unit == "bh" else self.amount * hours_per_day

    def __str__(self) -> str:
        amount = int(self.amount) if self.amount == int(self.amount) else self.amount
        return f"{amount}{self.unit}"


def parse_sla(text: str) -> Sla:
    """Parse ``<number>bh`` (business hours) or ``<number>bd`` (business days).

    Raises:
        ValueError: the text is not an SLA, or is zero.
    """
    match = SLA_PATTERN.match(text or "")
    if not match:
        raise ValueError(f"'{text}' is not a business-time SLA (expected e.g. '4bh' or '2bd')")
    amount = float(match.group(1))
    if amount <= 0:
        raise ValueError(f"SLA '{text}' must be greater than zero")
    return Sla(amount, match.group(2))


@dataclass
class BusinessCalendar:
    """Working days and hours in one time zone, minus public holidays and closures.

    Args:
        timezone: IANA zone, e.g. ``Europe/London``.
        workdays: weekday numbers (Monday = 0).
        opens / closes: the working window of each working day.
        country / subdivision: public holidays from the `holidays` package.
        closures: extra closed dates (office shutdowns).
    """

    timezone: str = "UTC"
    workdays: frozenset[int] = frozenset({0, 1, 2, 3, 4})
    opens: time = time(9, 0)
    closes: time = time(17, 30)
    country: str | None = None
    subdivision: str | None = None
    closures: frozenset[date] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        self.zone = ZoneInfo(self.timezone)
        if self.closes <= self.opens:
            raise ValueError("the working day must close after it opens")
        if not self.workdays:
            raise ValueError("the calendar needs at least one working day")
        self._holidays: Any = (
            holidays.country_holidays(self.country, subdiv=self.subdivision) if self.country else {}
        )

    @property
    def hours_per_day(self) -> float:
        """Working hours in one working day."""
        span = datetime.combine(date.min, self.closes) - datetime.combine(date.min, self.opens)
        return span.total_seconds() / 3600

    def is_working_day(self, day: date) -> bool:
        """True if `day` is a working day (not a weekend, holiday or closure)."""
        return day.weekday() in self.workdays and day not in self._holidays and day not in self.closures

    def closed_days(self, start: date, end: date) -> list[tuple[date, str]]:
        """Public holidays and office closures on weekdays from `start` to `end` (both included),
        each with its name ("office closure" for the calendar's own closures)."""
        days: list[tuple[date, str]] = []
        day = start
        while day <= end:
            if day.weekday() in self.workdays:
                if day in self.closures:
                    days.append((day, "office closure"))
                elif day in self._holidays:
                    days.append((day, str(self._holidays.get(day))))
            day += timedelta(days=1)
        return days

    def add(self, start: datetime, sla: Sla) -> datetime:
        """The instant `sla` of business time after `start` (timezone-aware, in UTC)."""
        return self.add_hours(start, sla.business_hours(self.hours_per_day))

    def add_hours(self, start: datetime, hours: float) -> datetime:
        """The instant `hours` business hours after `start`.

        Raises:
            ValueError: `start` is naive, or no working time exists within three years.
        """
        if start.tzinfo is None:
            raise ValueError("business-time arithmetic needs a timezone-aware start")
        remaining = timedelta(hours=hours)
        cursor = start.astimezone(self.zone)
        for _ in range(MAX_SEARCH_DAYS):
            day = cursor.date()
            if self.is_working_day(day):
                opens = datetime.combine(day, self.opens, self.zone)
                closes = datetime.combine(day, self.closes, self.zone)
                begin = max(cursor, opens)
                if begin < closes:
                    available = closes - begin
                    if remaining <= available:
                        return (begin + remaining).astimezone(ZoneInfo("UTC"))
                    remaining -= available
            cursor = datetime.combine(day + timedelta(days=1), time(0), self.zone)
        raise ValueError("no working time found within three years: check the calendar")

    def business_hours_between(self, start: datetime, end: datetime) -> float:
        """Business hours elapsed from `start` to `end` (0 if end is earlier)."""
        if end <= start:
            return 0.0
        total = timedelta()
        cursor = start.astimezone(self.zone)
        end_local = end.astimezone(self.zone)
        while cursor < end_local:
            day = cursor.date()
            if self.is_working_day(day):
                opens = datetime.combine(day, self.opens, self.zone)
                closes = datetime.combine(day, self.closes, self.zone)
                begin, finish = max(cursor, opens), min(end_local, closes)
                if begin < finish:
                    total += finish - begin
            cursor = datetime.combine(day + timedelta(days=1), time(0), self.zone)
        return total.total_seconds() / 3600


def load_calendar(path: str | Path) -> BusinessCalendar:
    """Read the agency calendar from a TOML file (see ``definitions/calendar.toml``).

    Raises:
        ValueError: a value is missing or malformed (the message names it).
    """
    with open(path, "rb") as fh:
        raw = tomllib.load(fh)
    cal = raw.get("calendar", raw)
    try:
        workdays = frozenset(
            WEEKDAYS[d.strip().lower()[:3]] for d in cal.get("workdays", ["mon", "tue", "wed", "thu", "fri"])
        )
        return BusinessCalendar(
            timezone=cal.get("timezone", "UTC"),
            workdays=workdays,
            opens=time.fromisoformat(cal.get("opens", "09:00")),
            closes=time.fromisoformat(cal.get("closes", "17:30")),
            country=cal.get("country"),
            subdivision=cal.get("subdivision"),
            closures=frozenset(date.fromisoformat(d) for d in cal.get("closures", [])),
        )
    except (KeyError, ValueError) as exc:
        raise ValueError(f"{path}: invalid calendar: {exc}") from exc


class BusinessTimeline:
    """Business hours from a fixed origin to any moment, so that ``between(a, b)`` equals
    ``calendar.business_hours_between(a, b)`` at the cost of a dict lookup per moment: working
    out the durations of hundreds of thousands of tasks (`workflows.time.durations`) by walking the
    calendar day by day for each one costs minutes. Days are counted once, as far as the
    moments asked for reach.
    """

    def __init__(self, calendar: BusinessCalendar) -> None:
        self.calendar = calendar
        self._day_hours = calendar.hours_per_day
        opens = calendar.opens
        self._opens = opens.hour * 3600 + opens.minute * 60 + opens.second + opens.microsecond / 1e6
        # day -> (business hours before it since the origin day, is it a working day)
        self._days: dict[date, tuple[float, bool]] = {}
        self._first: date | None = None
        self._last: date | None = None

    def _day(self, day: date) -> tuple[float, bool]:
        known = self._days.get(day)
        if known is not None:
            return known
        working = self.calendar.is_working_day
        if self._first is None or self._last is None:
            self._first = self._last = day
            self._days[day] = (0.0, working(day))
            return self._days[day]
        while day > self._last:  # extend forward: the day before adds its hours
            before, was_working = self._days[self._last]
            self._last += timedelta(days=1)
            self._days[self._last] = (before + (self._day_hours if was_working else 0.0), working(self._last))
        while day < self._first:  # extend backward
            after, _ = self._days[self._first]
            self._first -= timedelta(days=1)
            is_working = working(self._first)
            self._days[self._first] = (after - (self._day_hours if is_working else 0.0), is_working)
        return self._days[day]

    def at(self, moment: datetime) -> float:
        """Business hours from the origin to `moment` (wall-clock time in the calendar's zone)."""
        local = moment.astimezone(self.calendar.zone)
        before, working = self._day(local.date())
        if not working:
            return before
        seconds = local.hour * 3600 + local.minute * 60 + local.second + local.microsecond / 1e6
        within = min(max(seconds - self._opens, 0.0), self._day_hours * 3600)
        return before + within / 3600

    def between(self, start: datetime, end: datetime) -> float:
        """Business hours from `start` to `end` (0 if end is earlier)."""
        return max(self.at(end) - self.at(start), 0.0) if end > start else 0.0
