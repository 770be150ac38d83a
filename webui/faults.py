"""Faults as clear answers, never a bare 500: a busy or full store, a body too large or too deep,
ids past what the database holds.

* **Store busy** (SQLite: another writer past the busy timeout, `engine.db.SQLITE_BUSY_TIMEOUT_MS`;
  PostgreSQL: a lock not available): 503 with ``Retry-After``.
* **Store full** (no space left on the disk or in the database): 507.
* **Body too large** (over ``MAX_CONTENT_LENGTH``, default 8 MiB): 413.
* **JSON nested deeper than `MAX_JSON_DEPTH`**: 400, before any schema walks it recursively.
* **Path ids** of pages past 2^63 - 1 match no route: 404 (SQLite cannot even compare them).

The API answers problems (``application/problem+json``); pages answer an error page in the
app's layout. The request's unit of work was rolled back when the fault came: nothing is half
written.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, render_template, request
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException, InternalServerError, RequestEntityTooLarge
from werkzeug.routing import IntegerConverter

from engine.db import BUSY, FULL, store_fault

from .api.problems import problem

MAX_REQUEST = 8 * 1024 * 1024  # a BPMN document may be 5 MiB, with its forms beside it
MAX_JSON_DEPTH = 64
BIGINT_MAX = 2**63 - 1
RETRY_AFTER = 2  # seconds: a busy store is usually free again at once


class PageId(IntegerConverter):
    """Flask's ``int`` converter, bounded by what a BIGINT column holds (larger ids: 404)."""

    def __init__(self, map: Any, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", BIGINT_MAX)
        super().__init__(map, *args, **kwargs)


def init_app(app: Flask) -> None:
    """Bound the body and path ids, and answer store faults; call before blueprints register.

    Settings: ``MAX_CONTENT_LENGTH`` (bytes, env ``BATON_MAX_CONTENT_LENGTH``; default 8 MiB —
    Flask's own default is no limit at all).
    """
    if app.config.get("MAX_CONTENT_LENGTH") is None:
        app.config["MAX_CONTENT_LENGTH"] = MAX_REQUEST
    app.url_map.converters["int"] = PageId
    app.before_request(_refuse_deep_json)
    app.register_error_handler(OperationalError, _store_fault)
    app.register_error_handler(RequestEntityTooLarge, _too_large)
    app.register_error_handler(RecursionError, _too_deep_error)


def _is_api() -> bool:
    return request.path.startswith("/api/")


def _answer(status: int, title: str, detail: str, *, kind: str, retry_after: int | None = None) -> Any:
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
    if _is_api():
        return problem(status, detail, kind=kind, headers=headers)
    try:
        page = render_template(
            "error.html", status=status, title=title, message=detail, retry_after=retry_after
        )
    except Exception:  # the layout itself needs the store: say it plainly
        page = f"{title}: {detail}"
    return Response(page, status=status, headers=headers, mimetype="text/html")


def _store_fault(exc: OperationalError) -> Any:
    fault = store_fault(exc)
    if fault == BUSY:
        return _answer(
            503,
            "Busy",
            "the store is busy with other changes; nothing was saved, try again in a moment",
            kind="store-busy",
            retry_after=RETRY_AFTER,
        )
    if fault == FULL:
        return _answer(
            507,
            "The store is full",
            "the store has no space left; nothing was saved. Tell the operator",
            kind="store-full",
        )
    return InternalServerError() if not _is_api() else problem(500, None)


def _too_large(error: HTTPException) -> Any:
    limit = request.max_content_length
    detail = f"the request body is over {limit // 1024} KiB" if limit else "the request body is too large"
    return _answer(413, "Too large", f"{detail}; nothing was saved", kind="too-large")


def _too_deep(detail: str) -> Any:
    return _answer(400, "Nested too deeply", detail, kind="bad-request")


def _too_deep_error(_exc: RecursionError) -> Any:
    return _too_deep(f"the input is nested too deeply (at most {MAX_JSON_DEPTH} levels)")


def _refuse_deep_json() -> Any:
    """Parse a JSON body once, here, and refuse it when nested deeper than `MAX_JSON_DEPTH`."""
    if not request.is_json or not request.content_length:
        return None
    try:
        body = request.get_json(silent=True)
    except RecursionError:
        return _too_deep(f"the JSON body is nested too deeply (at most {MAX_JSON_DEPTH} levels)")
    if _depth_over(body, MAX_JSON_DEPTH):
        return _too_deep(f"the JSON body is nested deeper than {MAX_JSON_DEPTH} levels")
    return None


def _depth_over(value: Any, limit: int) -> bool:
    """Whether `value` nests lists and objects deeper than `limit` (iterative: no recursion)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > limit:
                return True
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False
