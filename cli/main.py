"""The ``baton`` command line: database, definitions, engagements, tasks and people.

Every command prints a clear message and exits non-zero on errors.
"""

from __future__ import annotations

import json
import sys
import threading
from pathlib import Path
from typing import Any

import click
from rich.table import Table
from sqlalchemy.orm import Session

from cli import compact as cli_compact
from cli import migration as cli_migration
from cli import notifications as cli_notifications
from cli import people as cli_people
from cli import reports as cli_reports
from cli.support import (
    _e,
    _services,
    acting_as,
    console,
    err_console,
    handle_errors,
    store_options,
    unit_of_work,
)
from engine.bundles import read_bundle
from engine.definitions import read_forms_dir
from engine.models import DefinitionVersion
from engine.timers import TimerWorker
from webui import create_app
from workflows.definitions.catalog import (
    all_versions,
    deploy_bundle,
    deploy_file,
    deploy_folder,
    install_definitions,
)
from workflows.demo.seed import DEMO_PASSWORD, seed_demo
from workflows.engagements.lifecycle import cancel_engagement, start_engagement
from workflows.engagements.tasks import complete_task
from workflows.notify.outbox import flush_outbox
from workflows.people.auth import purge_login_records
from workflows.people.users import list_users
from workflows.services import Services
from workflows.time.durations import recompute_durations
from workflows.views.inbox import engagement_detail
from workflows.views.lists import list_engagements, list_open_tasks, my_tasks

DEFAULT_DB = "sqlite:///instance/baton.sqlite3"


@click.group()
@click.option(
    "--db",
    "db_url",
    envvar="BATON_DATABASE_URL",
    default=DEFAULT_DB,
    show_default=True,
    help="SQLAlchemy URL of the store (env BATON_DATABASE_URL).",
)
@click.option(
    "--definitions",
    "definitions_dir",
    envvar="BATON_DEFINITIONS_DIR",
    type=click.Path(file_okay=False),
    help="Folder of BPMN, form and calendar files.",
)
@click.pass_context
def cli(ctx: click.Context, db_url: str, definitions_dir: str | None) -> None:
    """Baton: agency engagements on BPMN, split between AM and PM lanes."""
    ctx.ensure_object(dict).update(db_url=db_url, definitions_dir=definitions_dir)


@cli.command("init-db")
@click.option("--deploy/--no-deploy", default=True, help="Also deploy the definitions folder.")
@click.pass_context
@handle_errors
def init_db(ctx: click.Context, deploy: bool) -> None:
    """Create the tables (and deploy the standard definitions)."""
    services = _services(ctx, create=True)
    services.db.create_all()
    with unit_of_work(ctx) as session:  # tasks closed before their durations were stored
        filled = recompute_durations(session, services.calendar)
    if filled:
        console.print(f"business-hour durations worked out for {filled:,} task(s)")
    console.print(f"database ready: {_e(services.db.url)}")
    if deploy:
        with unit_of_work(ctx) as session:
            for row, created in install_definitions(session, services, note="initial deployment"):
                status = "deployed" if created else "unchanged"
                console.print(f"{status}: {row.process_id} v{row.version}")


# -- definitions --------------------------------------------------------------------


@cli.group()
def definitions() -> None:
    """Validate, deploy and list process definitions."""


def _forms_for(path: Path, forms_dir: str | None) -> dict[str, str]:
    return read_forms_dir(Path(forms_dir) if forms_dir else path.parent / "forms")


@definitions.command("validate")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--forms",
    "forms_dir",
    type=click.Path(file_okay=False),
    help="Forms folder (default: ./forms beside it).",
)
@click.pass_context
@handle_errors
def definitions_validate(ctx: click.Context, path: Path, forms_dir: str | None) -> None:
    """Check a BPMN file of this machine without deploying it (the store is not read)."""
    # a local check of one's own file acts as nobody; validating on the server is for ops leads
    issues = _services(ctx, store=False).definitions.validate(
        path.read_bytes(), _forms_for(path, forms_dir), filename=path.name
    )
    if issues:
        err_console.print(f"[red]{_e(path.name)}: {len(issues)} problem(s)[/red]")
        for issue in issues:
            err_console.print(f"  - {_e(issue)}")
        sys.exit(1)
    console.print(f"[green]{_e(path.name)}: valid[/green]")


@definitions.command("deploy")
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@click.option("--note", default="", help="What changed in this version.")
@acting_as("Who deploys")
@click.pass_context
@handle_errors
def definitions_deploy(ctx: click.Context, paths: tuple[Path, ...], note: str, actor: str | None) -> None:
    """Deploy BPMN files, bundle folders or zips (default: every file of the definitions folder).

    A folder or a zip is one version: its main BPMN file with the processes it calls, its DMN
    tables and its forms (a SpiffArena process-model folder is one).
    """
    services = _services(ctx)
    with unit_of_work(ctx) as session:
        files = paths or tuple(sorted(services.definitions_dir.glob("*.bpmn")))
        results = [_deploy_path(session, services, p, note=note, actor=actor or "") for p in files]
        for row, created in results:
            status = "deployed" if created else "unchanged (identical to)"
            console.print(f"{status} {row.process_id} v{row.version}  [dim]{row.content_hash[:12]}[/dim]")


def _deploy_path(
    session: Session, services: Services, path: Path, *, note: str, actor: str
) -> tuple[DefinitionVersion, bool]:
    if path.is_dir():
        return deploy_folder(session, services, path, note=note, actor=actor)
    if path.suffix.lower() == ".zip":
        bundle = read_bundle([(path.name, path.read_bytes())])
        return deploy_bundle(session, services, bundle, note=note, actor=actor)
    return deploy_file(session, services, path, note=note, actor=actor)


@definitions.command("list")
@acting_as("Who reads (any user)")
@click.pass_context
@handle_errors
def definitions_list(ctx: click.Context, actor: str | None) -> None:
    """List deployed versions."""
    services = _services(ctx)
    with unit_of_work(ctx, write=False) as session:
        table = Table("process", "version", "name", "deployed", "by", "note", "hash")
        for row in all_versions(session, services, actor=actor or ""):
            table.add_row(
                row.process_id,
                str(row.version),
                _e(row.name),
                row.deployed_at.strftime("%Y-%m-%d %H:%M"),
                _e(row.deployed_by or ""),
                _e(row.note),
                row.content_hash[:12],
            )
        console.print(table)


# -- engagements and tasks ----------------------------------------------------------


def _parse_options(values: tuple[str, ...]) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for item in values:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"'{item}' is not KEY=VALUE", param_hint="--option")
        try:
            options[key] = json.loads(raw)
        except ValueError:
            options[key] = raw
    return options


@cli.command("start")
@click.option("--client", required=True, help="Client name.")
@click.option("--name", required=True, help="Engagement name.")
@click.option("--definition", "process_id", default="engagement", show_default=True, help="Process id.")
@click.option(
    "--option", "options", multiple=True, help="KEY=VALUE (JSON values), e.g. pm_joins_scoping=true."
)
@click.option("--am", "account_manager", help="Username of the engagement's account manager.")
@click.option("--pm", "project_manager", help="Username of the engagement's project manager.")
@click.option("--rm", "resource_manager", help="Username of its resource manager (optional).")
@acting_as("Who starts it")
@click.pass_context
@handle_errors
def start(
    ctx: click.Context,
    client: str,
    name: str,
    process_id: str,
    options: tuple[str, ...],
    account_manager: str | None,
    project_manager: str | None,
    resource_manager: str | None,
    actor: str | None,
) -> None:
    """Start an engagement with its team (each task goes to the team member for its lane)."""
    services = _services(ctx)
    with unit_of_work(ctx) as session:
        engagement = start_engagement(
            session,
            services,
            client=client,
            name=name,
            process_id=process_id,
            options=_parse_options(options),
            actor=actor or "",
            account_manager=account_manager,
            project_manager=project_manager,
            resource_manager=resource_manager,
        )
        console.print(f"started engagement {engagement.id}: {_e(client)} / {_e(name)} ({_e(process_id)})")
    _print_open_tasks(ctx, actor=actor or "", engagement_id=engagement.id)


@cli.command("engagements")
@acting_as("Who reads (any user)")
@click.pass_context
@handle_errors
def engagements(ctx: click.Context, actor: str | None) -> None:
    """List engagements."""
    with unit_of_work(ctx, write=False) as session:
        table = Table("id", "client", "name", "definition", "status", "stage")
        for e, inst in list_engagements(session, actor=actor or ""):
            table.add_row(
                str(e.id),
                _e(e.client),
                _e(e.name),
                e.process_id,
                inst.status,
                ", ".join(inst.active_stages or []),
            )
        console.print(table)


def _holder(assignee: str | None, claimed_by: str | None) -> str:
    """Who has a task: its assignee, and its claimer when that is someone else."""
    if claimed_by and claimed_by != assignee:
        return f"{_e(assignee or '—')} (claimed by {_e(claimed_by)})"
    return f"{_e(assignee or '')}{' (claimed)' if claimed_by else ''}"


def _print_open_tasks(
    ctx: click.Context,
    *,
    actor: str,
    lane: str | None = None,
    engagement_id: int | None = None,
    user: str | None = None,
) -> None:
    services = _services(ctx)
    with unit_of_work(ctx, write=False) as session:
        if user is not None:
            rows = my_tasks(session, services, user, actor=actor)
        else:
            rows = list_open_tasks(session, actor=actor, lane=lane, engagement_id=engagement_id)
        table = Table("engagement", "task id", "step", "lane", "stage", "due", "assignee")
        for task, e in rows:
            due = task.due_at.strftime("%Y-%m-%d %H:%M") if task.due_at else ""
            table.add_row(
                f"{e.id} {_e(e.client)}",
                task.task_id,
                f"{task.bpmn_id} — {_e(task.title)}",
                _e(task.lane or ""),
                task.stage or "",
                due,
                _holder(task.assignee, task.claimed_by),
            )
        console.print(table if rows else "no open tasks")


@cli.command("tasks")
@click.option("--lane", help="Only this lane (its pool), e.g. 'Account Management'.")
@click.option("--engagement", "engagement_id", type=int, help="Only this engagement.")
@click.option("--for", "user", help="Only the tasks this user holds or covers today.")
@acting_as("Who reads (any user)")
@click.pass_context
@handle_errors
def tasks(
    ctx: click.Context, lane: str | None, engagement_id: int | None, user: str | None, actor: str | None
) -> None:
    """List ready tasks (by lane, engagement or person)."""
    _print_open_tasks(ctx, actor=actor or "", lane=lane, engagement_id=engagement_id, user=user)


@cli.command("complete")
@click.argument("engagement_id", type=int)
@click.argument("task")
@click.option("--data", "data_text", default="{}", help="Form data as JSON, or @file.json.")
@acting_as("Who completes it")
@click.option("--on-behalf-of", "on_behalf_of", help="Complete it for this user (ops lead, admin).")
@click.option("--reason", help="Why you act on behalf of someone (kept in the history).")
@click.pass_context
@handle_errors
def complete(
    ctx: click.Context,
    engagement_id: int,
    task: str,
    data_text: str,
    actor: str | None,
    on_behalf_of: str | None,
    reason: str | None,
) -> None:
    """Complete TASK (task id or BPMN id) of an engagement with JSON data.

    Allowed for the task's claimer, else its assignee, their cover or a member of its lane's role.
    """
    if data_text.startswith("@"):
        data_text = Path(data_text[1:]).read_text(encoding="utf-8")
    try:
        data = json.loads(data_text)
    except ValueError as exc:
        raise click.BadParameter(f"not valid JSON: {exc}", param_hint="--data") from exc
    if not isinstance(data, dict):
        raise click.BadParameter("the form data must be a JSON object", param_hint="--data")
    services = _services(ctx)
    with unit_of_work(ctx) as session:
        result = complete_task(
            session,
            services,
            engagement_id,
            task,
            data,
            actor=actor or "",
            on_behalf_of=on_behalf_of,
            reason=reason,
        )
    console.print(
        f"completed {_e(task)}; engagement {engagement_id} is {result.status}"
        + (f" (ended at {result.end_event})" if result.end_event else "")
    )
    if result.status == "running":
        _print_open_tasks(ctx, actor=actor or "", engagement_id=engagement_id)


@cli.command("cancel")
@click.argument("engagement_id", type=int)
@click.option("--reason", required=True, help="Why it is cancelled (kept in the history).")
@acting_as("Who cancels it")
@click.pass_context
@handle_errors
def cancel(ctx: click.Context, engagement_id: int, reason: str, actor: str | None) -> None:
    """Cancel a running engagement; its open tasks are withdrawn."""
    services = _services(ctx)
    with unit_of_work(ctx) as session:
        cancel_engagement(session, services, engagement_id, actor=actor or "", reason=reason)
    console.print(f"cancelled engagement {engagement_id}")


@cli.command("show")
@click.argument("engagement_id", type=int)
@acting_as("Who reads (any user)")
@click.pass_context
@handle_errors
def show(ctx: click.Context, engagement_id: int, actor: str | None) -> None:
    """Show an engagement: stage, open tasks and history."""
    services = _services(ctx)
    with unit_of_work(ctx, write=False) as session:
        view, _version = engagement_detail(session, services, engagement_id, actor=actor or "")
        e, inst = view.engagement, view.instance
        console.print(f"[bold]{_e(e.client)} — {_e(e.name)}[/bold] (engagement {e.id})")
        console.print(
            f"definition {view.definition.process_id} v{view.definition.version}; status {inst.status}"
            + (f"; ended at {inst.end_event}" if inst.end_event else "")
        )
        console.print(f"stage: {', '.join(view.stages) or '—'}")
        if view.time is not None:
            console.print(
                f"business time: {view.time.agency_hours:.1f} h with the agency, "
                f"{view.time.client_hours:.1f} h waiting on the client"
            )
        team = ", ".join(f"{role.replace('_', ' ')} {user}" for role, user in sorted(view.team.items()))
        console.print(f"team: {_e(team or '—')}")
        table = Table("task id", "step", "lane", "due", "assignee", title="open tasks")
        for t in view.open_tasks:
            table.add_row(
                t.task_id,
                f"{t.bpmn_id} — {_e(t.title)}",
                _e(t.lane or ""),
                t.due_at.strftime("%Y-%m-%d %H:%M") if t.due_at else "",
                _holder(t.assignee, t.claimed_by),
            )
        console.print(table)
        if view.decisions:
            decisions = Table("when", "step", "decision", "by", "comment", title="decisions")
            for d in view.decisions:
                decisions.add_row(
                    d.at.strftime("%Y-%m-%d %H:%M"),
                    _e(view.step_name(d.step)),
                    _e(d.decision),
                    _e(d.actor or ""),
                    _e(d.comment or ""),
                )
            console.print(decisions)
        history = Table("when", "event", "step", "lane", "actor", "decision", "detail", title="history")
        for ev in view.history:
            history.add_row(
                ev.at.strftime("%Y-%m-%d %H:%M:%S"),
                ev.kind,
                ev.bpmn_id or "",
                _e(ev.lane or ""),
                _e(ev.actor or ""),
                _e(ev.decision or ""),
                _e(_describe(ev.detail)),
            )
        console.print(history)


def _describe(detail: dict[str, Any] | None) -> str:
    """An event's detail in a few words (assignments, team changes, cover, reasons)."""
    if not detail:
        return ""
    parts = []
    if "to" in detail and "from" in detail:
        parts.append(f"{detail['from'] or '—'} → {detail['to'] or '—'}")
    for role, change in (detail.get("changes") or {}).items():
        parts.append(f"{role.replace('_', ' ')}: {change.get('from') or '—'} → {change.get('to')}")
    for key, label in (
        ("on_behalf_of", "on behalf of"),
        ("covering_for", "covering for"),
        ("claimed_by", "claim of"),
        ("released_claim", "released claim of"),
        ("reason", "reason:"),
    ):
        if detail.get(key):
            parts.append(f"{label} {detail[key]}")
    return "; ".join(parts)


# -- serving -------------------------------------------------------------------------


def _serve(ctx: click.Context, host: str, port: int) -> None:
    obj = ctx.ensure_object(dict)
    settings = {"DATABASE_URL": obj["db_url"], "DEFINITIONS_DIR": obj.get("definitions_dir")}
    # the development server speaks plain http: a Secure cookie would never come back to it
    # (behind TLS, run the app under a real server, where SESSION_COOKIE_SECURE stays true)
    app = create_app({**settings, "SESSION_COOKIE_SECURE": False})
    app.run(host=host, port=port, debug=False, use_reloader=False)


@cli.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.pass_context
@handle_errors
def serve(ctx: click.Context, host: str, port: int) -> None:
    """Run the web pages (development server) on a store made by `baton init-db` (upgraded if older)."""
    _services(ctx).db.create_all()
    console.print(f"Baton is running at http://{host}:{port}/")
    _serve(ctx, host, port)


@cli.command("demo")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--seed-only", is_flag=True, help="Create the demo data and exit.")
@click.pass_context
@handle_errors
def demo(ctx: click.Context, host: str, port: int, seed_only: bool) -> None:
    """Create demo engagements across the stages (into an empty store) and run Baton."""
    services = _services(ctx, create=True)
    services.db.create_all()
    with unit_of_work(ctx) as session:
        created = seed_demo(session, services)
        users = [(u.username, u.display_name, ", ".join(sorted(u.role_names))) for u in list_users(session)]
    swept = services.deadline_sweeper().run_once()  # the replayed history's at-risk and late steps
    console.print(f"demo data: {len(created)} engagements created" if created else "demo data: already there")
    if swept:
        console.print(f"{swept} open step(s) at risk or past their deadline")
    console.print(f"database: {_e(services.db.url)}")
    table = Table("user", "name", "roles", title="demo users")
    for row in users:
        table.add_row(*(_e(v) for v in row))
    console.print(table)
    console.print(f"Each of them logs in with the password [bold]{DEMO_PASSWORD}[/bold] (demo data only).")
    console.print("At the command line act as one of them with --as: e.g. `baton tasks --for ana --as ana`,")
    console.print('`baton complete 3 pitch_outcome --as ana --data \'{"pitch_decision": "won"}\'`.')
    console.print("Scripts use the JSON API with a token: `baton tokens issue ana --name demo --as ana`.")
    if seed_only:
        return
    # the worker runs beside the pages so deadlines, timers and notifications move while you look
    timer_worker = _timer_worker(services)
    threading.Thread(target=timer_worker.run_forever, args=(5.0,), daemon=True, name="worker").start()
    console.print(f"\n[bold]Baton is running at http://{host}:{port}/[/bold] (with a timer worker)")
    console.print(f"The JSON API is described at http://{host}:{port}/api/docs.\n")
    try:
        _serve(ctx, host, port)
    finally:
        timer_worker.stop()


def _purge_logins(services: Services) -> int:
    with services.db.unit_of_work() as session:
        return purge_login_records(session, services)


def _timer_worker(services: Services) -> TimerWorker:
    sweeper = services.deadline_sweeper()
    # then e-mail what they caused, and forget old login failures and expired sessions
    sweeps = [sweeper.run_once, lambda: flush_outbox(services), lambda: _purge_logins(services)]
    return TimerWorker(services.db, services.runtime.fire_timers, sweeps=sweeps)


@cli.command("worker")
@click.option("--once", is_flag=True, help="Fire what is due now and exit (for cron).")
@click.option("--poll", default=1.0, show_default=True, type=float, help="Seconds between polls.")
@click.pass_context
@handle_errors
def worker(ctx: click.Context, once: bool, poll: float) -> None:
    """Fire due BPMN timers and move SLA states on. Run several on PostgreSQL; one on SQLite."""
    services = _services(ctx)
    services.db.create_all()
    services.warm_up()
    timer_worker = _timer_worker(services)
    if once:
        stats = timer_worker.run_once()
        console.print(
            f"fired {stats.fired} timer(s) on {stats.instances} instance(s); {stats.failures} failure(s); "
            f"{stats.swept} deadline change(s) and e-mail(s)"
        )
        for error in stats.errors:
            err_console.print(f"  - {_e(error)}")
        sys.exit(1 if stats.failures else 0)
    console.print(f"timer worker running on {_e(services.db.url)} (Ctrl+C to stop)")
    try:
        timer_worker.run_forever(poll)
    except KeyboardInterrupt:
        timer_worker.stop()


definitions.add_command(cli_migration.migrate)
for _command in (
    *cli_people.COMMANDS,
    *cli_reports.COMMANDS,
    cli_notifications.notifications,
    cli_compact.compact,
):
    cli.add_command(_command)
store_options(cli)  # `--db` and `--definitions` after any command name too


def main() -> None:
    """Entry point of the ``baton`` console script."""
    cli(obj={})


if __name__ == "__main__":
    main()
