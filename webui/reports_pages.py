"""Report pages: the overview, one page per report with its chart and table, and the one-page
process review of an engagement (printable).

Server-rendered; each chart's data is embedded as JSON that ``static/js/charts.js`` hands to
Chart.js (vendored by ``npm run vendor``). Who may look: leadership, ops leads and admins --
checked by the service layer (`workflows.report_rows.read_report`, `engagement_review`).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, abort, render_template, request, url_for
from marshmallow import ValidationError

from engine.errors import NotFoundError
from workflows.agency import AM_LANE, PM_LANE, STAGE_LABELS, STAGES
from workflows.report_compare import SECTIONS
from workflows.report_heatmap import MEASURE_LABELS, MEASURES, Heatmap
from workflows.report_review import engagement_review
from workflows.report_rows import GROUPINGS, REPORTS, ReportRows, columns, read_report
from workflows.reports import ReportFilter
from workflows.views.diagrams import VersionSummary, list_versions
from workflows.views.timeline import engagement_timeline

from .api.reports import CompareQuery, HeatmapQuery, ReportQuery, read_comparison, read_heatmap, report_filter
from .auth import current_user
from .services import get_services

bp = Blueprint("reports_pages", __name__)

TITLES = {
    "time": "Time per stage",
    "sla": "SLA compliance",
    "rework": "Rework",
    "cost": "Cost",
    "throughput": "Throughput",
    "handoff": "AM ↔ PM hand-offs",
    "budget": "Budget burn",
    "growth": "Client growth",
    "workload": "Workload",
}
BLURBS = {
    "time": "Business hours from ready to done, the agency's and the client's, and the bottleneck.",
    "sla": "Share of tasks finished by their deadline, and open tasks at risk or breached.",
    "rework": "Decisions per step: changes requested, QC failures, rounds and their cost.",
    "cost": "Logged effort at the rate card: client servicing (AM) against delivery (PM).",
    "throughput": "Engagements started, delivered, lost at pitch and in flight per stage.",
    "handoff": "Time from one lane finishing to the other starting.",
    "budget": "Cost to date against budget, and the share servicing and management take.",
    "growth": "Upsell opportunities raised and won per client or account manager.",
    "workload": "Open tasks and logged hours per person and lane against weekly capacity.",
}
AM, PM, CLIENT, RED, AMBER, GREY = "#2f6fed", "#0f9d76", "#f0a43a", "#d92d20", "#dc8a00", "#98a2b3"
PASS, WON = "#34c38f", "#7bd3b0"
LANE_COLOURS = {AM_LANE: AM, PM_LANE: PM}
FILTER_KEYS = ("from", "to", "definition", "client", "version_id", "by")


def _chart(
    chart_id: str,
    title: str,
    labels: list[str],
    datasets: list[dict[str, Any]],
    **options: Any,
) -> dict[str, Any]:
    """A chart for charts.js: bars per label, one series per dataset (see the script's header)."""
    return {"id": chart_id, "title": title, "labels": labels, "datasets": datasets, **options}


def _series(label: str, data: list[Any], colour: str | list[str]) -> dict[str, Any]:
    return {"label": label, "data": data, "color": colour}


def _highlighted(keys: list[str], report: ReportRows, normal: str, stressed: str = RED) -> list[str]:
    return [stressed if k in report.highlights else normal for k in keys]


def charts_for(report: ReportRows) -> list[dict[str, Any]]:
    """The charts a report reads best as (none for an empty report)."""
    rows = report.rows
    if not rows:
        return []
    if report.by == "stage":  # in the order engagements go through them
        rows = sorted(rows, key=lambda r: STAGES.index(r["key"]) if r["key"] in STAGES else len(STAGES))
    keys = [str(r["key"]) for r in rows]
    name = report.name
    if name == "time":
        labels = [f"{k} (bottleneck)" if k in report.highlights else k for k in keys]
        return [
            _chart(
                "time",
                f"Business hours per {report.by}: agency and client",
                labels,
                [
                    _series(
                        "agency hours", [r["agency_hours"] for r in rows], _highlighted(keys, report, AM)
                    ),
                    _series("client hours", [r["client_hours"] for r in rows], CLIENT),
                ],
                stacked=True,
                unit="h",
            )
        ]
    if name == "sla":
        done = [r for r in rows if r["compliance"] is not None]
        colours = [RED if r["compliance"] < 0.8 else AMBER if r["compliance"] < 1 else PM for r in done]
        charts = [
            _chart(
                "sla",
                f"Finished on time per {report.by}",
                [str(r["key"]) for r in done],
                [_series("on time", [round(r["compliance"] * 100, 1) for r in done], colours)],
                percent=True,
            )
        ]
        if any(r["open_at_risk"] or r["open_breached"] for r in rows):  # else an empty chart
            charts.append(
                _chart(
                    "sla-open",
                    "Open tasks at risk and breached",
                    keys,
                    [
                        _series("at risk", [r["open_at_risk"] for r in rows], AMBER),
                        _series("breached", [r["open_breached"] for r in rows], RED),
                    ],
                    stacked=True,
                    integer=True,
                )
            )
        return charts
    if name == "rework":
        decisions = [c for c in columns(rows) if c not in ("key", "total", "reruns")]
        palette = {"approved": PM, "pass": PASS, "won": WON, "changes_requested": AMBER, "fail": RED}
        return [
            _chart(
                "rework",
                "Decisions per step",
                keys,
                [
                    _series(d.replace("_", " "), [r.get(d, 0) for r in rows], palette.get(d, GREY))
                    for d in decisions
                ],
                stacked=True,
                integer=True,
            ),
            _chart(
                "reruns",
                "Rounds of rework per step (the step run again)",
                keys,
                [_series("rounds", [r.get("reruns", 0) for r in rows], AMBER)],
                integer=True,
            ),
        ]
    if name == "cost":
        by_lane: str | list[str] = [LANE_COLOURS.get(k, GREY) for k in keys] if report.by == "lane" else AM
        currency = str(rows[0]["currency"])
        return [
            _chart(
                "cost",
                f"Effort cost per {report.by} ({currency})",
                keys,
                [_series(f"cost ({currency})", [r["cost"] for r in rows], by_lane)],
            )
        ]
    if name == "budget":
        return [
            _chart(
                "budget",
                f"Budget burn per {report.by}",
                keys,
                [
                    _series(
                        "cost to date / budget",
                        [None if r["burn"] is None else round(r["burn"] * 100, 1) for r in rows],
                        _highlighted(keys, report, AM),
                    ),
                    _series(
                        "client servicing (AM)",
                        [
                            None if r["servicing_share"] is None else round(r["servicing_share"] * 100, 1)
                            for r in rows
                        ],
                        CLIENT,
                    ),
                    _series(
                        "project management (PM)",
                        [
                            None if r["management_share"] is None else round(r["management_share"] * 100, 1)
                            for r in rows
                        ],
                        PM,
                    ),
                ],
                percent=True,
                horizontal=True,
            )
        ]
    if name == "throughput":
        return [
            _chart(
                "throughput",
                "Engagements",
                keys,
                [_series("engagements", [r["value"] for r in rows], AM)],
                integer=True,
            )
        ]
    if name == "handoff":
        return [
            _chart(
                "handoff",
                "Hand-off latency (business hours)",
                keys,
                [
                    _series("median", [r["median_hours"] for r in rows], AM),
                    _series("p90", [r["p90_hours"] for r in rows], AMBER),
                ],
                unit="h",
            )
        ]
    if name == "growth":
        return [
            _chart(
                "growth",
                f"Upsell value per {report.by}",
                keys,
                [
                    _series("won", [r["won_value"] for r in rows], PM),
                    _series("open", [r["open_value"] for r in rows], AM),
                    _series("lost", [r["lost_value"] for r in rows], GREY),
                ],
                stacked=True,
            )
        ]
    if name == "workload":
        return [
            _chart(
                "workload",
                "Load and utilisation against weekly capacity",
                keys,
                [
                    _series(
                        "load (SLA hours left)",
                        [round(r["load"] * 100, 1) for r in rows],
                        _highlighted(keys, report, AM),
                    ),
                    _series(
                        "utilisation (hours logged)", [round(r["utilisation"] * 100, 1) for r in rows], PM
                    ),
                ],
                percent=True,
                horizontal=True,
            )
        ]
    return []


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
        _chart(
            "review-time",
            "Business hours per stage",
            labels,
            [
                _series(
                    "agency hours",
                    [round(s.agency_hours, 2) for s in stages],
                    [RED if s.stage == data.bottleneck else AM for s in stages],
                ),
                _series("client hours", [round(s.client_hours, 2) for s in stages], CLIENT),
            ],
            stacked=True,
            unit="h",
        )
    ]
    if data.costs:
        charts.append(
            _chart(
                "review-cost",
                f"Effort cost per lane ({data.currency})",
                [c.lane for c in data.costs],
                [
                    _series(
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
        elements.append(
            {
                "id": f.bpmn_id,
                "bucket": e.bucket,
                "colour": None if e.bucket is None else colours[e.bucket],
                "label": _figure(e.value, unit) if e.bucket is not None else "no data",
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
