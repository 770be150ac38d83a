"""Process definitions: list, versions, BPMN XML, validate without deploying, deploy."""

from __future__ import annotations

from typing import Any

from flask import Response, request
from flask_smorest import Blueprint
from marshmallow import Schema, fields

from engine.models import DefinitionVersion
from workflows.definitions.bundles import open_files
from workflows.definitions.catalog import (
    definition_version,
    definition_versions,
    deploy_bundle,
    deploy_definition,
    list_definitions,
    validate_definition,
    version_zip,
)

from .common import INT_MAX, actor, problems, text, work

blp = Blueprint(
    "definitions",
    __name__,
    url_prefix="/api/v1/definitions",
    description="BPMN process definitions: read by anyone, validated and deployed by ops leads.",
)
MAX_BPMN = 5 * 1024 * 1024


class DefinitionSchema(Schema):
    """One deployed, immutable version of a process."""

    process_id = fields.String(required=True)
    version = fields.Integer(required=True)
    name = fields.String(required=True)
    content_hash = fields.String(required=True)
    note = fields.String()
    deployed_by = fields.String(allow_none=True)
    deployed_at = fields.DateTime(required=True)
    forms = fields.Function(
        lambda row: sorted(row.forms),
        metadata={"type": "array", "items": {"type": "string"}, "description": "the forms it carries"},
    )
    files = fields.Function(
        lambda row: sorted(row.files or {}),
        metadata={
            "type": "array",
            "items": {"type": "string"},
            "description": "the other files of its bundle (called processes, DMN tables)",
        },
    )


class DeployedSchema(Schema):
    """A deployment's outcome."""

    definition = fields.Nested(DefinitionSchema, required=True)
    created = fields.Boolean(required=True, metadata={"description": "false: identical content was there"})


class SourceSchema(Schema):
    """A BPMN document, with the JSON Schema forms it references."""

    bpmn = text(max_length=MAX_BPMN, required=True, blank=False, metadata={"description": "BPMN 2.0 XML"})
    forms = fields.Dict(
        keys=fields.String(),
        values=fields.Raw(),
        metadata={"description": "form file name -> JSON Schema; default: the server's forms folder"},
    )
    filename = text(max_length=200, load_default="definition.bpmn")
    files = fields.Dict(
        keys=fields.String(),
        values=fields.String(),
        metadata={
            "description": "the rest of the bundle, file name -> XML: BPMN of the processes it calls, "
            "DMN decision tables (*.dmn)"
        },
    )


class DeploySchema(SourceSchema):
    """A definition to deploy."""

    note = text(max_length=2000, load_default="", metadata={"description": "what changed in this version"})


class IssueSchema(Schema):
    """A problem found in a definition."""

    element = fields.String(allow_none=True, metadata={"description": "the BPMN element concerned (its id)"})
    name = fields.String(metadata={"description": "the element's name, on one line (empty when it has none)"})
    message = fields.String(required=True)
    code = fields.String(required=True)
    hint = fields.String(metadata={"description": "what to do about it"})


class ValidationSchema(Schema):
    """A validation's outcome."""

    valid = fields.Boolean(required=True)
    issues = fields.List(fields.Nested(IssueSchema), required=True)


@blp.get("")
@blp.response(200, DefinitionSchema(many=True))
@problems(blp)
def index() -> Any:
    """The latest version of every deployed process."""
    with work() as (session, services):
        return list_definitions(session, services, actor=actor())


@blp.get("/<process_id>/versions")
@blp.response(200, DefinitionSchema(many=True))
@problems(blp, 404)
def versions(process_id: str) -> Any:
    """Every version of a process, newest first."""
    with work() as (session, services):
        return definition_versions(session, services, process_id, actor=actor())


@blp.get(f"/<process_id>/versions/<int(max={INT_MAX}):version>")
@blp.response(200, DefinitionSchema)
@problems(blp, 404)
def version(process_id: str, version: int) -> Any:
    """One version of a process."""
    with work() as (session, services):
        return definition_version(session, services, process_id, version, actor=actor())


@blp.get(f"/<process_id>/versions/<int(max={INT_MAX}):version>/bpmn")
@blp.doc(
    responses={
        "200": {
            "description": "the version's BPMN 2.0 XML",
            "content": {"application/xml": {"schema": {"type": "string"}}},
        }
    }
)
@problems(blp, 404)
def bpmn(process_id: str, version: int) -> Response:
    """The BPMN XML of one version, as deployed."""
    with work() as (session, services):
        row: DefinitionVersion = definition_version(session, services, process_id, version, actor=actor())
        xml = row.bpmn_xml
    return Response(xml, mimetype="application/xml")


@blp.post("/validate")
@blp.arguments(SourceSchema)
@blp.response(200, ValidationSchema)
@problems(blp, 400, 403, 422)
def validate(args: dict[str, Any]) -> Any:
    """Check a definition without deploying it (ops leads): every problem, tied to its element."""
    with work() as (session, services):
        issues = validate_definition(
            session,
            services,
            args["bpmn"],
            args.get("forms"),
            actor=actor(),
            filename=args["filename"],
            files=args.get("files"),
        )
    return {
        "valid": not issues,
        "issues": [
            {
                "element": i.element_id,
                "name": i.element_name,
                "message": i.message,
                "code": i.code,
                "hint": i.hint,
            }
            for i in issues
        ],
    }


@blp.post("")
@blp.arguments(DeploySchema)
@blp.response(201, DeployedSchema, description="a new version")
@blp.alt_response(200, schema=DeployedSchema, description="identical content: the existing version")
@problems(blp, 400, 403, 409, 422)
def deploy(args: dict[str, Any]) -> Any:
    """Deploy a new immutable version (ops leads); running engagements stay on theirs."""
    with work(write=True) as (session, services):
        row, created = deploy_definition(
            session,
            services,
            args["bpmn"],
            args.get("forms"),
            actor=actor(),
            note=args["note"],
            filename=args["filename"],
            files=args.get("files"),
        )
    return {"definition": row, "created": created}, 201 if created else 200


class BundleUploadSchema(Schema):
    """A bundle as uploaded files: a zip, or several .bpmn, .dmn and .json files."""

    note = text(max_length=2000, load_default="", metadata={"description": "what changed in this version"})


@blp.post("/bundles")
@blp.arguments(BundleUploadSchema, location="form")
@blp.doc(
    requestBody={
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "files": {"type": "array", "items": {"type": "string", "format": "binary"}},
                        "note": {"type": "string"},
                    },
                }
            }
        }
    }
)
@blp.response(201, DeployedSchema, description="a new version")
@blp.alt_response(200, schema=DeployedSchema, description="identical content: the existing version")
@problems(blp, 400, 403, 409, 422)
def deploy_bundle_files(args: dict[str, Any]) -> Any:
    """Deploy a bundle (ops leads): a zip or several files (main BPMN, called processes, DMN
    tables, forms), in any encoding their BOM or XML declaration names."""
    uploads = [(u.filename or "upload", u.read()) for u in request.files.getlist("files")]
    with work(write=True) as (session, services):
        bundle = open_files(session, uploads, actor=actor())
        row, created = deploy_bundle(session, services, bundle, actor=actor(), note=args["note"])
    return {"definition": row, "created": created}, 201 if created else 200


@blp.get(f"/<process_id>/versions/<int(max={INT_MAX}):version>/bundle")
@blp.doc(
    responses={
        "200": {
            "description": "the version's files as a zip (BPMN, DMN, forms/)",
            "content": {"application/zip": {"schema": {"type": "string", "format": "binary"}}},
        }
    }
)
@problems(blp, 404)
def bundle(process_id: str, version: int) -> Response:
    """Every file of one version, as a zip that deploys back as it is."""
    with work() as (session, services):
        name, data = version_zip(session, services, process_id, version, actor=actor())
    return Response(
        data, mimetype="application/zip", headers={"Content-Disposition": f'attachment; filename="{name}"'}
    )
