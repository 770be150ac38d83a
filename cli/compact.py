"""``baton compact``: bring an existing store to what steps now leave behind.

Engagements that ended before compaction existed still hold every runtime task row; running
ones hold their whole history in the tree. Each instance is compacted in its own transaction
(ended ones lose their task rows, unreferenced task data and timers; running ones keep what
their open steps need), under a progress bar. Safe to run again, and beside a running Baton.
"""

from __future__ import annotations

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from sqlalchemy import select

from cli.support import _e, _services, console, handle_errors, unit_of_work
from engine.errors import ConflictError
from engine.models import TaskRow


@click.command("compact")
@click.pass_context
@handle_errors
def compact(ctx: click.Context) -> None:
    """Compact every stored instance (ended ones keep only their history)."""
    services = _services(ctx)
    with unit_of_work(ctx, write=False) as session:
        ids = list(session.scalars(select(TaskRow.instance_id).distinct().order_by(TaskRow.instance_id)))
    removed, busy = 0, 0
    columns = (TextColumn("compacting"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        bar = progress.add_task("instances", total=len(ids))
        for instance_id in ids:
            try:
                with unit_of_work(ctx) as session:
                    removed += services.runtime.compact_stored(session, instance_id)
            except ConflictError:
                busy += 1  # stepped meanwhile by someone else: its own steps compact it
            progress.advance(bar)
    where = _e(services.db.url)
    console.print(f"{len(ids):,} instance(s) compacted, {removed:,} task row(s) removed ({where})")
    if busy:
        console.print(f"{busy:,} instance(s) moved on meanwhile and were left to their next step")
