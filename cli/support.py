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
from rich.console import Console
from rich.markup import escape
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from engine.errors import DefinitionError, EngineError, FormValidationError
from workflows.bootstrap import build_services
from workflows.people.permissions import PermissionDenied
from workflows.services import Services

console = Console()
err_console = Console(stderr=True)


def _e(value: object) -> str:
    """Text from data or errors, escaped so rich prints it as is (not as markup)."""
    return escape(str(value))


def _services(ctx: click.Context) -> Services:
    obj = ctx.ensure_object(dict)
    if "services" not in obj:
        url = obj["db_url"]
        database = make_url(url).database
        if url.startswith("sqlite") and database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        obj["services"] = build_services(url, definitions_dir=obj.get("definitions_dir"))
    return obj["services"]


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


def acting_as(what: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """The ``--as USER`` option of a command that acts as someone (env ``BATON_USER``, else ``$USER``).

    The use case the command calls checks that USER is an active Baton user allowed to act.
    """
    return click.option(
        "--as", "actor", envvar="BATON_USER", default=os.environ.get("USER"), help=f"{what} (a username)."
    )
