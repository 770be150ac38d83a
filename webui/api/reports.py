"""Reports: process review and agency economics as JSON, or CSV (``?format=csv`` or
``Accept: text/csv``), for leadership, ops leads and admins.

The rows are built by each report's descriptor (`workflows.reports`), the same the ``baton report``
command prints.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from flask import Response, request
from flask_smorest import Blueprint
from marshmallow import Schema, ValidationError, fields, validate, validates_schema
from sqlalchemy.orm import Session
from werkzeug.exceptions import NotFound

from workflows.reports.compare import VersionComparison, compare_versions
from workflows.reports.eventlog import MEDIA_TYPES, export_event_log
from workflows.reports.filters import UnknownFilterError
from workflows.reports.heatmap import MEASURES, Heatmap, heatmap
from workflows.reports.process import ReportFilter
from workflows.reports.registry import GROUPINGS, REPORTS, read_report
from workflows.reports.rows import ReportRows, columns, to_csv
from workflows.services import Services

from ..formatting import reader_zone
from .common import INT_MAX, actor, problems, text, work
from .problems import problem

blp = Blueprint(
    "reports",
    __name__,
    url_prefix="/api/v1/reports",
    description="Process review and agency economics (leadership, ops leads, admins): "
    + ", ".join(REPORTS)
    + "; the heatmap of a process diagram and the comparison of two of its versions.",
)
CSV = "text/csv"
DIMENSIONS = sorted({d for dims in GROUPINGS.values() if dims for d in dims})


def moment(day: date | None) -> datetime | None:
    """Midnight UTC of `day` (None stays None): the periods of the reports start and end on days."""
    return None if day is None else datetime(day.year, day.month, day.day, tzinfo=UTC)


class PeriodFields(Schema):
    """The period and client a report covers, and how it is sent (every report's query)."""

    start = fields.Date(data_key="from", metadata={"description": "first day covered (UTC, included)"})
    end = fields.Date(data_key="to", metadata={"description": "day the period ends (UTC, excluded)"})
    client = text(max_length=200, metadata={"description": "only this client's engagements (any case)"})
    format = fields.String(
        validate=validate.OneOf(["json", "csv"]),
        metadata={"description": "csv: the rows as CSV (so does 'Accept: text/csv')"},
    )

    @validates_schema
    def _period(self, data: dict[str, Any], **_: Any) -> None:
        start, end = data.get("start"), data.get("end")
        if start is not None and end is not None and end <= start:
            raise ValidationError("'from' must be before 'to'", "to")


class ReportQuery(PeriodFields):
    """What a report covers, how it groups, and how it is sent."""

    definition = text(max_length=200, metadata={"description": "only engagements of this process id"})
    version_id = fields.Integer(
        validate=validate.Range(0, INT_MAX),
        metadata={"description": "only engagements on this deployed definition version (its id)"},
    )
    by = fields.String(
        validate=validate.OneOf(DIMENSIONS),
        metadata={
            "description": "group by (time, sla: stage, lane, person; cost: lane, engagement, client, "
            "stage; budget: engagement, client; growth: client, account_manager)"
        },
    )


def report_filter(query: dict[str, Any]) -> ReportFilter:
    """The service layer's filter for loaded `ReportQuery` arguments."""
    return ReportFilter(
        moment(query.get("start")),
        moment(query.get("end")),
        query.get("definition"),
        query.get("client"),
        query.get("version_id"),
    )


class ReportSchema(Schema):
    """A report's rows and what sums them up."""

    report = fields.String(required=True, metadata={"description": "its name"})
    by = fields.String(allow_none=True, metadata={"description": "the dimension grouped by"})
    title = fields.String(required=True)
    note = fields.String(required=True, metadata={"description": "the line that sums it up"})
    highlights = fields.List(
        fields.String(),
        required=True,
        metadata={"description": "keys to stress: the bottleneck, breached, over budget, overloaded"},
    )
    columns = fields.List(fields.String(), required=True)
    rows = fields.List(
        fields.Dict(keys=fields.String()),
        required=True,
        metadata={"description": "one object per line, 'key' first; the columns depend on the report"},
    )


class ReportInfoSchema(Schema):
    """A report that can be asked for."""

    name = fields.String(required=True)
    dimensions = fields.List(fields.String(), required=True, metadata={"description": "first: default"})
    url = fields.String(required=True)


class ReportListSchema(Schema):
    """Every report."""

    items = fields.List(fields.Nested(ReportInfoSchema), required=True)


def report_body(report: ReportRows) -> dict[str, Any]:
    """A report as `ReportSchema` dumps it."""
    return {
        "report": report.name,
        "by": report.by,
        "title": report.title,
        "note": report.note,
        "highlights": report.highlights,
        "columns": columns(report.rows),
        "rows": report.rows,
    }


def wants_csv(query: dict[str, Any]) -> bool:
    """CSV when the query says so, or the client prefers it to JSON."""
    if "format" in query:
        return bool(query["format"] == "csv")
    best = request.accept_mimetypes.best_match(["application/json", CSV])
    return best == CSV and request.accept_mimetypes[CSV] > request.accept_mimetypes["application/json"]


def csv_response(report: ReportRows) -> Response:
    """The rows as a CSV download named after the report."""
    return rows_csv(report.rows, report.title.replace(" ", "-"))


@blp.get("")
@blp.response(200, ReportListSchema)
@problems(blp)
def index() -> Any:
    """The reports, the dimensions each groups by, and where to get them."""
    return {
        "items": [
            {"name": name, "dimensions": list(GROUPINGS[name] or ()), "url": f"{blp.url_prefix}/{name}"}
            for name in REPORTS
        ]
    }


CSV_BODY = {"schema": {"type": "string"}, "example": "key,completed,total_hours\nqc,2,6.0\n"}


@blp.get("/<name>")
@blp.arguments(ReportQuery, location="query", as_kwargs=True)
@blp.response(200, ReportSchema)
@blp.doc(
    responses={"200": {"content": {"application/json": {"schema": ReportSchema}, CSV: CSV_BODY}}},
    description=f"name: {', '.join(REPORTS)}. JSON by default; CSV with ?format=csv or Accept: text/csv.",
)
@problems(blp, 403, 404, 422)
def report(name: str, **query: Any) -> Any:
    """One report (leadership, ops leads, admins): time, sla, rework, cost, throughput, handoff,
    budget, growth or workload.
    """
    if name not in REPORTS:
        raise NotFound(f"no report '{name}': there are {', '.join(REPORTS)}")
    try:
        with work() as (session, services):
            rows = read_report(session, services, name, report_filter(query), query.get("by"), actor=actor())
    except UnknownFilterError as exc:
        return unknown_filter(exc)
    return csv_response(rows) if wants_csv(query) else report_body(rows)


def unknown_filter(exc: UnknownFilterError) -> Response:
    """A 422 problem naming the filter that names nothing."""
    errors = [{"pointer": f"/{exc.field}", "location": "query", "detail": str(exc)}]
    return problem(422, str(exc), kind="invalid", errors=errors)


# -- the heatmap and the version comparison ------------------------------------------------------


class PeriodQuery(PeriodFields):
    """The process, period and client a heatmap or a comparison covers, and how it is sent."""

    process = text(
        max_length=200, blank=False, load_default="engagement", metadata={"description": "the process id"}
    )


def period_filter(query: dict[str, Any]) -> ReportFilter:
    """The period and client of loaded `PeriodQuery` arguments (the definition is set later)."""
    return ReportFilter(moment(query.get("start")), moment(query.get("end")), client=query.get("client"))


class HeatmapQuery(PeriodQuery):
    """Which version's diagram, coloured by what."""

    version = fields.String(
        validate=validate.Regexp(r"^(all|[1-9][0-9]{0,8})$", error="a version number, or 'all'"),
        metadata={"description": "a version number (default: the latest), or 'all': every version"},
    )
    measure = fields.String(
        load_default="duration",
        validate=validate.OneOf(MEASURES),
        metadata={"description": "duration: mean business hours; breach: share of deadlines missed"},
    )


class BucketSchema(Schema):
    """One colour of the heatmap's scale."""

    index = fields.Integer(required=True)
    low = fields.Float(required=True)
    high = fields.Float(required=True)
    colour = fields.String(required=True, metadata={"description": "CSS colour, cool to hot"})
    label = fields.String(required=True)


class HeatmapSchema(Schema):
    """Figures per BPMN element and the colour bucket of each."""

    process_id = fields.String(required=True)
    version = fields.Integer(allow_none=True, metadata={"description": "null: every version"})
    diagram_version = fields.Integer(required=True, metadata={"description": "the version drawn"})
    diagram_url = fields.String(required=True, metadata={"description": "its BPMN document"})
    measure = fields.String(required=True)
    hottest = fields.String(allow_none=True, metadata={"description": "the element in the top bucket"})
    scale = fields.List(fields.Nested(BucketSchema), required=True)
    columns = fields.List(fields.String(), required=True)
    rows = fields.List(
        fields.Dict(keys=fields.String()),
        required=True,
        metadata={
            "description": "one per element: key (BPMN id), name, completed, mean_hours, "
            "median_hours, total_hours, breached, judged, breach_rate, open_tasks, bucket"
        },
    )


def heatmap_body(heat: Heatmap) -> dict[str, Any]:
    """A heatmap as `HeatmapSchema` dumps it."""
    return {
        "process_id": heat.process_id,
        "version": heat.version,
        "diagram_version": heat.diagram_version,
        "diagram_url": f"/definitions/{heat.process_id}/versions/{heat.diagram_version}.bpmn",
        "measure": heat.measure,
        "hottest": heat.hottest,
        "scale": [vars(b) for b in heat.scale],
        "columns": columns(heat.rows),
        "rows": heat.rows,
    }


def read_heatmap(session: Session, services: Services, query: dict[str, Any], who: str) -> Heatmap:
    """The heatmap loaded `HeatmapQuery` arguments ask for, for `who` (the API and the page)."""
    version = query.get("version")
    return heatmap(
        session,
        services,
        query["process"],
        None if version in (None, "all") else int(version),
        measure=query["measure"],
        every_version=version == "all",
        filters=period_filter(query),
        actor=who,
    )


def rows_csv(rows: list[dict[str, Any]], name: str) -> Response:
    """Rows as a CSV download."""
    return Response(
        to_csv(rows, reader_zone()),
        mimetype=CSV,
        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
    )


@blp.get("/heatmap")
@blp.arguments(HeatmapQuery, location="query", as_kwargs=True)
@blp.response(200, HeatmapSchema)
@blp.doc(responses={"200": {"content": {"application/json": {"schema": HeatmapSchema}, CSV: CSV_BODY}}})
@problems(blp, 403, 404, 422)
def heatmap_report(**query: Any) -> Any:
    """The bottleneck heatmap of a process diagram (leadership, ops leads, admins): per task,
    completed count, mean and median business hours, breach rate, open count, and its colour.
    """
    try:
        with work() as (session, services):
            heat = read_heatmap(session, services, query, actor())
    except UnknownFilterError as exc:
        return unknown_filter(exc)
    if wants_csv(query):
        return rows_csv(heat.rows, f"heatmap-{heat.process_id}-v{heat.version or 'all'}-{heat.measure}")
    return heatmap_body(heat)


class CompareQuery(PeriodQuery):
    """Which two versions."""

    a = fields.Integer(
        validate=validate.Range(1, INT_MAX),
        metadata={"description": "before (default: the one before the latest)"},
    )
    b = fields.Integer(
        validate=validate.Range(1, INT_MAX), metadata={"description": "after (default: the latest)"}
    )


class CompareSchema(Schema):
    """Two versions' figures side by side."""

    process_id = fields.String(required=True)
    a = fields.Integer(required=True)
    b = fields.Integer(required=True)
    notes = fields.List(
        fields.String(), required=True, metadata={"description": "each version's deploy note"}
    )
    columns = fields.List(fields.String(), required=True)
    rows = fields.List(
        fields.Dict(keys=fields.String()),
        required=True,
        metadata={
            "description": "section, key, measure, unit, a, b, delta (b - a), change (better, worse, same, -)"
        },
    )


def read_comparison(
    session: Session, services: Services, query: dict[str, Any], who: str
) -> VersionComparison:
    """The comparison loaded `CompareQuery` arguments ask for, for `who` (the API and the page)."""
    return compare_versions(
        session,
        services,
        query["process"],
        query.get("a"),
        query.get("b"),
        filters=period_filter(query),
        actor=who,
    )


def comparison_body(result: VersionComparison) -> dict[str, Any]:
    """A comparison as `CompareSchema` dumps it."""
    return {
        "process_id": result.process_id,
        "a": result.a,
        "b": result.b,
        "notes": list(result.notes),
        "columns": columns(result.rows),
        "rows": result.rows,
    }


@blp.get("/compare")
@blp.arguments(CompareQuery, location="query", as_kwargs=True)
@blp.response(200, CompareSchema)
@blp.doc(responses={"200": {"content": {"application/json": {"schema": CompareSchema}, CSV: CSV_BODY}}})
@problems(blp, 403, 404, 422)
def compare(**query: Any) -> Any:
    """Two versions of a process side by side (leadership, ops leads, admins): time per stage,
    SLA compliance, rework rounds, cost per engagement, time per task, and the change.
    """
    try:
        with work() as (session, services):
            result = read_comparison(session, services, query, actor())
    except UnknownFilterError as exc:
        return unknown_filter(exc)
    if wants_csv(query):
        return rows_csv(result.rows, f"compare-{result.process_id}-v{result.a}-v{result.b}")
    return comparison_body(result)


# -- the event log for process-mining tools --------------------------------------------------------


class ExportQuery(Schema):
    """Which engagements' events and which period (events at) an export covers."""

    start = fields.Date(data_key="from", metadata={"description": "first day covered (UTC, included)"})
    end = fields.Date(data_key="to", metadata={"description": "day the period ends (UTC, excluded)"})
    client = text(max_length=200, metadata={"description": "only this client's engagements (any case)"})
    definition = text(max_length=200, metadata={"description": "only engagements of this process id"})
    version_id = fields.Integer(
        validate=validate.Range(0, INT_MAX),
        metadata={"description": "only engagements on this deployed definition version (its id)"},
    )


def _export(fmt: str, query: dict[str, Any], filename: str) -> Response:
    try:
        with work() as (_session, services):
            chunks = export_event_log(services, fmt, report_filter(query), actor=actor())
    except UnknownFilterError as exc:
        return unknown_filter(exc)
    return Response(
        chunks,  # a generator: the body is streamed as the rows are read
        mimetype=MEDIA_TYPES[fmt],
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


STREAMED = {"schema": {"type": "string", "format": "binary"}}


@blp.get("/export.xes")
@blp.arguments(ExportQuery, location="query", as_kwargs=True)
@blp.doc(responses={"200": {"description": "the event log", "content": {"application/xml": STREAMED}}})
@problems(blp, 403, 422)
def export_xes(**query: Any) -> Any:
    """The event log as XES (IEEE 1849-2016), streamed (leadership, ops leads, admins): a trace per
    engagement, an event per step event with its lifecycle transition, resource and timestamp.
    """
    return _export("xes", query, "baton-events.xes")


@blp.get("/export.ocel.json")
@blp.arguments(ExportQuery, location="query", as_kwargs=True)
@blp.doc(responses={"200": {"description": "the event log", "content": {"application/json": STREAMED}}})
@problems(blp, 403, 422)
def export_ocel(**query: Any) -> Any:
    """The event log as OCEL 2.0 JSON, streamed (leadership, ops leads, admins): engagements and
    clients as objects, each step event linked to its engagement and client.
    """
    return _export("ocel", query, "baton-events.ocel.json")
