"""What every report is: `ReportRows` (flat rows, one dict per line) and its `ReportDescriptor`.

A descriptor says everything Baton needs to offer a report: its name, title and blurb, the
dimensions it groups by, how its rows are built and how they are charted. The CLI prints the rows,
the API answers them and the pages chart them, so the three never disagree. The charts are data
(labels and series, with colours) that ``webui/static/js/charts.js`` hands to Chart.js.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from workflows.agency import AM_LANE, PM_LANE, STAGES
from workflows.reports.process import ReportFilter
from workflows.services import Services
from workflows.time import zones

Row = dict[str, Any]
Chart = dict[str, Any]
NOTED = 5  # engagements a report's note names (the most reworked, the dearest rework)

# the report colours: the AM and PM lanes, the client's time, warnings
AM, PM, CLIENT, RED, AMBER, GREY = "#2f6fed", "#0f9d76", "#f0a43a", "#d92d20", "#dc8a00", "#98a2b3"
PASS, WON = "#34c38f", "#7bd3b0"
LANE_COLOURS = {AM_LANE: AM, PM_LANE: PM}


@dataclass(frozen=True)
class ReportRows:
    """One report as rows, with the line that sums it up and the keys worth pointing at."""

    name: str
    by: str | None  # the dimension grouped by (None: the report does not group)
    rows: list[Row]
    note: str = ""
    highlights: list[str] = field(default_factory=list)  # keys to stress: the bottleneck, over budget

    @property
    def title(self) -> str:
        """E.g. ``time by stage``, or just ``rework``."""
        return self.name if self.by is None else f"{self.name} by {self.by}"


Builder = Callable[[Session, Services, ReportFilter, Any], ReportRows]
Charter = Callable[[ReportRows, list[Row], list[str]], list[Chart]]


@dataclass(frozen=True)
class ReportDescriptor:
    """A report, declared once in its own module (collected by `workflows.reports.registry`)."""

    name: str  # as in `baton report NAME` and /api/v1/reports/NAME
    title: str  # the page's heading
    blurb: str  # one line on what it shows
    order: int  # its place in lists of reports
    groupings: tuple[str, ...] | None  # the dimensions it groups by, the default first; None: none
    build: Builder  # (session, services, filters, by) -> its rows
    charts: Charter  # (rows report, its rows in display order, their keys) -> its charts
    definition: str = ""  # how its figures are worked out, stated on its page

    def charts_for(self, report: ReportRows) -> list[Chart]:
        """The charts the report reads best as (none for an empty report)."""
        rows = report.rows
        if not rows:
            return []
        if report.by == "stage":  # in the order engagements go through them
            rows = sorted(rows, key=lambda r: STAGES.index(r["key"]) if r["key"] in STAGES else len(STAGES))
        return self.charts(report, rows, [str(r["key"]) for r in rows])


def chart(
    chart_id: str, title: str, labels: list[str], datasets: list[dict[str, Any]], **options: Any
) -> Chart:
    """A chart for charts.js: bars per label, one series per dataset (see the script's header)."""
    return {"id": chart_id, "title": title, "labels": labels, "datasets": datasets, **options}


def series(label: str, data: list[Any], colour: str | list[str]) -> dict[str, Any]:
    """One series of a chart, in one colour or a colour per bar."""
    return {"label": label, "data": data, "color": colour}


def highlighted(keys: list[str], report: ReportRows, normal: str, stressed: str = RED) -> list[str]:
    """A colour per bar: `stressed` for the report's highlights, `normal` for the rest."""
    return [stressed if k in report.highlights else normal for k in keys]


def pct(value: float | None) -> str:
    """A share as a percentage for a note (``-`` when unknown)."""
    return "-" if value is None else f"{value:.0%}"


def ratio(value: float | None) -> float | None:
    """A share rounded for the rows (None stays None)."""
    return None if value is None else round(value, 4)


def columns(rows: Sequence[Row]) -> list[str]:
    """Every column the rows use, in the order they first appear."""
    names: list[str] = []
    for row in rows:
        names += [k for k in row if k not in names]
    return names


def to_csv(rows: Sequence[Row], zone: ZoneInfo | None = None) -> str:
    """The rows as CSV with a header line (missing values as empty cells).

    Times are ISO 8601 with the offset of `zone` (the reader's; UTC when None), so a spreadsheet
    reads the same instant whoever exported it.
    """
    where = zone or ZoneInfo("UTC")
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns(rows), lineterminator="\n")
    writer.writeheader()
    writer.writerows(
        {k: zones.iso(v, where) if isinstance(v, datetime) else v for k, v in row.items()} for row in rows
    )
    return buffer.getvalue()
