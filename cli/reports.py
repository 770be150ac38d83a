"""``baton report``: process review reports (time, SLAs, rework, cost) as tables, CSV or JSON;
``baton durations``: the business-hour durations those reports add up, worked out again."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import click
from rich.progress import Progress
from rich.table import Table

from cli.export import export
from cli.support import _e, _services, acting_as, console, handle_errors, unit_of_work
from workflows.reports.budget import BUDGET_DIMENSIONS, GROWTH_DIMENSIONS
from workflows.reports.costs import COST_DIMENSIONS
from workflows.reports.process import DIMENSIONS, ReportFilter
from workflows.reports.registry import REPORTS, read_report
from workflows.reports.rows import ReportRows, columns, to_csv
from workflows.time.durations import recompute_durations

DATE = click.DateTime(formats=["%Y-%m-%d"])


def _moment(value: datetime | None) -> datetime | None:
    return None if value is None else value.replace(tzinfo=UTC)


def _print(report: ReportRows, fmt: str) -> None:
    rows = report.rows
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2))
    elif fmt == "csv":
        click.echo(to_csv(rows), nl=False)
    else:
        names = columns(rows)
        table = Table(title=report.title)
        for name in names:
            table.add_column(name, justify="left" if name == "key" else "right")
        for row in rows:
            table.add_row(*(_e("" if row.get(c) is None else row.get(c)) for c in names))
        console.print(table)
        if report.note:
            console.print(_e(report.note))


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
@acting_as("Who reads it (leadership, an ops lead or an admin)")
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
    actor: str | None,
) -> None:
    """Print a report: time, sla, rework, cost, throughput, handoff, budget, growth or workload.

    Leadership, ops leads and admins read reports.
    """
    if start is not None and end is not None and end <= start:
        raise ValueError("--from must be before --to")
    filters = ReportFilter(_moment(start), _moment(end), process_id, client, definition_id)
    services = _services(ctx)
    with unit_of_work(ctx, write=False) as session:
        rows = read_report(session, services, name, filters, by, actor=actor or "")
    _print(rows, fmt)


@click.command("durations")
@click.option(
    "--all",
    "everything",
    is_flag=True,
    help="Every completed or claimed task (after the calendar changed), not only those missing them.",
)
@click.pass_context
@handle_errors
def durations(ctx: click.Context, everything: bool) -> None:
    """Work out tasks' business-hour durations, which the time and hand-off reports add up.

    Tasks get theirs when they complete or are claimed; this fills in those closed before
    (after an upgrade; `init-db` does it too) or, with --all, measures every task again on the
    calendar as it is now (after editing calendar.toml).
    """
    services = _services(ctx)
    with Progress(console=console, transient=True) as progress, unit_of_work(ctx) as session:
        bar = progress.add_task("business-hour durations", total=None)
        updated = recompute_durations(
            session,
            services.calendar,
            missing_only=not everything,
            progress=lambda done, total: progress.update(bar, completed=done, total=total),
        )
    console.print(f"business-hour durations worked out for {updated:,} task(s)")


COMMANDS = [report, durations, export]
