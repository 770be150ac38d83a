"""Every report as flat rows (one dict per line): what the CLI prints, the API answers and the
pages chart -- built once here so the three never disagree.

`report_rows` builds a report's rows; `read_report` does the same for a person, after checking
that they may read reports (leadership, ops leads, admins: `workflows.access.READ_REPORTS`).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from workflows.people.permissions import READ_REPORTS, authorize
from workflows.report_budget import BUDGET_DIMENSIONS, GROWTH_DIMENSIONS, budget_report, growth_report
from workflows.report_costs import COST_DIMENSIONS, cost_report, rework_cost
from workflows.report_flow import handoff_report, throughput_report
from workflows.report_workload import workload_report
from workflows.reports import DIMENSIONS, ReportFilter, rework_report, sla_report, time_report
from workflows.services import Services

Row = dict[str, Any]
NOTED = 5  # engagements a report's note names (the most reworked, the dearest rework)
REPORTS = ("time", "sla", "rework", "cost", "throughput", "handoff", "budget", "growth", "workload")
# report -> the dimensions it groups by (the first is the default); None: it does not group
GROUPINGS: dict[str, tuple[str, ...] | None] = {
    "time": DIMENSIONS,
    "sla": DIMENSIONS,
    "rework": None,
    "cost": ("lane", *(d for d in COST_DIMENSIONS if d != "lane")),
    "throughput": None,
    "handoff": None,
    "budget": BUDGET_DIMENSIONS,
    "growth": GROWTH_DIMENSIONS,
    "workload": None,
}


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


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def _ratio(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def _time(session: Session, services: Services, filters: ReportFilter, by: str) -> ReportRows:
    report = time_report(session, services, filters, by=by)
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


def _sla(session: Session, services: Services, filters: ReportFilter, by: str) -> ReportRows:
    rows: list[Row] = [
        {
            "key": r.key,
            "completed": r.completed,
            "on_time": r.on_time,
            "compliance": _ratio(r.compliance),
            "open_at_risk": r.open_at_risk,
            "open_breached": r.open_breached,
        }
        for r in sla_report(session, services, filters, by=by)
    ]
    return ReportRows("sla", by, rows, "", [r["key"] for r in rows if r["open_breached"]])


def _rework(session: Session, services: Services, filters: ReportFilter, by: str | None) -> ReportRows:
    report = rework_report(session, services, filters, most=NOTED)
    steps = sorted(set(report.reruns) | {d.step for d in report.decisions})
    counts = {d.step: d for d in report.decisions}
    rows = [
        {
            "key": step,
            **(counts[step].counts if step in counts else {}),
            "total": counts[step].total if step in counts else 0,
            "reruns": report.reruns.get(step, 0),
        }
        for step in steps
    ]
    costs = rework_cost(session, services, filters)
    total = sum(c.cost for c in costs)
    currency = costs[0].currency if costs else ""
    most = ", ".join(f"{e.client} / {e.name}: {e.rounds}" for e in report.engagements) or "none"
    dearest = ", ".join(
        f"{c.key}: {c.cost:.2f} {c.currency}" for c in sorted(costs, key=lambda c: -c.cost)[:NOTED]
    )
    note = (
        f"QC fail rate: {_pct(report.qc_fail_rate)}; rework rounds: {report.rounds} in "
        f"{report.reworked} engagement(s); most: {most}; rework cost: "
        f"{f'{total:.2f} {currency}' if costs else 'none'}{f' (most: {dearest})' if costs else ''}"
    )
    return ReportRows("rework", None, rows, note, [s for s in steps if report.reruns.get(s)])


def _cost(session: Session, services: Services, filters: ReportFilter, by: str) -> ReportRows:
    rows = [
        {"key": c.key, "hours": c.hours, "cost": c.cost, "currency": c.currency}
        for c in cost_report(session, services, filters, by=by)
    ]
    return ReportRows("cost", by, rows)


def _throughput(session: Session, services: Services, filters: ReportFilter, by: str | None) -> ReportRows:
    flow = throughput_report(session, services, filters)
    figures = {
        "started": flow.started,
        "delivered": flow.delivered,
        "lost at pitch": flow.lost_at_pitch,
        "ended otherwise": flow.ended_otherwise,
        "in flight": flow.in_flight,
        "pitches won": flow.pitches_won,
        "pitches lost": flow.pitches_lost,
        **{f"in flight at {stage}": n for stage, n in flow.in_flight_per_stage.items()},
    }
    rows = [{"key": key, "value": value} for key, value in figures.items()]
    return ReportRows("throughput", None, rows, f"win rate: {_pct(flow.win_rate)}")


def _handoff(session: Session, services: Services, filters: ReportFilter, by: str | None) -> ReportRows:
    rows = [
        {
            "key": f"{h.from_lane} -> {h.to_lane}",
            "count": h.count,
            "median_hours": round(h.median_hours, 2),
            "p90_hours": round(h.p90_hours, 2),
        }
        for h in handoff_report(session, services, filters)
    ]
    return ReportRows("handoff", None, rows)


def _budget(session: Session, services: Services, filters: ReportFilter, by: str) -> ReportRows:
    lines = budget_report(session, services, filters, by=by)
    rows = [
        {
            "key": b.key,
            "engagements": b.engagements,
            "budget": b.budget,
            "cost_to_date": b.cost_to_date,
            "supplier_cost": b.supplier_cost,
            "burn": _ratio(b.burn),
            "effort_cost": b.effort_cost,
            "effort_share": _ratio(b.effort_share),
            "servicing_share": _ratio(b.servicing_share),
            "management_share": _ratio(b.management_share),
            "over_threshold": b.over_threshold,
            "change_orders": b.change_orders,
            "budget_added": b.budget_added,
            "currency": b.currency,
        }
        for b in lines
    ]
    over = [b.key for b in lines if b.over_threshold]
    return ReportRows("budget", by, rows, f"past the budget alert ratio: {', '.join(over) or 'none'}", over)


def _growth(session: Session, services: Services, filters: ReportFilter, by: str) -> ReportRows:
    rows = [
        {
            "key": g.key,
            "engagements": g.engagements,
            "raised": g.raised,
            **{status: g.counts.get(status, 0) for status in ("open", "won", "lost")},
            **{f"{status}_value": g.values.get(status, 0.0) for status in ("open", "won", "lost")},
            "win_rate": _ratio(g.win_rate),
        }
        for g in growth_report(session, services, filters, by=by)
    ]
    return ReportRows("growth", by, rows)


def _workload(session: Session, services: Services, filters: ReportFilter, by: str | None) -> ReportRows:
    lines = workload_report(session, services, filters)
    rows: list[Row] = [
        {
            "key": f"{w.person} / {w.lane}",
            "open_tasks": w.open_tasks,
            "breached": w.breached,
            "sla_hours_left": w.sla_hours_left,
            "logged_hours": w.logged_hours,
            "capacity_hours": w.capacity_hours,
            "load": round(w.load, 4),
            "utilisation": round(w.utilisation, 4),
        }
        for w in lines
    ]
    note = "load: SLA hours left / weekly capacity; utilisation: hours logged / weekly capacity"
    return ReportRows("workload", None, rows, note, [f"{w.person} / {w.lane}" for w in lines if w.load > 1])


BUILDERS: dict[str, Callable[[Session, Services, ReportFilter, Any], ReportRows]] = {
    "time": _time,
    "sla": _sla,
    "rework": _rework,
    "cost": _cost,
    "throughput": _throughput,
    "handoff": _handoff,
    "budget": _budget,
    "growth": _growth,
    "workload": _workload,
}


def grouping(name: str, by: str | None) -> str | None:
    """The dimension report `name` groups by: `by`, or its default (None: it does not group).

    Raises:
        ValueError: unknown report, or a dimension it cannot group by.
    """
    if name not in GROUPINGS:
        raise ValueError(f"unknown report '{name}' (expected one of {', '.join(REPORTS)})")
    allowed = GROUPINGS[name]
    if allowed is None:
        return None
    if by is None:
        return allowed[0]
    if by not in allowed:
        raise ValueError(f"{name} groups by {' or '.join(allowed)}, not {by}")
    return by


def report_rows(
    session: Session, services: Services, name: str, filters: ReportFilter, by: str | None = None
) -> ReportRows:
    """Report `name` (one of `REPORTS`) as rows, grouped by `by` (default: the report's own).

    Raises:
        ValueError: unknown report or dimension.
    """
    return BUILDERS[name](session, services, filters, grouping(name, by))


def read_report(
    session: Session,
    services: Services,
    name: str,
    filters: ReportFilter,
    by: str | None = None,
    *,
    actor: str,
) -> ReportRows:
    """`report_rows` for `actor`, who must be in leadership, an ops lead or an admin.

    Raises:
        PermissionDenied: the actor may not read reports.
        ValueError: unknown report or dimension.
    """
    authorize(session, actor, READ_REPORTS)
    return report_rows(session, services, name, filters, by)


def columns(rows: Sequence[Row]) -> list[str]:
    """Every column the rows use, in the order they first appear."""
    names: list[str] = []
    for row in rows:
        names += [k for k in row if k not in names]
    return names


def to_csv(rows: Sequence[Row]) -> str:
    """The rows as CSV with a header line (missing values as empty cells)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns(rows), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()
