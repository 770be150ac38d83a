"""``baton definitions migrate``: running engagements move to another version of their process.

``--dry-run`` prints every running engagement on another version with its verdict and what
changes for it, and writes nothing; without it, the engagements that can move (or those named
with ``--engagement``) move one by one, each in its own transaction, under a progress bar.
"""

from __future__ import annotations

import json
import sys

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from cli.support import _e, _services, acting_as, console, err_console, handle_errors, unit_of_work
from workflows.engagements.migration import Outcome, dry_run_migration, migrate_engagements
from workflows.engagements.migration_words import VERDICT_TITLES


def _mapping(pairs: tuple[str, ...]) -> dict[str, str]:
    mapping: dict[str, str] = {}
    for pair in pairs:
        old, sep, new = pair.partition("=")
        if not sep or not old.strip() or not new.strip():
            raise click.BadParameter(f"'{pair}' is not OLD=NEW", param_hint="--map")
        mapping[old.strip()] = new.strip()
    return mapping


@click.command("migrate")
@click.argument("process_id")
@click.argument("version", type=click.IntRange(min=1))
@click.option("--dry-run", is_flag=True, help="Show every verdict and effect; move nothing.")
@click.option("--map", "maps", multiple=True, metavar="OLD=NEW", help="A renamed step: old id = new id.")
@click.option("--engagement", "engagements", multiple=True, type=int, help="Move only these (repeat).")
@click.option("--note", default="", help="Why they move (required to move).")
@click.option("--json", "as_json", is_flag=True, help="Print the dry run or the outcomes as JSON.")
@acting_as("Who moves them (an ops lead or an admin)")
@click.pass_context
@handle_errors
def migrate(
    ctx: click.Context,
    process_id: str,
    version: int,
    dry_run: bool,
    maps: tuple[str, ...],
    engagements: tuple[int, ...],
    note: str,
    as_json: bool,
    actor: str | None,
) -> None:
    """Move running engagements of PROCESS_ID to VERSION (an older one undoes a move)."""
    services = _services(ctx)
    mapping = _mapping(maps)
    with unit_of_work(ctx, write=False) as session:
        plan = dry_run_migration(session, services, process_id, version, actor=actor or "", mapping=mapping)
    if dry_run:
        if as_json:
            print(json.dumps([e.as_dict() for e in plan.engagements], indent=2))
            return
        table = Table("#", "client", "engagement", "from", "stage", "verdict", "what changes")
        for verdict, rows in plan.grouped().items():
            for e in rows:
                table.add_row(
                    str(e.engagement_id),
                    _e(e.client),
                    _e(e.name),
                    f"v{e.from_version}",
                    _e(", ".join(e.stages) or "—"),
                    VERDICT_TITLES[verdict],
                    _e("\n".join(e.sentences) or "—"),
                )
        console.print(table)
        counts = {VERDICT_TITLES[v]: len(rows) for v, rows in plan.grouped().items()}
        console.print(
            ", ".join(f"{n} {title.lower()}" for title, n in counts.items()) + " — nothing was moved"
        )
        return
    movable = [e for e in plan.engagements if e.verdict != "refused"]
    chosen = list(engagements) or [e.engagement_id for e in movable]
    expected = {e.engagement_id: e.version for e in plan.engagements}
    if not chosen:
        console.print("nothing to move")
        return
    outcomes: list[Outcome] = []
    with Progress(
        TextColumn("moving to v{task.fields[version]}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err_console,
        transient=as_json,
    ) as progress:
        bar = progress.add_task("migrate", total=len(chosen), version=version)
        outcomes = migrate_engagements(
            services,
            process_id,
            version,
            chosen,
            actor=actor or "",
            note=note,
            mapping=mapping,
            expected=expected,
            on_progress=lambda _o: progress.advance(bar),
        )
    if as_json:
        print(json.dumps([o.as_dict() for o in outcomes], indent=2))
    else:
        for o in outcomes:
            colour = "green" if o.status == "migrated" else "red"
            console.print(f"[{colour}]{o.status}[/{colour}] engagement {o.engagement_id}: {_e(o.message)}")
    moved = sum(1 for o in outcomes if o.status == "migrated")
    console.print(f"{moved} of {len(outcomes)} moved to v{version}")
    if moved < len(outcomes):
        sys.exit(1)
