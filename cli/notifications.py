"""``baton notifications``: read one's notifications, mark them read, send pending e-mail."""

from __future__ import annotations

import click
from rich.table import Table

from cli.support import _e, _services, acting_as, console, handle_errors, unit_of_work
from workflows.notify.notifications import LABELS, list_notifications, mark_all_read, mark_read, unread_count
from workflows.notify.outbox import flush_outbox

# `--user` is the old spelling of `--as`, kept for scripts written before every command took `--as`
OLD_USER = click.option("--user", default=None, hidden=True)


@click.group(invoke_without_command=True)
@acting_as("Whose notifications (yours: nobody reads another's)")
@OLD_USER
@click.option("--all", "include_read", is_flag=True, help="Also those already read.")
@click.option("--page", default=1, show_default=True, type=click.IntRange(min=1), help="Which page.")
@click.option(
    "--per-page", default=20, show_default=True, type=click.IntRange(1, 200), help="How many per page."
)
@click.pass_context
@handle_errors
def notifications(
    ctx: click.Context, actor: str | None, user: str | None, include_read: bool, page: int, per_page: int
) -> None:
    """List your notifications, unread first (with --all, those read too)."""
    if ctx.invoked_subcommand is not None:
        return
    user = user or actor
    services = _services(ctx)
    with unit_of_work(ctx, write=False) as session:
        rows = list_notifications(
            session,
            user=user or "",
            include_read=include_read,
            limit=per_page,
            offset=(page - 1) * per_page,
        )
        unread = unread_count(session, user=user or "")
        table = Table("id", "", "when", "what", "task", "engagement", "message", "link")
        for note in rows:
            engagement = note.engagement
            table.add_row(
                str(note.id),
                "●" if note.read_at is None else "",
                note.created_at.astimezone(services.calendar.zone).strftime("%Y-%m-%d %H:%M"),
                LABELS.get(note.kind, note.kind),
                _e(note.title),
                _e(f"{engagement.client}: {engagement.name}") if engagement else "",
                _e(note.message),
                _e(note.link or ""),
            )
    console.print(table)
    console.print(f"{unread} unread")


@notifications.command("read")
@click.argument("ids", nargs=-1, type=int)
@click.option("--all", "everything", is_flag=True, help="Mark every unread notification read.")
@acting_as("Whose (yours)")
@OLD_USER
@click.pass_context
@handle_errors
def notifications_read(
    ctx: click.Context, ids: tuple[int, ...], everything: bool, actor: str | None, user: str | None
) -> None:
    """Mark notifications IDS (or --all) read."""
    user = user or actor
    if not ids and not everything:
        raise click.UsageError("name the notifications to mark read, or give --all")
    services = _services(ctx)
    with unit_of_work(ctx) as session:
        if everything:
            count = mark_all_read(session, services, user=user or "")
        else:
            for notification_id in ids:
                mark_read(session, services, notification_id, user=user or "")
            count = len(ids)
    console.print(f"marked {count} notification(s) read")


@notifications.command("flush")
@click.pass_context
@handle_errors
def notifications_flush(ctx: click.Context) -> None:
    """Send the pending e-mails now (the worker does it each cycle)."""
    services = _services(ctx)
    if services.mail is None:
        console.print("no SMTP server configured (set BATON_SMTP_HOST): notifications stay in-app")
        return
    console.print(f"sent {flush_outbox(services)} e-mail(s)")
