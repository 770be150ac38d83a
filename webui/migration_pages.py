"""The migration page of a version: the dry run of every running engagement, then the batch.

GET ``/definitions/<id>/versions/<v>/migrate`` (``?map=OLD=NEW`` for renamed steps) lists the
engagements on other versions grouped by verdict, with the effects in words; nothing is written.
POST moves the ticked ones with the note (each engagement in its own transaction) and shows the
outcomes above a fresh dry run. With scripts on, the page sends the batch to the API in small
chunks instead and shows its progress. Ops leads and admins only: the use cases check it.
"""

from __future__ import annotations

from flask import Blueprint, render_template, request

from engine.migration import MappingError
from workflows.engagements.migration import DryRun, Outcome, dry_run_migration, migrate_engagements
from workflows.engagements.migration_words import VERDICT_TITLES
from workflows.views.diagrams import list_versions

from .auth import current_user
from .request_work import work

bp = Blueprint("migration_pages", __name__)


def _mapping(text: str) -> dict[str, str]:
    """``old = new`` (or ``old=new``), one per line or separated by commas."""
    mapping: dict[str, str] = {}
    for item in text.replace(",", "\n").splitlines():
        if not item.strip():
            continue
        old, sep, new = item.partition("=")
        if not sep or not old.strip() or not new.strip():
            raise MappingError(f"'{item.strip()}' is not old = new")
        mapping[old.strip()] = new.strip()
    return mapping


def _mapping_text(values: list[str]) -> str:
    return "\n".join(v.strip() for v in values if v.strip())


@bp.get("/definitions/<process_id>/versions/<int:version>/migrate")
def migrate_page(process_id: str, version: int) -> tuple[str, int]:
    """The dry run of moving every running engagement of the process to this version."""
    mapping_text = _mapping_text(request.args.getlist("map"))
    return _render(process_id, version, mapping_text, outcomes=None, note="", error=None)


@bp.post("/definitions/<process_id>/versions/<int:version>/migrate")
def migrate_batch(process_id: str, version: int) -> tuple[str, int]:
    """Move the ticked engagements (the form's fallback when scripts are off)."""
    mapping_text = request.form.get("mapping", "")
    note = request.form.get("note", "")
    chosen = [int(v) for v in request.form.getlist("engagement") if v.isdigit()]
    expected = {e: request.form.get(f"expected_{e}", "") or None for e in chosen}
    # the request's unit of work (it identified the caller) ends here: the batch opens one of its
    # own per engagement, and on SQLite this one holds the write lock
    with work(write=True) as (_session, services):
        pass
    try:
        mapping = _mapping(mapping_text)
        outcomes = migrate_engagements(
            services,
            process_id,
            version,
            chosen,
            actor=current_user().username,
            note=note,
            mapping=mapping,
            expected={e: v for e, v in expected.items() if v},
        )
    except (MappingError, ValueError) as exc:
        return _render(
            process_id, version, mapping_text, outcomes=None, note=note, error=str(exc), status=422
        )
    return _render(process_id, version, mapping_text, outcomes=outcomes, note="", error=None)


def _render(
    process_id: str,
    version: int,
    mapping_text: str,
    *,
    outcomes: list[Outcome] | None,
    note: str,
    error: str | None,
    status: int = 200,
) -> tuple[str, int]:
    plan: DryRun
    with work() as (session, services):  # PermissionDenied, NotFoundError: the error pages
        try:
            plan = dry_run_migration(
                session,
                services,
                process_id,
                version,
                actor=current_user().username,
                mapping=_mapping(mapping_text),
            )
        except MappingError as exc:
            error, status = str(exc), 422
            plan = dry_run_migration(session, services, process_id, version, actor=current_user().username)
        versions = list_versions(session, process_id)
    return (
        render_template(
            "migrate.html",
            plan=plan,
            groups=plan.grouped(),
            titles=VERDICT_TITLES,
            mapping_text=mapping_text,
            outcomes=outcomes,
            moved=sum(1 for o in outcomes or [] if o.status == "migrated"),
            note=note,
            error=error,
            versions=versions,
        ),
        status,
    )
