"""What every ``baton`` command shares: the services, units of work, output and error handling."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource
from rich.console import Console
from rich.markup import escape
from sqlalchemy import inspect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from engine.errors import DefinitionError, EngineError, FormValidationError
from workflows.bootstrap import build_services
from workflows.models import User
from workflows.people.permissions import PermissionDenied, has_admin
from workflows.services import Services

console = Console()
err_console = Console(stderr=True)


def _e(value: object) -> str:
    """Text from data or errors, escaped so rich prints it as is (not as markup)."""
    return escape(str(value))


def _services(ctx: click.Context, *, create: bool = False, store: bool = True) -> Services:
    """Baton's services on the store `--db` (or ``BATON_DATABASE_URL``) names.

    Args:
        ctx: the command's context.
        create: the command creates the store (``init-db``, ``demo``); any other command refuses
            a store without Baton's tables, naming it, and creates nothing (no empty SQLite file).
        store: the command reads or writes the store (``definitions validate`` does not).
    """
    obj = ctx.find_root().ensure_object(dict)
    if "services" not in obj:
        url = obj["db_url"]
        database = make_url(url).database
        on_file = url.startswith("sqlite") and bool(database) and database != ":memory:"
        if on_file and store and not create and not Path(str(database)).exists():
            _no_store(url)
        if on_file and create:
            Path(str(database)).parent.mkdir(parents=True, exist_ok=True)
        obj["services"] = build_services(url, definitions_dir=obj.get("definitions_dir"))
        if store and not create and not inspect(obj["services"].db.engine).has_table(User.__tablename__):
            obj["services"].db.dispose()
            del obj["services"]
            _no_store(url)
    return obj["services"]


def _no_store(url: str) -> None:
    shown = make_url(url).render_as_string(hide_password=True)
    err_console.print(
        f"[red]error:[/red] no Baton store at {_e(shown)}: run `baton init-db` first "
        "(with the same --db or BATON_DATABASE_URL); nothing was created"
    )
    sys.exit(1)


def _set_store(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    if value:
        ctx.find_root().ensure_object(dict)["db_url"] = value


def _set_definitions(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    if value:
        ctx.find_root().ensure_object(dict)["definitions_dir"] = value


STORE_HELP = "SQLAlchemy URL of the store (env BATON_DATABASE_URL); also accepted before the command."


def store_options(group: click.Group) -> None:
    """Give every command under `group` the ``--db`` and ``--definitions`` options, so they may
    come after the command name as well as before it (``baton tasks --db URL`` = ``baton --db URL tasks``).
    """
    for command in group.commands.values():
        if isinstance(command, click.Group):
            store_options(command)
            if not command.invoke_without_command:  # a group that is itself a command takes them too
                continue
        names = {p.name for p in command.params}
        if "store_url" not in names:
            command.params.append(
                click.Option(["--db", "store_url"], expose_value=False, callback=_set_store, help=STORE_HELP)
            )
        if "definitions_folder" not in names:
            command.params.append(
                click.Option(
                    ["--definitions", "definitions_folder"],
                    expose_value=False,
                    callback=_set_definitions,
                    type=click.Path(file_okay=False),
                    help="Folder of BPMN, form and calendar files (env BATON_DEFINITIONS_DIR).",
                )
            )


def handle_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn domain errors into a readable message and exit status 1."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except FormValidationError as exc:
            err_console.print(f"[red]error:[/red] the form {_e(exc.form)} is invalid:")
            for e in exc.errors:
                err_console.print(f"  - {_e(e.path or '(form)')}: {_e(e.message)}")
            sys.exit(1)
        except DefinitionError as exc:
            err_console.print("[red]error:[/red] the definition is refused:")
            for issue in exc.issues:
                err_console.print(f"  - {_e(issue)}")
            sys.exit(1)
        except PermissionDenied as exc:
            err_console.print(f"[red]refused:[/red] {_e(exc)}")
            sys.exit(1)
        except SQLAlchemyError as exc:
            detail = getattr(exc, "orig", None) or exc
            err_console.print(f"[red]database error:[/red] {_e(str(detail))}")
            sys.exit(1)
        except (EngineError, ValueError) as exc:
            err_console.print(f"[red]error:[/red] {_e(exc)}")
            sys.exit(1)

    return wrapper


@contextmanager
def unit_of_work(ctx: click.Context, write: bool = True) -> Iterator[Any]:
    """A session of the configured database."""
    services = _services(ctx)
    with services.db.unit_of_work(write=write) as session:
        yield session


def setup_actor(ctx: click.Context, actor: str | None) -> str | None:
    """Who acts in a user-administration command: `--as` when given; ``BATON_USER`` once the
    store has an admin (before that, whoever holds the database sets it up, as nobody)."""
    if actor is None or ctx.get_parameter_source("actor") is not ParameterSource.ENVIRONMENT:
        return actor
    with _services(ctx).db.unit_of_work(write=False) as session:
        return actor if has_admin(session) else None


def acting_as(what: str, *, setup: bool = False) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """The ``--as USER`` option of a command that acts as someone (env ``BATON_USER``, else ``$USER``).

    The use case the command calls checks that USER is an active Baton user allowed to act.

    Args:
        what: who acts, for the help text.
        setup: user administration, which may run as nobody while the store has no admin yet:
            USER comes from ``--as`` or ``BATON_USER`` only (not ``$USER``).
    """
    if setup:
        return click.option(
            "--as",
            "actor",
            envvar="BATON_USER",
            default=None,
            help=f"{what} (a username; env BATON_USER). Not needed while the store has no admin yet.",
        )
    return click.option(
        "--as",
        "actor",
        envvar="BATON_USER",
        default=os.environ.get("USER"),
        help=f"{what} (a username; env BATON_USER, default $USER).",
    )
