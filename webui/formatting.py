"""Jinja filters every page uses: times in the reader's zone, numbers and money grouped.

The zone is the signed-in reader's (`workflows.time.zones`), looked up once per request.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask import Flask, g

from workflows.time import zones

from .services import get_services


def reader_zone() -> ZoneInfo:
    """The zone of whoever reads this page (the calendar's for the anonymous)."""
    cached: ZoneInfo | None = g.get("reader_zone")
    if cached is not None:
        return cached
    services = get_services()
    user = g.get("user")
    default = services.calendar.timezone
    if user is None:
        zone = zones.zone_named(None, default)
    else:
        with services.db.unit_of_work(write=False) as session:
            zone = zones.zone_of(session, user.username, default)
    g.reader_zone = zone
    return zone


def when(moment: datetime | None, style: str = zones.SHORT) -> str:
    """A time in the reader's zone, with the zone's abbreviation."""
    return zones.when(moment, reader_zone(), style)


def iso(moment: datetime | None) -> str:
    """A time as ISO 8601 with the reader's offset (``datetime`` attributes)."""
    return zones.iso(moment, reader_zone())


def number(value: Any, places: int | None = None) -> str:
    """A number with thousands grouped: ``20,000``, ``6,250.50``; other values as they are."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "" if value is None else str(value)
    if places is None:
        places = 0 if float(value).is_integer() else 2
    return f"{value:,.{places}f}"


def init_app(app: Flask) -> None:
    """Register the filters."""
    app.add_template_filter(when, "when")
    app.add_template_filter(iso, "iso")
    app.add_template_filter(number, "number")
    app.add_template_global(reader_zone, "reader_zone")
