"""What every API resource shares: the unit of work, the caller, versions, pages, documented errors."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import request
from flask_smorest import Blueprint
from marshmallow import Schema, ValidationError, fields, validate
from werkzeug.exceptions import BadRequest
from werkzeug.routing import IntegerConverter

from workflows.engagements.versions import StaleVersion
from workflows.views.inbox import MAX_PAGE, MAX_PER_PAGE

from ..auth import current_user
from ..request_work import work
from .problems import MEDIA_TYPE, PROBLEM_TYPES, ProblemSchema

__all__ = ["work"]  # the request's unit of work (`webui.request_work.work`), shared with the pages

BIGINT_MAX = 2**63 - 1
INT_MAX = 2**31 - 1


class IdConverter(IntegerConverter):
    """A non-negative id that fits the database's column (larger numbers match no route: 404)."""

    def __init__(self, map: Any, max: int = BIGINT_MAX) -> None:
        super().__init__(map, max=max)


def id_parameter_schema(converter: IdConverter) -> dict[str, Any]:
    """How an `IdConverter` path parameter appears in the OpenAPI document."""
    return {"type": "integer", "minimum": 0, "maximum": converter.max}


def actor() -> str:
    """The username of the person making the request."""
    return current_user().username


def expected_version() -> str | None:
    """The engagement version an ``If-Match`` header insists on (None: no header, or ``*``).

    Raises:
        StaleVersion: only weak tags were sent (they never match an If-Match).
        BadRequest: several tags were sent.
    """
    if "If-Match" not in request.headers:
        return None
    tags = request.if_match
    if tags.star_tag:
        return None
    strong = tags.as_set()
    if len(strong) > 1:
        raise BadRequest("send one ETag in If-Match")
    if not strong:
        raise StaleVersion("If-Match needs the strong ETag the engagement was read with")
    return next(iter(strong))


def etag(version: str) -> dict[str, str]:
    """The ETag header for an engagement version."""
    return {"ETag": f'"{version}"'}


ETAG_HEADER = {
    "ETag": {"description": "the engagement's version, for If-Match", "schema": {"type": "string"}}
}
IF_MATCH = {
    "in": "header",
    "name": "If-Match",
    "required": False,
    "schema": {"type": "string"},
    "description": "the ETag the engagement was read with: the change is refused with 412 if it moved on",
}


def problems(blp: Blueprint, *statuses: int) -> Callable[[Any], Any]:
    """Document the problem responses a route may give (401 is documented everywhere)."""

    def decorate(func: Any) -> Any:
        for status in sorted({401, *statuses}):
            kinds = [k for k, (s, _t) in PROBLEM_TYPES.items() if s == status]
            description = "; ".join(PROBLEM_TYPES[k][1] for k in kinds) or "error"
            func = blp.alt_response(
                status, schema=ProblemSchema, content_type=MEDIA_TYPE, description=description
            )(func)
        return func

    return decorate


def _not_blank(value: str) -> None:
    if not value.strip():
        raise ValidationError("cannot be blank")


def _no_nul(value: str) -> None:
    if "\x00" in value:
        raise ValidationError("NUL characters are not accepted")


def text(
    *, max_length: int, min_length: int = 0, required: bool = False, blank: bool = True, **kwargs: Any
) -> fields.String:
    """A string field bounded by its column's length, without NUL characters.

    Args:
        max_length: the most characters it takes.
        min_length: the fewest.
        required: it must be there.
        blank: it may be empty or blank (False: at least one character that is not a space).
        **kwargs: passed to the field.
    """
    checks: list[Any] = [validate.Length(min=min_length, max=max_length), _no_nul]
    if not blank:
        checks.append(_not_blank)
    return fields.String(required=required, validate=checks, **kwargs)


class PageArgs(Schema):
    """Which page of a list."""

    page = fields.Integer(load_default=1, validate=validate.Range(1, MAX_PAGE))
    per_page = fields.Integer(load_default=50, validate=validate.Range(1, MAX_PER_PAGE))


class PageInfo(Schema):
    """Where a page is in its list."""

    page = fields.Integer(required=True)
    per_page = fields.Integer(required=True)
    has_more = fields.Boolean(required=True, metadata={"description": "a next page has items"})


def page_body(page: Any, items: list[Any]) -> dict[str, Any]:
    """A page's items with its position (see `PageInfo`)."""
    return {"items": items, "page": page.page, "per_page": page.per_page, "has_more": page.has_more}
