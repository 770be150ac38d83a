"""Diagram pages and their JSON: the engagement viewer, definition versions, and the editor.

Who may use what (every route needs a login: `webui.auth` refuses the anonymous first):

- viewing (GET: engagement diagram, definitions list, a version, its BPMN): everyone logged in;
- editing (GET /definitions/<id>/edit, /definitions/new, /definitions/<id>/source; POST
  /definitions/validate and /definitions/deploy): ops leads, checked by the service layer
  (`workflows.access`). The POST routes take JSON with the session's CSRF token in a header.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, abort, jsonify, redirect, render_template, request, url_for
from marshmallow import Schema, ValidationError, fields, validate
from werkzeug.wrappers import Response as BaseResponse

from engine.errors import ConflictError, DefinitionError, LintIssue, NotFoundError
from workflows.access import VALIDATE_DEFINITION, authorize
from workflows.catalog import deploy_definition, validate_definition
from workflows.diagrams import (
    VersionSummary,
    check_process_id,
    diagram_state,
    editor_source,
    editor_vocabulary,
    engagements_on,
    get_version,
    list_versions,
)
from workflows.people import PermissionDenied

from .auth import current_user
from .services import get_services

bp = Blueprint("diagrams", __name__)

# a little over the registry's own limit, so its clear message is what the user sees
MAX_BODY_BYTES = 8 * 1024 * 1024


class ValidateBody(Schema):
    """POST /definitions/validate: the BPMN document to check."""

    xml = fields.String(required=True, validate=validate.Length(min=1))


def _said_something(note: str) -> None:
    if not note.strip():
        raise ValidationError("say what changed in this version")


class DeployBody(ValidateBody):
    """POST /definitions/deploy: the document and what changed (kept with the version)."""

    note = fields.String(required=True, validate=_said_something)


def _issues_json(issues: list[LintIssue]) -> list[dict[str, Any]]:
    return [{"element_id": i.element_id, "message": i.message, "code": i.code} for i in issues]


def _json_body(schema: Schema) -> dict[str, Any]:
    """The request's JSON body loaded by `schema`; aborts with a JSON 400/413 otherwise."""
    if (request.content_length or 0) > MAX_BODY_BYTES:
        abort(_error(413, f"the document is larger than {MAX_BODY_BYTES // (1024 * 1024)} MiB"))
    payload = request.get_json(silent=True)
    if not isinstance(payload, dict):
        abort(_error(400, "send a JSON object (Content-Type: application/json)"))
    try:
        data: dict[str, Any] = schema.load(payload)
    except ValidationError as exc:
        abort(_error(400, "invalid request", fields=exc.messages))
    return data


def _require_editor(*, json: bool = False) -> None:
    """Refuse (403) anyone who may not validate and deploy definitions."""
    svc = get_services()
    try:
        with svc.db.unit_of_work(write=False) as session:
            authorize(session, current_user().username, VALIDATE_DEFINITION)
    except PermissionDenied as exc:
        abort(_error(403, str(exc)) if json else 403)


def _error(status: int, message: str, **extra: Any) -> Response:
    response = jsonify({"error": message, **extra})
    response.status_code = status
    return response


# -- the engagement's diagram --------------------------------------------------------------


@bp.get("/engagements/<int:engagement_id>/diagram")
def engagement_diagram(engagement_id: int) -> Response:
    """JSON: the engagement's BPMN and its done, active, at-risk and overdue element ids."""
    svc = get_services()
    try:
        with svc.db.unit_of_work(write=False) as session:
            state = diagram_state(session, svc, engagement_id)
    except NotFoundError as exc:
        return _error(404, str(exc))
    return jsonify(state.as_json())


# -- definitions and versions --------------------------------------------------------------


@bp.get("/definitions")
def definitions() -> str:
    """Every process with its versions and how many engagements run on each."""
    return _definitions_page()


def _definitions_page(error: str | None = None) -> str:
    svc = get_services()
    with svc.db.unit_of_work(write=False) as session:
        versions = list_versions(session)
    processes: dict[str, list[VersionSummary]] = {}
    for v in versions:
        processes.setdefault(v.process_id, []).append(v)
    return render_template("definitions.html", processes=processes, error=error)


@bp.get("/definitions/new")
def new_definition() -> BaseResponse | tuple[str, int]:
    """Open the editor on a new process id (a blank process unless it is deployed already)."""
    _require_editor()
    process_id = (request.args.get("process_id") or "").strip()
    try:
        check_process_id(process_id)
    except ValueError as exc:
        return _definitions_page(str(exc)), 400
    return redirect(url_for("diagrams.edit_definition", process_id=process_id))


@bp.get("/definitions/<process_id>/versions/<int:version>")
def definition_version(process_id: str, version: int) -> str:
    """One version: its diagram, note, and the engagements started on it."""
    svc = get_services()
    try:
        with svc.db.unit_of_work(write=False) as session:
            row = get_version(session, process_id, version)
            engagements = engagements_on(session, row.id)
            versions = list_versions(session, process_id)
    except NotFoundError:
        abort(404)
    return render_template("definition_version.html", version=row, engagements=engagements, versions=versions)


@bp.get("/definitions/<process_id>/versions/<int:version>.bpmn")
def definition_xml(process_id: str, version: int) -> Response:
    """The BPMN document of a version, as a download."""
    svc = get_services()
    try:
        with svc.db.unit_of_work(write=False) as session:
            xml = get_version(session, process_id, version).bpmn_xml
    except NotFoundError:
        abort(404)
    name = f"{process_id}-v{version}.bpmn"
    return Response(
        xml,
        mimetype="application/xml",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


# -- the editor ----------------------------------------------------------------------------


@bp.get("/definitions/<process_id>/edit")
def edit_definition(process_id: str) -> str:
    """The modeler on the latest version of a process (or a blank one)."""
    _require_editor()
    try:
        check_process_id(process_id)
    except ValueError:
        abort(404)
    svc = get_services()
    with svc.db.unit_of_work(write=False) as session:
        versions = list_versions(session, process_id)
    return render_template(
        "definition_edit.html",
        process_id=process_id,
        latest=versions[0] if versions else None,
        vocabulary=editor_vocabulary(svc),
    )


@bp.get("/definitions/<process_id>/source")
def definition_source(process_id: str) -> Response:
    """JSON: what the editor opens (the latest version's XML, or a blank process)."""
    _require_editor(json=True)
    svc = get_services()
    try:
        with svc.db.unit_of_work(write=False) as session:
            source = editor_source(session, svc, process_id)
    except ValueError as exc:
        return _error(400, str(exc))
    return jsonify({"process_id": source.process_id, "version": source.version, "xml": source.xml})


@bp.post("/definitions/validate")
def validate_xml() -> Response:
    """JSON in {xml}; out {valid, issues: [{element_id, message, code}]}. Nothing is stored."""
    _require_editor(json=True)
    body = _json_body(ValidateBody())
    svc = get_services()
    with svc.db.unit_of_work(write=False) as session:
        issues = validate_definition(session, svc, body["xml"], actor=current_user().username)
    return jsonify({"valid": not issues, "issues": _issues_json(issues)})


@bp.post("/definitions/deploy")
def deploy_xml() -> Response:
    """JSON in {xml, note}; 201 with the new version, 200 when identical to a deployed one,
    422 with the issues when refused (nothing stored), 409 when another deploy raced it."""
    _require_editor(json=True)
    body = _json_body(DeployBody())
    svc = get_services()
    try:
        with svc.db.unit_of_work() as session:
            row, created = deploy_definition(
                session, svc, body["xml"], note=body["note"].strip(), actor=current_user().username
            )
            result = {"process_id": row.process_id, "version": row.version, "created": created}
    except DefinitionError as exc:
        return _error(
            422, "the definition was refused; nothing was deployed", issues=_issues_json(exc.issues)
        )
    except ConflictError as exc:
        return _error(409, str(exc))
    result["url"] = url_for(
        "diagrams.definition_version", process_id=result["process_id"], version=result["version"]
    )
    response = jsonify(result)
    response.status_code = 201 if created else 200
    return response
