"""Reports: process review and agency economics as JSON, or CSV (``?format=csv`` or
``Accept: text/csv``), for leadership, ops leads and admins.

The rows are `workflows.report_rows`'s, the same the ``baton report`` command prints.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from flask import Response, request
from flask_smorest import Blueprint
from marshmallow import Schema, ValidationError, fields, validate, validates_schema
from werkzeug.exceptions import NotFound

from workflows.report_rows import GROUPINGS, REPORTS, ReportRows, columns, read_report, to_csv
from workflows.reports import ReportFilter

from .common import INT_MAX, actor, problems, text, work

blp = Blueprint(
    "reports",
    __name__,
    url_prefix="/api/v1/reports",
    description="Process review and agency economics (leadership, ops leads, admins): "
    + ", ".join(REPORTS)
    + ".",
)
CSV = "text/csv"
DIMENSIONS = sorted({d for dims in GROUPINGS.values() if dims for d in dims})


def moment(day: date | None) -> datetime | None:
    """Midnight UTC of `day` (None stays None): the periods of the reports start and end on days."""
    return None if day is None else datetime(day.year, day.month, day.day, tzinfo=UTC)


class ReportQuery(Schema):
    """What a report covers, how it groups, and how it is sent."""

    start = fields.Date(data_key="from", metadata={"description": "first day covered (UTC, included)"})
    end = fields.Date(data_key="to", metadata={"description": "day the period ends (UTC, excluded)"})
    definition = text(max_length=200, metadata={"description": "only engagements of this process id"})
    client = text(max_length=200, metadata={"description": "only this client's engagements (exact name)"})
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
    format = fields.String(
        validate=validate.OneOf(["json", "csv"]),
        metadata={"description": "csv: the rows as CSV (so does 'Accept: text/csv')"},
    )

    @validates_schema
    def _period(self, data: dict[str, Any], **_: Any) -> None:
        start, end = data.get("start"), data.get("end")
        if start is not None and end is not None and end <= start:
            raise ValidationError("'from' must be before 'to'", "to")


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
    name = report.title.replace(" ", "-")
    return Response(
        to_csv(report.rows),
        mimetype=CSV,
        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
    )


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
    with work() as (session, services):
        rows = read_report(session, services, name, report_filter(query), query.get("by"), actor=actor())
    return csv_response(rows) if wants_csv(query) else report_body(rows)
