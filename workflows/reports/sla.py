"""SLA compliance as a report: tasks finished on time, open ones at risk or breached."""

from __future__ import annotations

from sqlalchemy.orm import Session

from workflows.reports.process import DIMENSIONS, ReportFilter, sla_report
from workflows.reports.rows import (
    AMBER,
    PM,
    RED,
    Chart,
    ReportDescriptor,
    ReportRows,
    Row,
    chart,
    ratio,
    series,
)
from workflows.services import Services


def _sla(session: Session, services: Services, filters: ReportFilter, by: str) -> ReportRows:
    rows: list[Row] = [
        {
            "key": r.key,
            "completed": r.completed,
            "on_time": r.on_time,
            "judged": r.judged,
            "compliance": ratio(r.compliance),
            "open_at_risk": r.open_at_risk,
            "open_breached": r.open_breached,
        }
        for r in sla_report(session, filters, by=by)
    ]
    return ReportRows("sla", by, rows, "", [r["key"] for r in rows if r["open_breached"]])


def _sla_charts(report: ReportRows, rows: list[Row], keys: list[str]) -> list[Chart]:
    done = [r for r in rows if r["compliance"] is not None]
    colours = [RED if r["compliance"] < 0.8 else AMBER if r["compliance"] < 1 else PM for r in done]
    charts = [
        chart(
            "sla",
            f"Deadlines kept per {report.by} (open and past due counts as missed)",
            [str(r["key"]) for r in done],
            [series("on time", [round(r["compliance"] * 100, 1) for r in done], colours)],
            percent=True,
        )
    ]
    if any(r["open_at_risk"] or r["open_breached"] for r in rows):  # else an empty chart
        charts.append(
            chart(
                "sla-open",
                "Open tasks at risk and breached",
                keys,
                [
                    series("at risk", [r["open_at_risk"] for r in rows], AMBER),
                    series("breached", [r["open_breached"] for r in rows], RED),
                ],
                stacked=True,
                integer=True,
            )
        )
    return charts


SLA_REPORT = ReportDescriptor(
    name="sla",
    title="SLA compliance",
    blurb="Share of deadlines kept, counting open overdue steps as missed, and open tasks at risk.",
    order=20,
    groupings=DIMENSIONS,
    build=_sla,
    charts=_sla_charts,
    definition="Compliance = tasks completed by their deadline / (tasks completed with a deadline + open "
    "tasks already past theirs): a step still open and overdue is a missed deadline now, not a pending one. "
    "A deadline paused while the client had the step moved on by the time paused.",
)


DESCRIPTORS = (SLA_REPORT,)
