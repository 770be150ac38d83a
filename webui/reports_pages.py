"""Report pages: the overview, one page per report with its chart and table, and the one-page
process review of an engagement (printable).

Server-rendered; each chart's data is embedded as JSON that ``static/js/charts.js`` hands to
Chart.js (vendored by ``npm run vendor``). Who may look: leadership, ops leads and admins --
checked by the service layer (`workflows.reports.registry.read_report`, `engagement_review`).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, abort, render_template, request, url_for
from marshmallow import ValidationError

from engine.errors import NotFoundError
from workflows.agency import AM_LANE, PM_LANE, STAGE_LABELS
from workflows.reports.compare import SECTIONS
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
from workflows.views.diagrams import VersionSummary, list_versions
from workflows.views.timeline import engagement_timeline

from .api.reports import CompareQuery, HeatmapQuery, ReportQuery, read_comparison, read_heatmap, report_filter
from .auth import current_user
from .services import get_services

bp = Blueprint("reports_pages", __name__)

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


@bp.get("/reports")
def overview() -> tuple[str, int]:
    """The reports at a glance: time per stage, SLA, cost per lane, budget burn; links to all."""
    filters, _query, errors = _filters()
    shown = [("time", "stage"), ("sla", "lane"), ("cost", "lane"), ("budget", "engagement")]
    reports = {name: _read(name, filters, by) for name, by in shown}
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
        ),
        400 if errors else 200,
    )


@bp.get("/reports/<name>")
def report(name: str) -> tuple[str, int]:
    """One report: filters, its chart, its table, a CSV download."""
    if name not in REPORTS:
        abort(404)
    filters, query, errors = _filters()
    rows = _read(name, filters, None if errors else query.get("by"))
    args = dict(request.args)
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
            titles=TITLES,
            names=REPORTS,
            args=args,
            csv_url=csv_url,
            errors=errors,
            groupings=GROUPINGS[name],
        ),
        400 if errors else 200,
    )


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
        heat = read_heatmap(session, svc, query, current_user().username)
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
        400 if errors else 200,
    )


@bp.get("/reports/compare")
def compare_page() -> tuple[str, int]:
    """Two versions of a process side by side: figures with the change, and both heatmaps."""
    query, errors = _load(CompareQuery(), COMPARE_KEYS)
    processes = _processes()
    svc = get_services()
    with svc.db.unit_of_work(write=False) as session:
        result = read_comparison(session, svc, query, current_user().username)
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
        400 if errors else 200,
    )
