"""Report pages: the overview, one page per report with its chart and table, and the one-page
process review of an engagement (printable).

Server-rendered; each chart's data is embedded as JSON that ``static/js/charts.js`` hands to
Chart.js (vendored by ``npm run vendor``). Who may look: leadership, ops leads and admins --
checked by the service layer (`workflows.reports.registry.read_report`, `engagement_review`).
"""

from __future__ import annotations

from datetime import date
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Response, abort, render_template, request, url_for
from marshmallow import ValidationError
from weasyprint import HTML

from engine.errors import NotFoundError
from workflows.agency import AM_LANE, PM_LANE, STAGE_LABELS
from workflows.reports.compare import SECTIONS
from workflows.reports.filters import FilterChoices, UnknownFilterError, filter_choices
from workflows.reports.heatmap import MEASURE_LABELS, MEASURES, Heatmap
from workflows.reports.process import ReportFilter
from workflows.reports.registry import DESCRIPTORS, GROUPINGS, REPORTS, descriptor, read_report
from workflows.reports.review import engagement_review
from workflows.reports.rows import (
    AM,
    CLIENT,
    GREY,
    LANE_COLOURS,
    RED,
    ReportRows,
    chart,
    columns,
    series,
)
from workflows.reports.servicing import ServicingLine, servicing_statement
from workflows.reports.steps import step_names
from workflows.views.diagrams import VersionSummary, list_versions
from workflows.views.timeline import engagement_timeline

from . import report_format as fmt
from .api.reports import CompareQuery, HeatmapQuery, ReportQuery, read_comparison, read_heatmap, report_filter
from .auth import current_user
from .services import get_services

bp = Blueprint("reports_pages", __name__)


def _locale() -> str:
    return fmt.agency_locale(get_services().definitions_dir)


@bp.app_template_filter("money")
def money_filter(value: Any, currency: str = "GBP") -> str:
    """Money in the agency's locale: ``£1,234.50``."""
    return fmt.money(value, currency, _locale())


@bp.app_template_filter("num")
def number_filter(value: Any, places: int | None = None) -> str:
    """A number in the agency's locale: ``12,345``."""
    return fmt.number(value, _locale(), places)


@bp.app_template_filter("dec")
def decimal_filter(value: Any) -> str:
    """A number to one decimal place: ``12.5``."""
    return fmt.number(value, _locale(), 1)


@bp.app_template_filter("pct")
def percent_filter(value: Any) -> str:
    """A share 0-1 as a percentage in the agency's locale: ``23.5%``."""
    return fmt.percent(value, _locale())


@bp.app_template_filter("day")
def day_filter(value: Any) -> str:
    """A date in the agency's locale: ``3 Dec 2026``."""
    return fmt.day(value, _locale())


@bp.app_template_global("report_cell")
def report_cell(row: dict[str, Any], column: str) -> str:
    """A report table's cell, formatted for its column."""
    return fmt.cell(row, column, _locale())


@bp.app_template_global("sort_value")
def sort_value(row: dict[str, Any], column: str) -> str:
    """The raw value a report table sorts a cell by."""
    return fmt.sort_key(row.get(column))


TITLES = {name: d.title for name, d in DESCRIPTORS.items()}
BLURBS = {name: d.blurb for name, d in DESCRIPTORS.items()}
DEFINITIONS = {name: d.definition for name, d in DESCRIPTORS.items()}
FILTER_KEYS = ("from", "to", "definition", "client", "version_id", "by")


def charts_for(report: ReportRows) -> list[dict[str, Any]]:
    """The charts a report reads best as (its descriptor's; none for an empty report)."""
    return descriptor(report.name).charts_for(report)


def lane_split(report: ReportRows) -> dict[str, Any] | None:
    """Client servicing (AM) against delivery (PM) cost, from a cost report by lane."""
    if report.name != "cost" or report.by != "lane" or not report.rows:
        return None
    cost = {str(r["key"]): float(r["cost"]) for r in report.rows}
    total = sum(cost.values())
    am, pm = cost.get(AM_LANE, 0.0), cost.get(PM_LANE, 0.0)
    return {
        "servicing": am,
        "delivery": pm,
        "total": total,
        "servicing_share": am / total if total else None,
        "currency": report.rows[0]["currency"],
    }


def _filters() -> tuple[ReportFilter, dict[str, Any], dict[str, Any]]:
    """The filters of the query string: the service layer's, the loaded form, and the errors."""
    raw = {k: v for k, v in request.args.items() if k in FILTER_KEYS and v != ""}
    try:
        query = ReportQuery().load(raw)
    except ValidationError as exc:
        return ReportFilter(), {}, dict(exc.normalized_messages())
    return report_filter(query), query, {}


def _query_string(args: dict[str, str], **extra: str) -> dict[str, str]:
    return {**{k: v for k, v in args.items() if k in FILTER_KEYS and v}, **extra}


def _read(name: str, filters: ReportFilter, by: str | None = None) -> ReportRows:
    svc = get_services()
    with svc.db.unit_of_work(write=False) as session:
        return read_report(session, svc, name, filters, by, actor=current_user().username)


def _read_or_refuse(
    names: list[tuple[str, str | None]], filters: ReportFilter, errors: dict[str, Any]
) -> tuple[dict[str, ReportRows], dict[str, Any]]:
    """The reports asked for; a filter naming nothing empties them and says which (422)."""
    if errors:
        filters = ReportFilter()
    try:
        return {name: _read(name, filters, by) for name, by in names}, errors
    except UnknownFilterError as exc:
        empty = {name: ReportRows(name, by if by else None, []) for name, by in names}
        return empty, {**errors, exc.field: [str(exc)]}


def _choices() -> FilterChoices:
    svc = get_services()
    with svc.db.unit_of_work(write=False) as session:
        return filter_choices(session)


@bp.get("/reports")
def overview() -> tuple[str, int]:
    """The reports at a glance: time per stage, SLA, cost per lane, budget burn; links to all."""
    filters, _query, errors = _filters()
    shown: list[tuple[str, str | None]] = [
        ("time", "stage"),
        ("sla", "lane"),
        ("cost", "lane"),
        ("budget", "engagement"),
    ]
    reports, errors = _read_or_refuse(shown, filters, errors)
    charts = [c for name, _by in shown for c in charts_for(reports[name])[:1]]
    args = dict(request.args)
    return (
        render_template(
            "reports.html",
            reports=reports,
            charts=charts,
            split=lane_split(reports["cost"]),
            names=REPORTS,
            titles=TITLES,
            blurbs=BLURBS,
            args=args,
            link_args=_query_string({k: v for k, v in args.items() if k != "by"}),
            # the heatmap and the comparison take the period and client, and the process as `process`
            heat_args={
                **{k: v for k, v in args.items() if k in ("from", "to", "client") and v},
                **({"process": args["definition"]} if args.get("definition") else {}),
            },
            errors=errors,
            groupings=None,
            choices=_choices(),
        ),
        _status(errors),
    )


@bp.get("/reports/<name>")
def report(name: str) -> tuple[str, int]:
    """One report: filters, its chart, its table, a CSV download."""
    if name not in REPORTS:
        abort(404)
    filters, query, errors = _filters()
    found, errors = _read_or_refuse([(name, None if errors else query.get("by"))], filters, errors)
    rows = found[name]
    args = dict(request.args)
    svc = get_services()
    with svc.db.unit_of_work(write=False) as session:
        names = step_names(session) if rows.by == "task" else {}
    csv_url = f"{url_for('reports.report', name=name)}?{urlencode(_query_string(args, format='csv'))}"
    return (
        render_template(
            "reports_report.html",
            name=name,
            report=rows,
            columns=columns(rows.rows),
            charts=charts_for(rows),
            split=lane_split(rows),
            title=TITLES[name],
            blurb=BLURBS[name],
            definition=DEFINITIONS[name],
            step_names=names,
            titles=TITLES,
            names=REPORTS,
            args=args,
            csv_url=csv_url,
            errors=errors,
            groupings=GROUPINGS[name],
            choices=_choices(),
        ),
        _status(errors),
    )


def _status(errors: dict[str, Any]) -> int:
    """422 when a filter names nothing the store has, 400 for a malformed one, else 200."""
    if not errors:
        return 200
    return 422 if set(errors) & {"definition", "version_id", "client"} else 400


@bp.get("/engagements/<int:engagement_id>/review")
def review(engagement_id: int) -> str:
    """The one-page process review of an engagement: time per stage, decisions, SLA, cost."""
    svc = get_services()
    try:
        with svc.db.unit_of_work(write=False) as session:
            data = engagement_review(session, svc, engagement_id, actor=current_user().username)
            timeline = engagement_timeline(session, svc, engagement_id)
    except NotFoundError:
        abort(404)
    stages = data.stages
    labels = [STAGE_LABELS.get(s.stage, s.stage) for s in stages]
    charts = [
        chart(
            "review-time",
            "Business hours per stage",
            labels,
            [
                series(
                    "agency hours",
                    [round(s.agency_hours, 2) for s in stages],
                    [RED if s.stage == data.bottleneck else AM for s in stages],
                ),
                series("client hours", [round(s.client_hours, 2) for s in stages], CLIENT),
            ],
            stacked=True,
            unit="h",
        )
    ]
    if data.costs:
        charts.append(
            chart(
                "review-cost",
                f"Effort cost per lane ({data.currency})",
                [c.lane for c in data.costs],
                [
                    series(
                        "cost",
                        [c.cost for c in data.costs],
                        [LANE_COLOURS.get(c.lane, GREY) for c in data.costs],
                    )
                ],
            )
        )
    return render_template(
        "engagement_review.html", review=data, charts=charts, timeline=timeline, stage_labels=STAGE_LABELS
    )


# -- the heatmap and the version comparison ------------------------------------------------------

HEAT_KEYS = ("process", "version", "measure", "from", "to", "client")
COMPARE_KEYS = ("process", "a", "b", "from", "to", "client")


def _load(schema: Any, keys: tuple[str, ...]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The query string's arguments loaded by `schema` (the defaults when they do not load), and
    the errors.
    """
    raw = {k: v for k, v in request.args.items() if k in keys and v != ""}
    try:
        return schema.load(raw), {}
    except ValidationError as exc:
        return schema.load({}), dict(exc.normalized_messages())


def _processes() -> dict[str, list[VersionSummary]]:
    """Every deployed process with its versions, newest first."""
    svc = get_services()
    with svc.db.unit_of_work(write=False) as session:
        versions = list_versions(session)
    processes: dict[str, list[VersionSummary]] = {}
    for v in versions:
        processes.setdefault(v.process_id, []).append(v)
    return processes


def _figure(value: float | None, unit: str) -> str:
    """A figure as the heatmap labels it: hours to one decimal, shares as whole percents."""
    if value is None:
        return "-"
    return f"{value:.0%}" if unit == "%" else f"{value:.1f} h"


def heat_data(heat: Heatmap) -> dict[str, Any]:
    """What static/js/heatmap.js needs to colour and label a diagram."""
    unit = "%" if heat.measure == "breach" else "h"
    colours = {b.index: b.colour for b in heat.scale}
    elements = []
    for e in heat.elements:
        f = e.figures
        client = heat.measure == "duration" and f.waits_on_client
        label = _figure(e.value, unit) if e.bucket is not None else "no data"
        elements.append(
            {
                "id": f.bpmn_id,
                "bucket": e.bucket,
                "client": client,
                "colour": None if e.bucket is None else colours[e.bucket],
                "label": f"client {_figure(e.value, unit)}" if client else label,
                "title": (
                    f"{f.name}: {f.completed} done, mean {_figure(f.mean_hours, 'h')}, median "
                    f"{_figure(f.median_hours if f.completed else None, 'h')}; "
                    f"{f.breached} of {f.judged} late ({_figure(f.breach_rate, '%')}); {f.open_tasks} open"
                ),
            }
        )
    return {"measure": heat.measure, "hottest": heat.hottest, "elements": elements}


@bp.get("/reports/heatmap")
def heatmap_page() -> tuple[str, int]:
    """The bottleneck heatmap: a version's diagram with each task coloured by mean duration or
    breach rate, a legend, and the figures as a table (CSV from the API).
    """
    query, errors = _load(HeatmapQuery(), HEAT_KEYS)
    processes = _processes()
    svc = get_services()
    with svc.db.unit_of_work(write=False) as session:
        try:
            heat = read_heatmap(session, svc, query, current_user().username)
        except UnknownFilterError as exc:  # shown without it, and said so
            errors = {**errors, exc.field: [str(exc)]}
            heat = read_heatmap(session, svc, {**query, "client": None}, current_user().username)
    args = {k: v for k, v in request.args.items() if k in HEAT_KEYS and v}
    csv_url = f"{url_for('reports.heatmap_report')}?{urlencode({**args, 'format': 'csv'})}"
    return (
        render_template(
            "reports/heatmap.html",
            heat=heat,
            data=heat_data(heat),
            processes=processes,
            versions=processes.get(heat.process_id, []),
            args=args,
            query=query,
            measure_links={m: "?" + urlencode({**args, "measure": m}) for m in MEASURES},
            measure_labels=MEASURE_LABELS,
            csv_url=csv_url,
            errors=errors,
        ),
        _status(errors),
    )


@bp.get("/reports/compare")
def compare_page() -> tuple[str, int]:
    """Two versions of a process side by side: figures with the change, and both heatmaps."""
    query, errors = _load(CompareQuery(), COMPARE_KEYS)
    processes = _processes()
    svc = get_services()
    with svc.db.unit_of_work(write=False) as session:
        try:
            result = read_comparison(session, svc, query, current_user().username)
        except UnknownFilterError as exc:
            errors = {**errors, exc.field: [str(exc)]}
            result = read_comparison(session, svc, {**query, "client": None}, current_user().username)
    args = {k: v for k, v in request.args.items() if k in COMPARE_KEYS and v}
    csv_url = f"{url_for('reports.compare')}?{urlencode({**args, 'format': 'csv'})}"
    sections = {s: [r for r in result.rows if r["section"] == s] for s in SECTIONS}
    return (
        render_template(
            "reports/compare.html",
            result=result,
            sections=sections,
            maps=[heat_data(h) for h in result.heatmaps],
            processes=processes,
            versions=processes.get(result.process_id, []),
            args=args,
            csv_url=csv_url,
            errors=errors,
            stage_labels=STAGE_LABELS,
        ),
        _status(errors),
    )


# -- the servicing statement: printable, for the client or internal, and as a PDF -----------------


def _statement(
    engagement: str | None, client: str | None
) -> tuple[list[ServicingLine], str, list[str], list[Any], list[str]]:
    """The lines asked for (one engagement, or a client's), the heading, the errors, and what the
    pickers offer."""
    svc = get_services()
    errors: list[str] = []
    lines: list[ServicingLine] = []
    heading = ""
    with svc.db.unit_of_work(write=False) as session:
        who = current_user().username
        everything = servicing_statement(session, svc, actor=who)
        by_id = {i: line for line in everything for i in line.ids}
        engagements = [(line.ids[0], line.key, line.client) for line in everything]
        clients = sorted({line.client for line in everything}, key=str.lower)
        if engagement:
            if not engagement.isdigit() or int(engagement) not in by_id:
                errors.append(f"no engagement {engagement} with a budget: pick one from the list")
            else:
                lines = servicing_statement(session, svc, engagement_id=int(engagement), actor=who)
                heading = lines[0].client
        elif client:
            match = next((c for c in clients if c.lower() == client.strip().lower()), None)
            if match is None:
                errors.append(f"no client '{client}' with a budgeted engagement: pick one from the list")
            else:
                lines = servicing_statement(session, svc, ReportFilter(client=match), actor=who)
                heading = match
                lines = [_merged(lines, match)] if len(lines) > 1 else lines
    return lines, heading, errors, engagements, clients


def _merged(lines: list[ServicingLine], client: str) -> ServicingLine:
    """A client's engagements as one line, for its statement."""
    total = ServicingLine(client, client, currency=lines[0].currency)
    for line in lines:
        for name in (
            "engagements", "budget", "am_hours", "am_cost", "pm_hours", "pm_cost", "allotted", "check_ins",
            "feedback_rounds", "changes_asked", "change_requests", "change_orders_won", "change_value",
            "qc_caught", "handoffs", "handoff_hours",
        ):  # fmt: skip
            setattr(total, name, getattr(total, name) + getattr(line, name))
        total.ids += line.ids
    return total


def _statement_args() -> tuple[str | None, str | None, bool]:
    audience = request.args.get("audience", "client")
    if audience not in ("client", "internal"):
        abort(422, description="audience is 'client' or 'internal'")
    return request.args.get("engagement") or None, request.args.get("client") or None, audience == "internal"


@bp.get("/reports/servicing/statement")
def statement_page() -> tuple[str, int]:
    """The servicing statement of one engagement or client, for the client (no margins) or
    internal (with them); prints on A4, and downloads as a PDF."""
    engagement, client, internal = _statement_args()
    lines, heading, errors, engagements, clients = _statement(engagement, client)
    query = {k: v for k, v in request.args.items() if k in ("engagement", "client", "audience") and v}
    return (
        render_template(
            "reports/statement.html",
            lines=lines,
            heading=heading,
            internal=internal,
            errors=errors,
            engagements=engagements,
            clients=clients,
            choice={
                "engagement": int(engagement) if engagement and engagement.isdigit() else None,
                "client": client,
            },
            pdf_url=f"{url_for('reports_pages.statement_pdf')}?{urlencode(query)}",
            today=date.today(),
        ),
        422 if errors else 200,
    )


@bp.get("/reports/servicing/statement.pdf")
def statement_pdf() -> Response:
    """The servicing statement as a PDF (WeasyPrint), as the page shows it."""
    engagement, client, internal = _statement_args()
    lines, heading, errors, _engagements, _clients = _statement(engagement, client)
    if errors or not lines:
        abort(422, description="; ".join(errors) or "choose an engagement or a client")
    html = render_template(
        "reports/statement_pdf.html", lines=lines, heading=heading, internal=internal, today=date.today()
    )
    pdf = HTML(string=html).write_pdf()
    name = f"servicing-{'internal' if internal else 'client'}-{heading.lower().replace(' ', '-')}.pdf"
    return Response(
        pdf, mimetype="application/pdf", headers={"Content-Disposition": f'inline; filename="{name}"'}
    )
