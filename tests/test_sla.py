"""SLAs count business time on the agency calendar: hours, weekends, holidays, closures."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from workflows.time.calendar import BusinessCalendar, Sla, load_calendar, parse_sla

LONDON = ZoneInfo("Europe/London")
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def calendar() -> BusinessCalendar:
    return load_calendar(ROOT / "definitions" / "calendar.toml")


def at(y: int, m: int, d: int, hh: int, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=LONDON)


@pytest.mark.parametrize(
    ("text", "sla"), [("4bh", Sla(4, "bh")), ("2bd", Sla(2, "bd")), (" 1.5bh ", Sla(1.5, "bh"))]
)
def test_slas_are_business_hours_or_days(text: str, sla: Sla) -> None:
    assert parse_sla(text) == sla


@pytest.mark.parametrize("text", ["3 weeks", "0bd", "bd", "2d", "", "-1bh"])
def test_anything_else_is_refused_with_the_reason(text: str) -> None:
    with pytest.raises(ValueError, match=r"SLA|business-time"):
        parse_sla(text)


def test_four_business_hours_from_friday_afternoon_end_on_monday_morning(calendar: BusinessCalendar) -> None:
    due = calendar.add(at(2026, 11, 27, 15, 0), parse_sla("4bh"))  # Fri 15:00, closes 17:30
    assert due == at(2026, 11, 30, 10, 30).astimezone(UTC)


def test_a_task_ready_at_night_starts_counting_when_the_office_opens(calendar: BusinessCalendar) -> None:
    due = calendar.add(at(2026, 12, 1, 22, 0), parse_sla("2bh"))
    assert due == at(2026, 12, 2, 11, 0).astimezone(UTC)


def test_two_business_days_skip_christmas_boxing_day_observed_and_the_office_closure(
    calendar: BusinessCalendar,
) -> None:
    # Thu 24 Dec 2026 12:00 -> Christmas (Fri), weekend, Boxing Day observed (Mon 28),
    # office closed 29-31 Dec, New Year's Day (Fri 1 Jan): work resumes Mon 4 Jan 2027
    due = calendar.add(at(2026, 12, 24, 12, 0), parse_sla("2bd"))
    hours_per_day = calendar.hours_per_day  # 8.5
    # 17 h in all: 5.5 h left on the 24th, 8.5 h on 4 Jan, the last 3 h on 5 Jan
    assert hours_per_day == 8.5
    assert due == at(2027, 1, 5, 12, 0).astimezone(UTC)
    for closed in (date(2026, 12, 25), date(2026, 12, 28), date(2026, 12, 29), date(2027, 1, 1)):
        assert not calendar.is_working_day(closed)


def test_business_hours_between_two_instants(calendar: BusinessCalendar) -> None:
    assert calendar.business_hours_between(at(2026, 11, 27, 15, 0), at(2026, 11, 30, 10, 30)) == 4.0
    assert calendar.business_hours_between(at(2026, 11, 30, 10, 0), at(2026, 11, 27, 10, 0)) == 0.0


def test_naive_datetimes_are_refused(calendar: BusinessCalendar) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        calendar.add(datetime(2026, 12, 1, 10, 0), parse_sla("1bh"))


def test_a_calendar_file_with_a_bad_value_names_it(tmp_path: Path) -> None:
    bad = tmp_path / "calendar.toml"
    bad.write_text('[calendar]\ntimezone = "Europe/London"\nworkdays = ["mon", "funday"]\n')
    with pytest.raises(ValueError, match="invalid calendar"):
        load_calendar(bad)


def test_a_calendar_without_working_days_is_refused() -> None:
    with pytest.raises(ValueError, match="working day"):
        BusinessCalendar(workdays=frozenset())
    with pytest.raises(ValueError, match="close after"):
        BusinessCalendar(opens=time(18), closes=time(9))
