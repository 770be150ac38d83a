"""``baton report``: process review reports (time, SLAs, rework, cost) as tables, CSV or JSON."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import click
from rich.table import Table

from workflows.report_budget import BUDGET_DIMENSIONS, GROWTH_DIMENSIONS, budget_report, growth_report
from workflows.report_costs import COST_DIMENSIONS, cost_report, rework_cost
from workflows.report_flow import handoff_report, throughput_report
from workflows.report_workload import workload_report
from workflows.reports import DIMENSIONS, ReportFilter, rework_report, sla_report, time_report

from .cli_support import _e, _services, console, handle_errors, unit_of_work

DATE = click.DateTime(formats=["%Y-%m-%d"])
REPORTS = ("time", "sla", "rework", "cost", "throughput", "handoff", "budget", "growth", "workload")
Row = dict[str, Any]


def _moment(value: datetime | None) -> datetime | None:
    return None if value is None else value.replace(tzinfo=UTC)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def _time_rows(session: Any, services: Any, filters: ReportFilter, by: str) -> tuple[list[Row], str]:
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
    return rows, note


def _sla_rows(session: Any, services: Any, filters: ReportFilter, by: str) -> tuple[list[Row], str]:
    rows = [
        {
            "key": r.key,
            "completed": r.completed,
            "on_time": r.on_time,
            "compliance": None if r.compliance is None else round(r.compliance, 4),
            "open_at_risk": r.open_at_risk,
            "open_breached": r.open_breached,
        }
        for r in sla_report(session, services, filters, by=by)
    ]
    return rows, ""


def _rework_rows(session: Any, services: Any, filters: ReportFilter, by: str) -> tuple[list[Row], str]:
    report = rework_report(session, services, filters)
    rows = [{"key": d.step, **d.counts, "total": d.total} for d in report.decisions]
    rounds = ", ".join(f"{e.client} / {e.name}: {e.rounds}" for e in report.engagements) or "none"
    costs = ", ".join(f"{c.key}: {c.cost:.2f} {c.currency}" for c in rework_cost(session, services, filters))
    note = (
        f"QC fail rate: {_pct(report.qc_fail_rate)}; rework rounds per engagement: {rounds}; "
        f"rework cost: {costs or 'none'}"
    )
    return rows, note


def _cost_rows(session: Any, services: Any, filters: ReportFilter, by: str) -> tuple[list[Row], str]:
    rows = [
        {"key": c.key, "hours": c.hours, "cost": c.cost, "currency": c.currency}
        for c in cost_report(session, services, filters, by=by)
    ]
    return rows, ""


def _throughput_rows(session: Any, services: Any, filters: ReportFilter, by: str) -> tuple[list[Row], str]:
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
    return rows, f"win rate: {_pct(flow.win_rate)}"


def _handoff_rows(session: Any, services: Any, filters: ReportFilter, by: str) -> tuple[list[Row], str]:
    rows = [
        {
            "key": f"{h.from_lane} -> {h.to_lane}",
            "count": h.count,
            "median_hours": round(h.median_hours, 2),
            "p90_hours": round(h.p90_hours, 2),
        }
        for h in handoff_report(session, services, filters)
    ]
    return rows, ""


def _ratio(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def _budget_rows(session: Any, services: Any, filters: ReportFilter, by: str) -> tuple[list[Row], str]:
    lines = budget_report(session, services, filters, by=by)
    rows = [
        {
            "key": b.key,
            "engagements": b.engagements,
            "budget": b.budget,
            "cost_to_date": b.cost_to_date,
            "burn": _ratio(b.burn),
            "effort_cost": b.effort_cost,
            "effort_share": _ratio(b.effort_share),
            "servicing_share": _ratio(b.servicing_share),
            "management_share": _ratio(b.management_share),
            "over_threshold": b.over_threshold,
            "currency": b.currency,
        }
        for b in lines
    ]
    over = [b.key for b in lines if b.over_threshold]
    return rows, f"past the budget alert ratio: {', '.join(over) or 'none'}"


def _growth_rows(session: Any, services: Any, filters: ReportFilter, by: str) -> tuple[list[Row], str]:
    rows = [
        {
            "key": g.key,
            "engagements": g.engagements,
            "raised": g.raised,
            **{f"{status}": g.counts.get(status, 0) for status in ("open", "won", "lost")},
            **{f"{status}_value": g.values.get(status, 0.0) for status in ("open", "won", "lost")},
            "win_rate": _ratio(g.win_rate),
        }
        for g in growth_report(session, services, filters, by=by)
    ]
    return rows, ""


def _workload_rows(session: Any, services: Any, filters: ReportFilter, by: str) -> tuple[list[Row], str]:
    rows = [
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
        for w in workload_report(session, services, filters)
    ]
    return rows, "load: SLA hours left / weekly capacity; utilisation: hours logged / weekly capacity"


BUILDERS = {
    "time": _time_rows,
    "sla": _sla_rows,
    "rework": _rework_rows,
    "cost": _cost_rows,
    "throughput": _throughput_rows,
    "handoff": _handoff_rows,
    "budget": _budget_rows,
    "growth": _growth_rows,
    "workload": _workload_rows,
}


def _columns(rows: Sequence[Row]) -> list[str]:
    names: list[str] = []
    for row in rows:
        names += [k for k in row if k not in names]
    return names


def _print(rows: list[Row], note: str, title: str, fmt: str) -> None:
    columns = _columns(rows)
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2))
    elif fmt == "csv":
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        click.echo(buffer.getvalue(), nl=False)
    else:
        table = Table(title=title)
        for name in columns:
            table.add_column(name, justify="left" if name == "key" else "right")
        for row in rows:
            table.add_row(*(_e("" if row.get(c) is None else row.get(c)) for c in columns))
        console.print(table)
        if note:
            console.print(_e(note))


@click.command("report")
@click.argument("name", type=click.Choice(REPORTS))
@click.option("--from", "start", type=DATE, help="First day covered (UTC, included).")
@click.option("--to", "end", type=DATE, help="Day the period ends (UTC, excluded).")
@click.option("--definition", "process_id", help="Only engagements of this process id.")
@click.option("--client", help="Only this client's engagements.")
@click.option(
    "--version-id", "definition_id", type=int, help="Only engagements on this deployed version (id)."
)
@click.option(
    "--by",
    type=click.Choice(sorted({*DIMENSIONS, *COST_DIMENSIONS, *BUDGET_DIMENSIONS, *GROWTH_DIMENSIONS})),
    help="Group by (time/sla: stage, lane, person; cost: engagement, client, lane, stage; "
    "budget: engagement, client; growth: client, account_manager).",
)
@click.option(
    "--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True
)
@click.pass_context
@handle_errors
def report(
    ctx: click.Context,
    name: str,
    start: datetime | None,
    end: datetime | None,
    process_id: str | None,
    client: str | None,
    definition_id: int | None,
    by: str | None,
    fmt: str,
) -> None:
    """Print a report: time, sla, rework, cost, throughput, handoff, budget, growth or workload."""
    if start is not None and end is not None and end <= start:
        raise ValueError("--from must be before --to")
    filters = ReportFilter(_moment(start), _moment(end), process_id, client, definition_id)
    dimension = by or {"cost": "lane", "budget": "engagement", "growth": "client"}.get(name, "stage")
    if name == "budget" and dimension not in BUDGET_DIMENSIONS:
        raise ValueError(f"budget groups by {' or '.join(BUDGET_DIMENSIONS)}, not {dimension}")
    if name == "growth" and dimension not in GROWTH_DIMENSIONS:
        raise ValueError(f"growth groups by {' or '.join(GROWTH_DIMENSIONS)}, not {dimension}")
    services = _services(ctx)
    with unit_of_work(ctx, write=False) as session:
        rows, note = BUILDERS[name](session, services, filters, dimension)
    title = f"{name} by {dimension}" if name in ("time", "sla", "cost", "budget", "growth") else name
    _print(rows, note, title, fmt)


COMMANDS = [report]
