"""``baton export xes|ocel FILE``: the event log for process-mining tools, with a progress bar."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import click
from rich.progress import Progress

from cli.support import _services, acting_as, console, handle_errors
from workflows.reports.eventlog import FORMATS, export_event_log
from workflows.reports.process import ReportFilter

DATE = click.DateTime(formats=["%Y-%m-%d"])


def _moment(value: datetime | None) -> datetime | None:
    return None if value is None else value.replace(tzinfo=UTC)


@click.command("export")
@click.argument("fmt", metavar="xes|ocel", type=click.Choice(FORMATS))
@click.argument("file", type=click.Path(dir_okay=False, writable=True, path_type=Path))
@click.option("--from", "start", type=DATE, help="First day covered (UTC, included).")
@click.option("--to", "end", type=DATE, help="Day the period ends (UTC, excluded).")
@click.option("--definition", "process_id", help="Only engagements of this process id.")
@click.option("--client", help="Only this client's engagements.")
@click.option(
    "--version-id", "definition_id", type=int, help="Only engagements on this deployed version (id)."
)
@acting_as("Who exports it (leadership, an ops lead or an admin)")
@click.pass_context
@handle_errors
def export(
    ctx: click.Context,
    fmt: str,
    file: Path,
    start: datetime | None,
    end: datetime | None,
    process_id: str | None,
    client: str | None,
    definition_id: int | None,
    actor: str | None,
) -> None:
    """Write the event log to FILE as XES (IEEE 1849) or OCEL 2.0 JSON, for process-mining tools.

    Leadership, ops leads and admins export it. The file is written as the events are read (never
    held whole in memory); a partly written file is removed if the export fails.
    """
    if start is not None and end is not None and end <= start:
        raise ValueError("--from must be before --to")
    filters = ReportFilter(_moment(start), _moment(end), process_id, client, definition_id)
    services = _services(ctx)
    written = 0
    with Progress(console=console, transient=True) as progress:
        bar = progress.add_task(f"exporting {fmt}", total=None)

        def advance(done: int, total: int) -> None:
            nonlocal written
            written = done
            progress.update(bar, completed=done, total=total)

        chunks = export_event_log(services, fmt, filters, actor=actor or "", progress=advance)
        try:
            with file.open("w", encoding="utf-8") as out:
                for chunk in chunks:
                    out.write(chunk)
        except BaseException:
            file.unlink(missing_ok=True)
            raise
    console.print(f"{written:,} event(s) written to {file}")


COMMANDS = [export]
