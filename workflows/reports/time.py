"""Time per stage, lane, task or person as a report: its rows and its chart."""

from __future__ import annotations

from sqlalchemy.orm import Session

from workflows.reports.process import DIMENSIONS, ReportFilter, time_report
from workflows.reports.rows import (
    AM,
    CLIENT,
    Chart,
    ReportDescriptor,
    ReportRows,
    Row,
    chart,
    highlighted,
    series,
)
from workflows.services import Services


def _time(session: Session, services: Services, filters: ReportFilter, by: str) -> ReportRows:
    report = time_report(session, filters, by=by)
    rows = [
        {
            "key": r.key,
            "completed": r.completed,
            "total_hours": round(r.total_hours, 2),
            "median_hours": round(r.median_hours, 2),
            "p90_hours": round(r.p90_hours, 2),
            "agency_hours": round(r.agency_hours, 2),
            "client_hours": round(r.client_hours, 2),
            "open_tasks": r.open_tasks,
            "share": round(r.share, 4),
        }
        for r in report.rows
    ]
    note = f"bottleneck: {report.bottleneck or '-'}; longest queue: {report.longest_queue or '-'}"
    return ReportRows("time", by, rows, note, [report.bottleneck] if report.bottleneck else [])


def _time_charts(report: ReportRows, rows: list[Row], keys: list[str]) -> list[Chart]:
    labels = [f"{k} (bottleneck)" if k in report.highlights else k for k in keys]
    return [
        chart(
            "time",
            f"Business hours per {report.by}: agency and client",
            labels,
            [
                series(
                    "agency hours", [r["agency_hours"] for r in rows], highlighted(keys, report, AM)
                ),
                series("client hours", [r["client_hours"] for r in rows], CLIENT),
            ],
            stacked=True,
            unit="h",
        )
    ]


TIME_REPORT = ReportDescriptor(
    name="time",
    title="Time per stage",
    blurb="Business hours from ready to done, the agency's and the client's, and the bottleneck.",
    order=10,
    groupings=DIMENSIONS,
    build=_time,
    charts=_time_charts,
)


DESCRIPTORS = (TIME_REPORT,)
