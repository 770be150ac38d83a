"""Running engagements move to another version: the dry run and the batch (ops leads and admins)."""

from __future__ import annotations

from typing import Any

from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from engine.migration import MappingError
from workflows.engagements.migration import MAX_NOTE, dry_run_migration, migrate_engagements

from .common import BIGINT_MAX, INT_MAX, actor, problems, text, work

blp = Blueprint(
    "migration",
    __name__,
    url_prefix="/api/v1/definitions",
    description="Running engagements move to another version of their process: a dry run, then a batch.",
)
MAX_BATCH = 5000
STEP_ID = validate.Length(min=1, max=200)


def _pairs(values: list[str]) -> dict[str, str]:
    mapping: dict[str, str] = {}
    for value in values:
        old, sep, new = value.partition("=")
        if not sep or not old.strip() or not new.strip():
            raise MappingError(f"map: '{value}' is not OLD=NEW")
        mapping[old.strip()] = new.strip()
    return mapping


class DryRunArgs(Schema):
    """The dry run's query."""

    map = fields.List(
        fields.String(validate=validate.Length(max=401)),
        load_default=list,
        metadata={"description": "a renamed step, OLD=NEW (repeat the parameter for several)"},
    )


class EngagementPlanSchema(Schema):
    """One engagement's verdict."""

    engagement_id = fields.Integer(required=True)
    client = fields.String(required=True)
    name = fields.String(required=True)
    version = fields.String(
        required=True, metadata={"description": "the engagement version it was judged at"}
    )
    from_version = fields.Integer(required=True)
    verdict = fields.String(required=True, metadata={"enum": ["as_is", "with_effects", "refused"]})
    stages = fields.List(fields.String(), required=True)
    effects = fields.List(
        fields.String(), required=True, metadata={"description": "what changes (or why it cannot move)"}
    )


class DryRunSchema(Schema):
    """Every running engagement of the process on another version, judged; nothing was written."""

    process_id = fields.String(required=True)
    version = fields.Integer(required=True)
    mapping = fields.Dict(keys=fields.String(), values=fields.String(), required=True)
    counts = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True)
    engagements = fields.List(fields.Nested(EngagementPlanSchema), required=True)


class BatchSchema(Schema):
    """Engagements to move, and why."""

    engagements = fields.List(
        fields.Integer(validate=validate.Range(min=1, max=BIGINT_MAX)),
        required=True,
        validate=validate.Length(max=MAX_BATCH),
    )
    note = text(max_length=MAX_NOTE, required=True, metadata={"description": "why they move (required)"})
    mapping = fields.Dict(keys=fields.String(validate=STEP_ID), values=fields.String(validate=STEP_ID))
    expected = fields.Dict(
        keys=fields.String(),
        values=fields.String(validate=validate.Length(max=60)),
        metadata={"description": "engagement id -> the version of the dry run it was chosen from"},
    )


class OutcomeSchema(Schema):
    """What the batch did with one engagement."""

    engagement_id = fields.Integer(required=True)
    status = fields.String(required=True, metadata={"enum": ["migrated", "refused", "conflict", "failed"]})
    message = fields.String(required=True)
    from_version = fields.Integer(allow_none=True)
    to_version = fields.Integer(allow_none=True)


class BatchResultSchema(Schema):
    """The batch's outcomes, one per engagement, in order."""

    moved = fields.Integer(required=True)
    outcomes = fields.List(fields.Nested(OutcomeSchema), required=True)


@blp.get(f"/<process_id>/versions/<int(max={INT_MAX}):version>/migration")
@blp.arguments(DryRunArgs, location="query")
@blp.response(200, DryRunSchema)
@problems(blp, 400, 403, 404, 422)
def dry_run(args: dict[str, Any], process_id: str, version: int) -> Any:
    """The dry run: every running engagement on another version, with its verdict and effects."""
    mapping = _pairs(args["map"])
    with work() as (session, services):
        plan = dry_run_migration(session, services, process_id, version, actor=actor(), mapping=mapping)
    groups = plan.grouped()
    return {
        "process_id": process_id,
        "version": version,
        "mapping": plan.mapping,
        "counts": {verdict: len(rows) for verdict, rows in groups.items()},
        "engagements": [e.as_dict() for e in plan.engagements],
    }


@blp.post(f"/<process_id>/versions/<int(max={INT_MAX}):version>/migration")
@blp.arguments(BatchSchema)
@blp.response(200, BatchResultSchema)
@problems(blp, 400, 403, 404, 422)
def batch(args: dict[str, Any], process_id: str, version: int) -> Any:
    """Move the chosen engagements (each in its own transaction); an older version undoes a move."""
    expected: dict[int, str] = {}
    for key, value in (args.get("expected") or {}).items():
        if not key.isdigit():
            raise ValueError(f"expected: '{key}' is not an engagement id")
        expected[int(key)] = value
    # the request's unit of work (it identified the caller) ends here: the batch opens one of
    # its own per engagement, and on SQLite this one holds the write lock
    with work(write=True) as (_session, services):
        pass
    outcomes = migrate_engagements(
        services,
        process_id,
        version,
        args["engagements"],
        actor=actor(),
        note=args["note"],
        mapping=args.get("mapping") or {},
        expected=expected,
    )
    return {
        "moved": sum(o.status == "migrated" for o in outcomes),
        "outcomes": [o.as_dict() for o in outcomes],
    }
