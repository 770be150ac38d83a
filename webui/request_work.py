"""One unit of work per API request: the caller is identified in it, and the use case runs in it.

On PostgreSQL every transaction costs round trips of its own (checkout, BEGIN, ROLLBACK or
COMMIT); identifying the caller in a transaction of its own would double them. So an API
request opens its unit of work first thing -- a writing one for POST, PUT, PATCH and DELETE --,
looks the token or session up in it, and hands it to the view (`webui.api.common.work`), whose
normal end commits it. A request that never reaches its view (refused, or its input invalid)
has it rolled back when the request is torn down.
"""

from __future__ import annotations

from contextlib import AbstractContextManager

from flask import Flask, g
from sqlalchemy.orm import Session

from workflows.services import Services


class RequestWork:
    """A unit of work opened for a request, ended exactly once."""

    def __init__(self, services: Services, *, write: bool) -> None:
        self.write = write
        self._context: AbstractContextManager[Session] = services.db.unit_of_work(write=write)
        self.session = self._context.__enter__()
        self.open = True

    def finish(self, error: BaseException | None = None) -> None:
        """Commit (a writing unit of work that ended well) or roll back, and close."""
        if not self.open:
            return
        self.open = False
        if error is None:
            self._context.__exit__(None, None, None)
        else:  # the unit of work rolls back; the caller raises the error on
            self._context.__exit__(type(error), error, error.__traceback__)


def begin(services: Services, *, write: bool) -> Session:
    """Open the request's unit of work."""
    work = RequestWork(services, write=write)
    g.request_work = work
    return work.session


def current() -> RequestWork | None:
    """The request's unit of work, if one was opened and is still open."""
    work: RequestWork | None = g.get("request_work")
    return work if work is not None and work.open else None


def _teardown(error: BaseException | None) -> None:
    work: RequestWork | None = g.get("request_work")
    if work is not None and work.open:
        work.finish(error or _NotReached())


class _NotReached(Exception):
    """The request ended before its view used the unit of work: nothing of it is kept."""


def init_app(app: Flask) -> None:
    """End every request's unit of work when the request is torn down."""
    app.teardown_request(_teardown)
