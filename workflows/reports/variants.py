"""Where engagements really go: the variants of a process, as a report.

A variant is one distinct path: the sequence of steps a finished engagement completed, in the
order it completed them (from the task projection, so a step done twice -- rework -- appears
twice). Per variant: how many engagements took it and how long they took from start to end in
business time on the agency calendar (median, shortest, longest).
"""

from __future__ import annotations

from collections import defaultdict
from statistics import median

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.models import HumanTask, WorkflowInstance
from workflows.reports.process import ReportFilter, engagement_instances
from workflows.reports.rows import (
    AMBER,
    PM,
    Chart,
    ReportDescriptor,
    ReportRows,
    Row,
    chart,
    pct,
    series,
)
from workflows.reports.steps import step_names
from workflows.services import Services
from workflows.time.calendar import BusinessTimeline

ARROW = " → "


def _variants(session: Session, services: Services, filters: ReportFilter, by: str | None) -> ReportRows:
    finished = select(WorkflowInstance.id, WorkflowInstance.started_at, WorkflowInstance.ended_at).where(
        WorkflowInstance.status == "completed", WorkflowInstance.ended_at.is_not(None)
    )
    instances = engagement_instances(filters)
    if instances is not None:
        finished = finished.where(WorkflowInstance.id.in_(instances))
    if filters.start is not None:  # engagements that finished in the period
        finished = finished.where(WorkflowInstance.ended_at >= filters.start)
    if filters.end is not None:
        finished = finished.where(WorkflowInstance.ended_at < filters.end)
    spans = {i: (s, e) for i, s, e in session.execute(finished) if e is not None}
    paths: dict[int, list[str]] = defaultdict(list)
    if spans:
        steps = (
            select(HumanTask.instance_id, HumanTask.bpmn_id)
            .where(
                HumanTask.state == "completed",
                HumanTask.instance_id.in_(finished.with_only_columns(WorkflowInstance.id)),
            )
            .order_by(HumanTask.instance_id, HumanTask.completed_at, HumanTask.id)
        )
        for instance_id, bpmn_id in session.execute(steps):
            paths[instance_id].append(bpmn_id)
    timeline = BusinessTimeline(services.calendar)
    hours: dict[tuple[str, ...], list[float]] = defaultdict(list)
    for instance_id, (started, ended) in spans.items():
        hours[tuple(paths.get(instance_id, []))].append(timeline.between(started, ended))
    names = step_names(session)
    ranked = sorted(hours.items(), key=lambda item: (-len(item[1]), median(item[1]), item[0]))
    rows: list[Row] = []
    for number, (path, taken) in enumerate(ranked, start=1):
        rows.append(
            {
                "key": f"V{number}",
                "path": ARROW.join(names.get(s, s) for s in path) or "(no steps)",
                "steps": len(path),
                "engagements": len(taken),
                "share": round(len(taken) / len(spans), 4),
                "median_hours": round(median(taken), 2),
                "min_hours": round(min(taken), 2),
                "max_hours": round(max(taken), 2),
            }
        )
    if rows:
        top = rows[0]
        note = (
            f"{len(spans)} finished engagement(s) took {len(rows)} path(s); the most common, "
            f"{top['key']}, {top['engagements']} ({pct(top['share'])}) in a median of "
            f"{top['median_hours']} business hours"
        )
    else:
        note = "no finished engagements yet"
    return ReportRows("variants", None, rows, note, [rows[0]["key"]] if rows else [])


def _variants_charts(report: ReportRows, rows: list[Row], keys: list[str]) -> list[Chart]:
    return [
        chart(
            "variant-count",
            "Engagements per path",
            keys,
            [series("engagements", [r["engagements"] for r in rows], PM)],
            integer=True,
        ),
        chart(
            "variant-hours",
            "Business hours from start to end (median)",
            keys,
            [series("median hours", [r["median_hours"] for r in rows], AMBER)],
        ),
    ]


VARIANTS_REPORT = ReportDescriptor(
    name="variants",
    title="Variants",
    blurb="Where engagements really go: the distinct paths finished engagements took, how many, how long.",
    order=95,
    groupings=None,
    build=_variants,
    charts=_variants_charts,
    definition=(
        "A path is the steps a finished engagement completed, in the order it completed them (a "
        "step reworked appears again). Hours are business hours on the agency calendar from the "
        "engagement's start to its end; median, shortest and longest over the engagements on "
        "that path. The period keeps engagements that finished in it."
    ),
)

DESCRIPTORS = (VARIANTS_REPORT,)
