"""``baton`` commands for people: users and roles, teams, claims, reassignment and cover."""

from __future__ import annotations

import os
from datetime import date, datetime

import click
from rich.table import Table

from cli.support import _e, _services, acting_as, console, handle_errors, setup_actor, unit_of_work
from workflows.agency import ROLES
from workflows.engagements.effort import effort_totals, log_effort
from workflows.engagements.lifecycle import change_team
from workflows.engagements.tasks import claim_task, reassign_task, unclaim_task
from workflows.people.auth import (
    change_password,
    issue_token,
    list_tokens,
    needs_current_password,
    revoke_token,
)
from workflows.people.covers import add_cover, list_covers
from workflows.people.directory import create_user, directory, update_user
from workflows.people.leads import set_lead
from workflows.views.inbox import engagement_detail

ME = os.environ.get("USER")
DATE = click.DateTime(formats=["%Y-%m-%d"])
# user administration names who acts, except while a new store has no admin yet


def _day(value: datetime) -> date:
    return value.date()


# -- users ---------------------------------------------------------------------------------


@click.group()
def users() -> None:
    """Add and list the people who work engagements, with their roles."""


@users.command("add")
@click.argument("username")
@click.option(
    "--role",
    "roles",
    multiple=True,
    required=True,
    type=click.Choice(ROLES),
    help="A role they hold (repeat for several).",
)
@click.option("--name", required=True, help="Their display name.")
@click.option("--email", help="Their e-mail address.")
@acting_as("The admin acting", setup=True)
@click.pass_context
@handle_errors
def users_add(
    ctx: click.Context,
    username: str,
    roles: tuple[str, ...],
    name: str,
    email: str | None,
    actor: str | None,
) -> None:
    """Add a user with one or more roles."""
    actor = setup_actor(ctx, actor)
    services = _services(ctx)
    with unit_of_work(ctx) as session:
        user = create_user(session, services, username, actor=actor, name=name, roles=roles, email=email)
        console.print(
            f"added {_e(user.username)} ({_e(user.display_name)}): {', '.join(sorted(user.role_names))}"
        )


@users.command("list")
@click.option("--role", type=click.Choice(ROLES), help="Only holders of this role.")
@acting_as("Who reads the directory (any user)")
@click.pass_context
@handle_errors
def users_list(ctx: click.Context, role: str | None, actor: str | None) -> None:
    """List users and their roles."""
    with unit_of_work(ctx, write=False) as session:
        table = Table("user", "name", "e-mail", "roles", "active")
        for user in directory(session, actor=actor or "", role=role):
            table.add_row(
                _e(user.username),
                _e(user.display_name),
                _e(user.email or ""),
                ", ".join(f"{r} (lead)" if r in user.lead_of else r for r in sorted(user.role_names)),
                "yes" if user.active else "no",
            )
        console.print(table)


@users.command("deactivate")
@click.argument("username")
@acting_as("The admin acting", setup=True)
@click.pass_context
@handle_errors
def users_deactivate(ctx: click.Context, username: str, actor: str | None) -> None:
    """Deactivate a user: they can no longer act, get no new task; their tokens are revoked."""
    actor = setup_actor(ctx, actor)
    services = _services(ctx)
    with unit_of_work(ctx) as session:
        update_user(session, username, actor=actor, active=False, at=services.runtime.clock())
    console.print(f"deactivated {_e(username)}")


@users.command("lead")
@click.argument("username")
@click.argument("role", type=click.Choice(ROLES))
@click.option("--lead/--no-lead", default=True, help="Make them a lead of ROLE, or no longer one.")
@acting_as("Who decides (an ops lead or an admin)")
@click.pass_context
@handle_errors
def users_lead(ctx: click.Context, username: str, role: str, lead: bool, actor: str | None) -> None:
    """Make USERNAME a lead of ROLE: overdue tasks of the role's lanes escalate to them."""
    with unit_of_work(ctx) as session:
        set_lead(session, username, role, lead=lead, actor=actor or "")
    verb = "now leads" if lead else "no longer leads"
    console.print(f"{_e(username)} {verb} the {role.replace('_', ' ')}s")


@users.command("password")
@click.argument("username")
@click.password_option(
    "--password",
    prompt="New password",
    help="The new password (prompted, hidden, twice, when not given; prefer the prompt).",
)
@click.option(
    "--current-password",
    help="Your current password, to change your own (prompted, hidden, when not given).",
)
@acting_as("Who sets it: the user or an admin", setup=True)
@click.pass_context
@handle_errors
def users_password(
    ctx: click.Context, username: str, password: str, current_password: str | None, actor: str | None
) -> None:
    """Set USERNAME's password: your own with the current one, anyone's as an admin.

    Their API tokens are revoked and their open sessions end.
    """
    actor = setup_actor(ctx, actor)
    services = _services(ctx)
    if current_password is None:  # asked before the write begins: typing holds no lock
        with unit_of_work(ctx, write=False) as session:
            needed = needs_current_password(session, username, actor=actor)
        if needed:
            current_password = click.prompt("Current password", hide_input=True)
    with unit_of_work(ctx) as session:
        change_password(
            session, services, username, password, actor=actor, current_password=current_password or None
        )
    console.print(f"password set for {_e(username)}")


# -- API tokens ----------------------------------------------------------------------------


@click.group()
def tokens() -> None:
    """Personal API tokens (Authorization: Bearer ...) for scripts and integrations."""


@tokens.command("issue")
@click.argument("username")
@click.option("--name", required=True, help="What the token is for, e.g. 'ci' or 'crm-sync'.")
@acting_as("Who asks: the user or an admin", setup=True)
@click.pass_context
@handle_errors
def tokens_issue(ctx: click.Context, username: str, name: str, actor: str | None) -> None:
    """Issue a token acting as USERNAME; its secret is printed once, keep it safe."""
    actor = setup_actor(ctx, actor)
    services = _services(ctx)
    with unit_of_work(ctx) as session:
        issued = issue_token(session, services, username, name=name, actor=actor)
        token_id = issued.token.id
    console.print(f"token {token_id} ({_e(name)}) for {_e(username)}; it is shown only now:")
    click.echo(issued.secret)


@tokens.command("list")
@click.argument("username")
@acting_as("Who asks: the user or an admin", setup=True)
@click.pass_context
@handle_errors
def tokens_list(ctx: click.Context, username: str, actor: str | None) -> None:
    """List USERNAME's tokens (never their secrets)."""
    actor = setup_actor(ctx, actor)
    with unit_of_work(ctx, write=False) as session:
        table = Table("id", "name", "starts with", "created", "last used", "revoked")
        for token in list_tokens(session, username, actor=actor):
            table.add_row(
                str(token.id),
                _e(token.name),
                _e(token.hint) + "…",
                token.created_at.strftime("%Y-%m-%d %H:%M"),
                token.last_used_at.strftime("%Y-%m-%d %H:%M") if token.last_used_at else "never",
                token.revoked_at.strftime("%Y-%m-%d %H:%M") if token.revoked_at else "",
            )
        console.print(table)


@tokens.command("revoke")
@click.argument("token_id", type=int)
@acting_as("Who revokes it: its owner or an admin", setup=True)
@click.pass_context
@handle_errors
def tokens_revoke(ctx: click.Context, token_id: int, actor: str | None) -> None:
    """Revoke token TOKEN_ID: it stops working at once."""
    actor = setup_actor(ctx, actor)
    services = _services(ctx)
    with unit_of_work(ctx) as session:
        token = revoke_token(session, services, token_id, actor=actor)
        owner = token.user.username
    console.print(f"revoked token {token_id} of {_e(owner)}")


# -- teams ---------------------------------------------------------------------------------


@click.command("team")
@click.argument("engagement_id", type=int)
@click.option("--am", "account_manager", help="New account manager (username).")
@click.option("--pm", "project_manager", help="New project manager (username).")
@click.option("--rm", "resource_manager", help="New resource manager (username).")
@click.option("--reason", help="Why the team changes (kept in the history).")
@acting_as("Who changes it (an ops lead or an admin)")
@click.pass_context
@handle_errors
def team(
    ctx: click.Context,
    engagement_id: int,
    account_manager: str | None,
    project_manager: str | None,
    resource_manager: str | None,
    reason: str | None,
    actor: str | None,
) -> None:
    """Show an engagement's team, or change it (open tasks of the lane follow)."""
    services = _services(ctx)
    if account_manager or project_manager or resource_manager:
        with unit_of_work(ctx) as session:
            changes = change_team(
                session,
                services,
                engagement_id,
                actor=actor or "",
                account_manager=account_manager,
                project_manager=project_manager,
                resource_manager=resource_manager,
                reason=reason,
            )
        for role, (old, new) in sorted(changes.items()):
            console.print(f"{role.replace('_', ' ')}: {_e(old or '—')} → {_e(new)}")
        if not changes:
            console.print("the team is unchanged")
    with unit_of_work(ctx, write=False) as session:
        members = engagement_detail(session, services, engagement_id, actor=actor or "")[0].team
    for role in sorted(members):
        console.print(f"  {role.replace('_', ' ')}: {_e(members[role])}")


# -- claims and assignment -----------------------------------------------------------------


@click.command("claim")
@click.argument("engagement_id", type=int)
@click.argument("task")
@acting_as("Who claims it")
@click.pass_context
@handle_errors
def claim(ctx: click.Context, engagement_id: int, task: str, actor: str | None) -> None:
    """Claim TASK (task id or BPMN id) of an engagement: it is yours to work on."""
    services = _services(ctx)
    with unit_of_work(ctx) as session:
        row = claim_task(session, services, engagement_id, task, actor=actor or "")
    console.print(f"{_e(row.claimed_by)} claimed {row.bpmn_id} of engagement {engagement_id}")


@click.command("unclaim")
@click.argument("engagement_id", type=int)
@click.argument("task")
@acting_as("Who releases it")
@click.pass_context
@handle_errors
def unclaim(ctx: click.Context, engagement_id: int, task: str, actor: str | None) -> None:
    """Release your claim on TASK: it goes back to its assignee and lane."""
    services = _services(ctx)
    with unit_of_work(ctx) as session:
        row = unclaim_task(session, services, engagement_id, task, actor=actor or "")
    console.print(f"released {row.bpmn_id} of engagement {engagement_id}")


@click.command("reassign")
@click.argument("engagement_id", type=int)
@click.argument("task")
@click.argument("assignee")
@click.option("--reason", help="Why (kept in the history).")
@acting_as("Who reassigns it (an ops lead or an admin)")
@click.pass_context
@handle_errors
def reassign(
    ctx: click.Context, engagement_id: int, task: str, assignee: str, reason: str | None, actor: str | None
) -> None:
    """Give TASK of an engagement to ASSIGNEE (a member of the lane's role)."""
    services = _services(ctx)
    with unit_of_work(ctx) as session:
        row = reassign_task(
            session, services, engagement_id, task, assignee, actor=actor or "", reason=reason
        )
    console.print(f"{row.bpmn_id} of engagement {engagement_id} is now assigned to {_e(row.assignee)}")


# -- cover ---------------------------------------------------------------------------------


@click.command("cover")
@click.argument("username")
@click.option("--by", "cover", required=True, help="Who covers (a username).")
@click.option("--from", "starts_on", required=True, type=DATE, help="First day away (YYYY-MM-DD).")
@click.option("--to", "ends_on", required=True, type=DATE, help="Last day away (YYYY-MM-DD).")
@click.option("--note", default="", help="A note (e.g. holiday).")
@acting_as("Who arranges it (the person away, an ops lead, an admin)")
@click.pass_context
@handle_errors
def cover(
    ctx: click.Context,
    username: str,
    cover: str,
    starts_on: datetime,
    ends_on: datetime,
    note: str,
    actor: str | None,
) -> None:
    """While USERNAME is away, let another user act on their tasks (both dates included)."""
    services = _services(ctx)
    with unit_of_work(ctx) as session:
        add_cover(
            session,
            services,
            username,
            by=cover,
            starts_on=_day(starts_on),
            ends_on=_day(ends_on),
            actor=actor or "",
            note=note,
        )
    console.print(f"{_e(cover)} covers {_e(username)} from {_day(starts_on)} to {_day(ends_on)}")


@click.command("covers")
@click.option("--on", "on", type=DATE, help="Only cover in force on this day (YYYY-MM-DD).")
@acting_as("Who reads (any user)")
@click.pass_context
@handle_errors
def covers(ctx: click.Context, on: datetime | None, actor: str | None) -> None:
    """List cover arrangements."""
    with unit_of_work(ctx, write=False) as session:
        table = Table("away", "covered by", "from", "to", "note", "arranged by")
        for row in list_covers(session, actor=actor or "", on=_day(on) if on else None):
            table.add_row(
                _e(row.user.username),
                _e(row.cover.username),
                str(row.starts_on),
                str(row.ends_on),
                _e(row.note),
                _e(row.created_by or ""),
            )
        console.print(table)


@click.command("effort")
@click.argument("engagement_id", type=int)
@click.argument("task")
@click.argument("hours", type=float)
@click.option("--note", default="", help="What was done.")
@click.option("--on", "on", type=DATE, help="The day worked (default: today).")
@acting_as("Who worked")
@click.pass_context
@handle_errors
def effort(
    ctx: click.Context,
    engagement_id: int,
    task: str,
    hours: float,
    note: str,
    on: datetime | None,
    actor: str | None,
) -> None:
    """Log HOURS of work against TASK (task id or BPMN id) of an engagement."""
    services = _services(ctx)
    with unit_of_work(ctx) as session:
        row = log_effort(
            session,
            services,
            engagement_id,
            task,
            hours,
            actor=actor or "",
            note=note,
            worked_on=_day(on) if on else None,
        )
        totals = effort_totals(session, engagement_id)
    console.print(f"logged {row.hours:g} h by {_e(row.username)} on {row.bpmn_id} ({row.worked_on})")
    for total in totals:
        console.print(f"  {_e(total.lane or '—')} / {_e(total.stage or '—')}: {total.hours:g} h")


COMMANDS = (users, tokens, team, claim, unclaim, reassign, cover, covers, effort)
