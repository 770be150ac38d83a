"""Errors as RFC 9457 problem details (``application/problem+json``), one format for the whole API.

A problem has a ``type`` (a link to its explanation on the docs page), a ``title`` (the same for
every problem of the type), the ``status``, a ``detail`` for this occurrence and, for invalid
input (422), ``errors``: one entry per failing field, with a JSON pointer into the request.
"""

from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from flask import Response, json
from marshmallow import Schema, fields
from werkzeug.exceptions import HTTPException

from engine.errors import (
    ConflictError,
    DefinitionError,
    FormValidationError,
    NotFoundError,
    PayloadTooLargeError,
    ScriptLimitExceededError,
    ScriptsUnavailableError,
    TaskNotReadyError,
    WorkflowExecutionError,
)
from workflows.engagements.versions import StaleVersion
from workflows.people.permissions import PermissionDenied

MEDIA_TYPE = "application/problem+json"
DOCS = "/api/docs#problem-"

# type slug -> (status, title): the problems the API documents
PROBLEM_TYPES: dict[str, tuple[int, str]] = {
    "bad-request": (400, "The request is malformed"),
    "rejected": (400, "The request was refused as it is"),
    "unauthenticated": (401, "Authentication is required"),
    "forbidden": (403, "You may not do this"),
    "not-found": (404, "Not found"),
    "method-not-allowed": (405, "Method not allowed"),
    "conflict": (409, "The resource changed or is in the wrong state"),
    "task-not-open": (409, "The task is not open any more"),
    "stale-version": (412, "The engagement changed since you read it"),
    "unsupported-media-type": (415, "Unsupported media type"),
    "invalid": (422, "The request has invalid fields"),
    "invalid-form": (422, "The task's form data is invalid"),
    "invalid-definition": (422, "The definition is refused"),
    "workflow-failed": (422, "The workflow could not run with this input"),
    "script-limit": (422, "A script or expression of the workflow went past the sandbox's limits"),
    "too-large": (413, "The request is larger than Baton accepts"),
    "too-many-attempts": (429, "Too many failed attempts"),
    "scripts-busy": (503, "The workflow's scripts cannot run right now"),
    "store-busy": (503, "The store is busy"),
    "store-full": (507, "The store has no space left"),
}


class FieldErrorSchema(Schema):
    """One failing field."""

    pointer = fields.String(
        required=True, metadata={"description": "JSON pointer to the field, e.g. /data/pitch_date"}
    )
    location = fields.String(metadata={"description": "where the field was: json, query, path, form, bpmn"})
    detail = fields.String(required=True, metadata={"description": "what is wrong with it"})


class ProblemSchema(Schema):
    """An RFC 9457 problem document."""

    type = fields.String(required=True, metadata={"description": "link to the problem type's description"})
    title = fields.String(required=True)
    status = fields.Integer(required=True)
    detail = fields.String()
    errors = fields.List(fields.Nested(FieldErrorSchema), metadata={"description": "the failing fields"})


def problem(
    status: int,
    detail: str | None = None,
    *,
    kind: str | None = None,
    errors: list[dict[str, str]] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """A problem+json response."""
    if kind is not None and kind in PROBLEM_TYPES:
        title = PROBLEM_TYPES[kind][1]
        type_uri = DOCS + kind
    else:
        title = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
        type_uri = "about:blank"
    body: dict[str, Any] = {"type": type_uri, "title": title, "status": status}
    if detail:
        body["detail"] = detail
    if errors is not None:
        body["errors"] = errors
    response = Response(json.dumps(body), status=status, mimetype=MEDIA_TYPE)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def _kind_for_status(status: int) -> str | None:
    return next((k for k, (s, _t) in PROBLEM_TYPES.items() if s == status), None)


def for_domain_error(exc: Exception) -> Response | None:
    """The problem for an error a use case raised on purpose (None: not one of those)."""
    if isinstance(exc, PermissionDenied):
        return problem(403, str(exc), kind="forbidden")
    if isinstance(exc, NotFoundError):
        return problem(404, str(exc), kind="not-found")
    if isinstance(exc, StaleVersion):
        return problem(412, str(exc), kind="stale-version")
    if isinstance(exc, TaskNotReadyError):
        return problem(409, str(exc), kind="task-not-open")
    if isinstance(exc, ConflictError):
        return problem(409, str(exc), kind="conflict")
    if isinstance(exc, PayloadTooLargeError):
        return problem(413, str(exc), kind="too-large")
    if isinstance(exc, FormValidationError):
        errors = [
            {
                "pointer": "/" + "/".join(part for part in (exc.root, e.path) if part),
                "location": "json",
                "detail": e.message,
            }
            for e in exc.errors
        ]
        return problem(422, f"the form {exc.form} is invalid", kind="invalid-form", errors=errors)
    if isinstance(exc, DefinitionError):
        errors = [
            {
                "pointer": f"/bpmn#{i.element_id}" if i.element_id else "/bpmn",
                "location": "bpmn",
                "detail": i.message,
                "code": i.code,
                "name": i.element_name,
                "hint": i.hint,
            }
            for i in exc.issues
        ]
        return problem(
            422, f"{len(errors)} problem(s) in the definition", kind="invalid-definition", errors=errors
        )
    if isinstance(exc, ScriptLimitExceededError):
        return problem(422, str(exc), kind="script-limit")
    if isinstance(exc, ScriptsUnavailableError):
        return problem(503, str(exc), kind="scripts-busy", headers={"Retry-After": "1"})
    if isinstance(exc, WorkflowExecutionError):
        return problem(422, str(exc), kind="workflow-failed")
    if isinstance(exc, ValueError):  # a use case refused an argument (blank reason, unfit assignee...)
        return problem(400, str(exc), kind="rejected")
    return None


def for_http_error(error: HTTPException) -> Response:
    """The problem for an HTTP error (webargs' 422 included: its messages become `errors`)."""
    status = error.code or 500
    data = getattr(error, "data", None) or {}
    messages = data.get("messages") or data.get("errors")
    headers = dict(data.get("headers") or {})
    allowed = getattr(error, "valid_methods", None)
    if status == 405 and allowed:
        headers["Allow"] = ", ".join(allowed)
    if status == 422 and isinstance(messages, Mapping):
        return problem(
            422, "some fields are invalid", kind="invalid", errors=flatten(messages), headers=headers
        )
    if status == 400 and isinstance(messages, Mapping):
        detail = "; ".join(e["detail"] for e in flatten(messages)) or error.description
        return problem(400, detail, kind="bad-request", headers=headers)
    detail = data.get("message") or (error.description if status < 500 else None)
    return problem(status, detail, kind=_kind_for_status(status), headers=headers)


def flatten(messages: Mapping[str, Any]) -> list[dict[str, str]]:
    """webargs/marshmallow messages ({location: {field: [msg] | {...}}}) as a list of field errors."""
    out: list[dict[str, str]] = []

    def walk(location: str, path: list[str], node: Any) -> None:
        if isinstance(node, Mapping):
            for key, child in node.items():
                segment = [] if key == "_schema" else [str(key).replace("~", "~0").replace("/", "~1")]
                walk(location, path + segment, child)
        elif isinstance(node, list | tuple):
            for item in node:
                if isinstance(item, Mapping | list | tuple):
                    walk(location, path, item)
                else:
                    out.append({"pointer": "/" + "/".join(path), "location": location, "detail": str(item)})
        else:
            out.append({"pointer": "/" + "/".join(path), "location": location, "detail": str(node)})

    for location, node in messages.items():
        walk(str(location), [], node)
    return out
