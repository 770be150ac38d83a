"""The editor's file routes: "Open file…" sends the file bytes here and gets them decoded.

POST /definitions/open (multipart, field ``files``: one or several files, or a zip; CSRF in
the ``X-CSRFToken`` header): ops leads only, checked by the use case. The answer is JSON:
``{main, xml, bpmn: {name: xml}, dmn: {name: xml}, forms: {name: json}, ignored: [names]}``;
an unreadable file is a 400 ``{error}`` naming it.
"""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from engine.bundles import BundleError
from workflows.definitions.bundles import open_files
from workflows.people.permissions import PermissionDenied

from .auth import current_user
from .request_work import work

bp = Blueprint("definition_files", __name__)


def _error(status: int, message: str) -> Response:
    response = jsonify({"error": message})
    response.status_code = status
    return response


@bp.post("/definitions/open")
def open_definition_files() -> Response:
    """Decode the uploaded files into what the editor opens (nothing is stored)."""
    files = [(u.filename or "upload", u.read()) for u in request.files.getlist("files")]
    try:
        with work() as (session, _svc):
            bundle = open_files(session, files, actor=current_user().username)
    except PermissionDenied as exc:
        return _error(403, str(exc))
    except BundleError as exc:
        return _error(400, str(exc))
    if not bundle.main:
        return _error(400, "choose a BPMN diagram (.bpmn), with its .dmn tables and .json forms, or a zip")
    return jsonify(
        {
            "main": bundle.main,
            "xml": bundle.main_xml,
            "bpmn": bundle.bpmn,
            "dmn": bundle.dmn,
            "forms": bundle.forms,
            "ignored": bundle.ignored,
        }
    )
