"""Diagram pages and their JSON: the engagement viewer, definition versions, and the editor.

Who may use what (every route needs a login: `webui.auth` refuses the anonymous first):

- viewing (GET: engagement diagram, definitions list, a version, its BPMN): everyone logged in;
- comparing two versions (GET /definitions/<id>/compare): everyone logged in, like the versions;
- editing (GET /definitions/<id>/edit, /definitions/new, /definitions/<id>/source; POST
  /definitions/validate, /definitions/deploy and /definitions/forms/preview): ops leads, checked by
  the service layer (`workflows.people.permissions`). The POST routes take JSON with the session's CSRF token
  in a header. Validate and deploy take the edited forms (file name -> JSON Schema) with the XML.

Every view runs in the request's unit of work (`webui.request_work.work`). The JSON routes here
are still a second JSON API beside `webui.api.definitions` (their answers: ``{"error": ...}``);
folding them into it is pending.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Response, abort, jsonify, redirect, render_template, request, url_for
from jinja2 import TemplateError
from marshmallow import Schema, ValidationError, fields, validate
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response as BaseResponse

from engine.errors import ConflictError, DefinitionError, LintIssue, NotFoundError
from workflows.definitions.catalog import (
    check_form,
    compare_versions,
    deploy_definition,
    editor_files,
    editor_forms,
    validate_definition,
)
from workflows.definitions.diff import ADDED, CHANGED, REMOVED
from workflows.people.permissions import VALIDATE_DEFINITION, PermissionDenied, authorize
from workflows.views.diagrams import (
    VersionSummary,
    check_process_id,
    diagram_state,
    editor_source,
    editor_vocabulary,
    engagements_on,
    get_version,
    list_versions,
)

from .auth import current_user
from .forms import COMMENT_SUFFIX, DECISION_SUFFIX, decision_field, kind_of, map_rows
from .request_work import work
from .tasks_pages import decisions_of

bp = Blueprint("diagrams", __name__)

# a little over the registry's own limit, so its clear message is what the user sees
MAX_BODY_BYTES = 8 * 1024 * 1024


class ValidateBody(Schema):
    """POST /definitions/validate: the BPMN document to check, and the forms it travels with
    (file name -> JSON Schema; without them, the forms folder)."""

    xml = fields.String(required=True, validate=validate.Length(min=1))
    forms = fields.Dict(keys=fields.String(validate=validate.Length(min=1, max=200)), values=fields.Raw())
    # the rest of the bundle: called processes' BPMN and DMN tables, file name -> XML
    files = fields.Dict(keys=fields.String(validate=validate.Length(min=1, max=200)), values=fields.String())


def _said_something(note: str) -> None:
    if not note.strip():
        raise ValidationError("say what changed in this version")


class DeployBody(ValidateBody):
    """POST /definitions/deploy: the document, its forms and what changed (kept with the version)."""

    note = fields.String(required=True, validate=_said_something)


class PreviewBody(Schema):
    """POST /definitions/forms/preview: a form's JSON Schema, and whether its step is an approval."""

    schema = fields.Dict(required=True)
    approval = fields.Boolean(load_default=False)


def _issues_json(issues: list[LintIssue]) -> list[dict[str, Any]]:
    return [
        {
            "element_id": i.element_id,
            "name": i.element_name,
            "message": i.message,
            "code": i.code,
            "hint": i.hint,
        }
        for i in issues
    ]


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


def _require_editor(session: Session, *, json: bool = False) -> None:
    """Refuse (403) anyone who may not validate and deploy definitions (`workflows.people.permissions`).

    Args:
        session: the request's unit of work.
        json: answer the JSON routes' way ({error}) rather than with the error page.
    """
    try:
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
    try:
        with work() as (session, svc):
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
    with work() as (session, _svc):
        versions = list_versions(session)
    processes: dict[str, list[VersionSummary]] = {}
    for v in versions:
        processes.setdefault(v.process_id, []).append(v)
    return render_template("definitions.html", processes=processes, error=error)


@bp.get("/definitions/new")
def new_definition() -> BaseResponse | tuple[str, int]:
    """Open the editor on a new process id (a blank process unless it is deployed already)."""
    with work() as (session, _svc):
        _require_editor(session)
    process_id = (request.args.get("process_id") or "").strip()
    try:
        check_process_id(process_id)
    except ValueError as exc:
        return _definitions_page(str(exc)), 400
    return redirect(url_for("diagrams.edit_definition", process_id=process_id))


@bp.get("/definitions/<process_id>/versions/<int:version>")
def definition_version(process_id: str, version: int) -> str:
    """One version: its diagram, note, and the engagements started on it."""
    with work() as (session, _svc):  # an unknown version: NotFoundError, the 404 page
        row = get_version(session, process_id, version)
        engagements = engagements_on(session, row.id)
        versions = list_versions(session, process_id)
    return render_template("definition_version.html", version=row, engagements=engagements, versions=versions)


@bp.get("/definitions/<process_id>/compare")
def compare_definition(process_id: str) -> str:
    """Two versions side by side, what changed marked and listed (?a=older&b=newer; default: the
    latest two)."""
    old = request.args.get("a", type=int)
    new = request.args.get("b", type=int)
    with work() as (session, svc):  # NotFoundError, PermissionDenied: the error pages
        comparison = compare_versions(session, svc, process_id, old, new, actor=current_user().username)
        versions = list_versions(session, process_id)
    diff = comparison.diff
    marks = {kind: diff.ids(kind) for kind in (ADDED, CHANGED, REMOVED)}
    return render_template(
        "definition_compare.html",
        process_id=process_id,
        old=comparison.old,
        new=comparison.new,
        changes=diff.changes,
        marks=marks,
        versions=versions,
    )


@bp.get("/definitions/<process_id>/versions/<int:version>.bpmn")
def definition_xml(process_id: str, version: int) -> Response:
    """The BPMN document of a version, as a download."""
    with work() as (session, _svc):  # an unknown version: NotFoundError, the 404 page
        xml = get_version(session, process_id, version).bpmn_xml
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
    with work() as (session, svc):
        _require_editor(session)
        try:
            check_process_id(process_id)
        except ValueError:
            abort(404)
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
    try:
        with work() as (session, svc):
            _require_editor(session, json=True)
            source = editor_source(session, svc, process_id)
            forms = editor_forms(session, svc, process_id, actor=current_user().username)
            files = editor_files(session, svc, process_id, actor=current_user().username)
    except ValueError as exc:
        return _error(400, str(exc))
    payload = {
        "process_id": source.process_id,
        "version": source.version,
        "xml": source.xml,
        "forms": forms,
        "files": files,
    }
    # not jsonify: it sorts keys, and a form's fields are shown in the order of its properties
    return Response(json.dumps(payload), mimetype="application/json")


@bp.post("/definitions/validate")
def validate_xml() -> Response:
    """JSON in {xml}; out {valid, issues: [{element_id, message, code}]}. Nothing is stored."""
    with work() as (session, svc):
        _require_editor(session, json=True)
        body = _json_body(ValidateBody())
        issues = validate_definition(
            session,
            svc,
            body["xml"],
            body.get("forms"),
            actor=current_user().username,
            files=body.get("files"),
        )
    return jsonify({"valid": not issues, "issues": _issues_json(issues)})


@bp.post("/definitions/deploy")
def deploy_xml() -> Response:
    """JSON in {xml, note}; 201 with the new version, 200 when identical to a deployed one,
    422 with the issues when refused (nothing stored), 409 when another deploy raced it."""
    try:
        with work(write=True) as (session, svc):
            _require_editor(session, json=True)
            body = _json_body(DeployBody())
            row, created = deploy_definition(
                session,
                svc,
                body["xml"],
                body.get("forms"),
                note=body["note"].strip(),
                actor=current_user().username,
                files=body.get("files"),
            )
            result: dict[str, Any] = {
                "process_id": row.process_id,
                "version": row.version,
                "created": created,
            }
    except DefinitionError as exc:
        return _error(
            422, "the definition was refused; nothing was deployed", issues=_issues_json(exc.issues)
        )
    except ConflictError as exc:
        return _error(409, str(exc))
    result["url"] = url_for(
        "diagrams.definition_version", process_id=result["process_id"], version=result["version"]
    )
    if result["version"] > 1:
        result["compare_url"] = url_for(
            "diagrams.compare_definition", process_id=result["process_id"], b=result["version"]
        )
    response = jsonify(result)
    response.status_code = 201 if created else 200
    return response


@bp.post("/definitions/forms/preview")
def preview_form() -> Response:
    """JSON in {schema, approval}; out {valid, problems: [{path, message}], html}: the form as the
    task page shows it (the same template), or html null when the schema cannot be shown."""
    with work() as (session, _svc):
        _require_editor(session, json=True)
        body = _json_body(PreviewBody())
        schema: dict[str, Any] = body["schema"]
        problems = check_form(session, schema, actor=current_user().username, approval=body["approval"])
    html = None
    if not any(p.kind == "schema" for p in problems):
        decision = decision_field(schema) if body["approval"] else None
        try:
            html = render_template(
                "_form_preview.html",
                schema=schema,
                values={},
                errors={},
                decision=decision,
                comment=decision.removesuffix(DECISION_SUFFIX) + COMMENT_SUFFIX if decision else None,
                decisions=decisions_of(schema, decision),
                kind_of=kind_of,
                map_rows=map_rows,
            )
        except (TemplateError, TypeError, ValueError, KeyError, AttributeError):
            html = None  # a shape the page cannot draw: the problems say why
    return jsonify({"valid": not problems, "problems": [p.as_json() for p in problems], "html": html})
