"""Wire the API into the app: flask-smorest, its OpenAPI document, the docs page, error mapping."""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, request
from flask_smorest import Api
from sqlalchemy.exc import DataError
from werkzeug.exceptions import HTTPException, InternalServerError, default_exceptions

from engine.errors import EngineError

from ..error_pages import error_page
from . import definitions, docs, engagements, migration, notifications, reports, tasks, users
from .common import IdConverter, id_parameter_schema
from .problems import ProblemSchema, for_domain_error, for_http_error, problem

BLUEPRINTS = (
    definitions.blp,
    migration.blp,
    engagements.blp,
    notifications.blp,
    tasks.blp,
    users.blp,
    reports.blp,
)


class BatonApi(Api):
    """flask-smorest's Api, answering errors under /api with RFC 9457 problems."""

    ERROR_SCHEMA = ProblemSchema

    def handle_http_exception(self, error: HTTPException) -> Any:
        """Problems for the API; pages keep Flask's own error pages."""
        if _is_api():
            return for_http_error(error)
        return error_page(error)


def _is_api() -> bool:
    return request.path.startswith("/api/")


def init_api(app: Flask) -> Api:
    """Register the API's blueprints, its OpenAPI document (/api/openapi.json) and docs page."""
    app.config.update(
        API_TITLE="Baton",
        API_VERSION="v1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/api",
        OPENAPI_JSON_PATH="openapi.json",
        API_SPEC_OPTIONS={
            "info": {
                "description": "Agency engagements on BPMN. Every route needs a user: a personal API token "
                "('Authorization: Bearer <token>', from `baton tokens issue` or POST /api/v1/me/tokens) or "
                "the session cookie of a logged-in browser (writes then carry the X-CSRFToken header). "
                "Errors are RFC 9457 problems (application/problem+json).",
            },
            "security": [{"bearerAuth": []}, {"sessionCookie": []}],
            "components": {
                "securitySchemes": {
                    "bearerAuth": {"type": "http", "scheme": "bearer", "description": "a personal API token"},
                    "sessionCookie": {"type": "apiKey", "in": "cookie", "name": "baton_session"},
                }
            },
        },
    )
    app.url_map.converters["id"] = IdConverter
    api = BatonApi(app)
    api.register_converter(IdConverter, id_parameter_schema)
    for blp in BLUEPRINTS:
        api.register_blueprint(blp)
    app.register_blueprint(docs.bp)
    app.before_request(_refuse_nul)
    app.register_error_handler(EngineError, _domain_error)
    app.register_error_handler(ValueError, _domain_error)
    app.register_error_handler(DataError, _data_error)
    return api


def _refuse_nul() -> Response | None:
    """A NUL character in the path is nobody's name or id (PostgreSQL cannot even compare it)."""
    if _is_api() and "\x00" in request.path:
        return problem(400, "NUL characters are not accepted", kind="bad-request")
    return None


def _domain_error(exc: Exception) -> Any:
    """A use case refused: the matching problem (API) or error page (pages)."""
    response = for_domain_error(exc)
    if response is None:
        return for_http_error(InternalServerError()) if _is_api() else InternalServerError()
    if _is_api():
        return response
    return error_page(default_exceptions.get(response.status_code, InternalServerError)(), str(exc))


def _data_error(exc: DataError) -> Response | HTTPException:
    """The database refused a value (too long, out of range, a NUL character): the input's fault."""
    if not _is_api():
        return error_page(default_exceptions[400]())
    first_line = str(getattr(exc, "orig", exc)).splitlines()[0]
    return problem(422, f"a value does not fit: {first_line}", kind="invalid")
