"""One unit of work per request (API and pages): the caller is identified in it, the use case runs in it.

On PostgreSQL every transaction costs round trips of its own (checkout, BEGIN, ROLLBACK or
COMMIT); identifying the caller in a transaction of its own would double them. So an API
request opens its unit of work first thing (`webui.auth`) -- a writing one for POST, PUT, PATCH
and DELETE --, looks the token or session up in it, and hands it to the view (`work`), whose
normal end commits it. A request that never reaches its view (refused, or its input invalid)
has it rolled back when the request is torn down.

A page whose use case refused (invalid form, stale version) has had the request's work rolled
back; to show the form again with what was typed, `work` then opens a read-only one to re-read.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager

from flask import Flask, g, request
from sqlalchemy.orm import Session

from workflows.services import Services

from .services import get_services


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


@contextmanager
def work(*, write: bool = False) -> Iterator[tuple[Session, Services]]:
    """The request's unit of work, with the services, for a page or API view.

    A normal end of a writing block commits the changes; a reading one stays open until the
    request is torn down, so the page's template reads in it too. An exception rolls the work
    back (and goes on to the app's error handlers); a read-only block after that rollback gets a
    fresh unit of work, to show the refusal.

    Args:
        write: the block changes something (only POST, PUT, PATCH and DELETE requests may).

    Raises:
        RuntimeError: no unit of work was opened for the request, or a reading request writes.
    """
    services = get_services()
    ongoing = current()
    if ongoing is None:
        if g.get("request_work") is None:
            raise RuntimeError("a view runs in its request's unit of work; none was opened")
        if write:
            raise RuntimeError("the request's unit of work ended: nothing more may be written")
        begin(services, write=False)  # re-reading after a refusal, to show it
        ongoing = current()
        assert ongoing is not None
    if write and not ongoing.write:
        raise RuntimeError(f"a {request.method} request may not change anything")
    try:
        yield ongoing.session, services
    except BaseException as exc:
        ongoing.finish(exc)
        raise
    if ongoing.write:
        ongoing.finish()  # commit now: the answer reports what is kept
    # a reading unit of work stays open for the rest of the request (the page's template, the
    # nav badge read in it) and ends at teardown


def _teardown(error: BaseException | None) -> None:
    work: RequestWork | None = g.get("request_work")
    if work is not None and work.open:
        work.finish(error or _NotReached())


class _NotReached(Exception):
    """The request ended before its view used the unit of work: nothing of it is kept."""


def init_app(app: Flask) -> None:
    """End every request's unit of work when the request is torn down."""
    app.teardown_request(_teardown)
