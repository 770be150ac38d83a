"""Process definitions as people see them: list, versions, XML, validation and deployment.

Anyone active may read definitions; only ops leads validate and deploy them (see
`workflows.people.permissions`). Forms travel with a deployment; when none are given, the forms folder
beside the standard definitions is used (as `baton definitions deploy` does).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from engine.bundles import Bundle, BundleError, read_folder, write_zip
from engine.definitions import read_forms_dir
from engine.errors import LintIssue, NotFoundError
from engine.models import DefinitionVersion
from workflows.definitions.diff import DefinitionDiff, diff_definitions
from workflows.definitions.forms import SchemaProblem, schema_problems
from workflows.people import audit
from workflows.people.permissions import DEPLOY_DEFINITION, READ, VALIDATE_DEFINITION, authorize
from workflows.services import Services


def _forms(services: Services, forms: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return forms if forms is not None else read_forms_dir(services.definitions_dir / "forms")


def list_definitions(session: Session, services: Services, *, actor: str) -> list[DefinitionVersion]:
    """The latest version of every deployed process, by process id."""
    authorize(session, actor, READ)
    latest: dict[str, DefinitionVersion] = {}
    for row in services.definitions.list_versions(session):  # newest first per process
        latest.setdefault(row.process_id, row)
    return [latest[k] for k in sorted(latest)]


def all_versions(session: Session, services: Services, *, actor: str) -> list[DefinitionVersion]:
    """Every deployed version of every process (any active user reads them)."""
    authorize(session, actor, READ)
    return services.definitions.list_versions(session)


def definition_versions(
    session: Session, services: Services, process_id: str, *, actor: str
) -> list[DefinitionVersion]:
    """Every version of a process, newest first (raises NotFoundError when none was deployed)."""
    authorize(session, actor, READ)
    rows = services.definitions.list_versions(session, process_id)
    if not rows:
        raise NotFoundError(f"no deployed definition '{process_id}'")
    return rows


def definition_version(
    session: Session, services: Services, process_id: str, version: int, *, actor: str
) -> DefinitionVersion:
    """One version of a process, its BPMN and forms included (raises NotFoundError)."""
    for row in definition_versions(session, services, process_id, actor=actor):
        if row.version == version:
            return row
    raise NotFoundError(f"{process_id} has no version {version}")


def validate_definition(
    session: Session,
    services: Services,
    bpmn: bytes | str,
    forms: Mapping[str, Any] | None = None,
    *,
    actor: str,
    filename: str = "definition.bpmn",
    files: Mapping[str, bytes | str] | None = None,
) -> list[LintIssue]:
    """Check a BPMN document (its forms, and the other files of its bundle: called processes'
    BPMN, DMN tables) without deploying it; returns every problem found.

    Raises:
        PermissionDenied: the actor is not an ops lead.
    """
    authorize(session, actor, VALIDATE_DEFINITION)
    return services.definitions.validate(bpmn, _forms(services, forms), filename=filename, files=files)


def deploy_definition(
    session: Session,
    services: Services,
    bpmn: bytes | str,
    forms: Mapping[str, Any] | None = None,
    *,
    actor: str,
    note: str = "",
    filename: str = "definition.bpmn",
    files: Mapping[str, bytes | str] | None = None,
) -> tuple[DefinitionVersion, bool]:
    """Deploy a new immutable version (identical content returns the existing one); `files` are
    the rest of its bundle (called processes' BPMN, DMN tables), stored with it.

    Returns:
        The version, and whether this call created it.

    Raises:
        PermissionDenied: the actor is not an ops lead.
        DefinitionError: the definition is refused (every problem listed); nothing is stored.
        ConflictError: another deployment of the process raced this one.
    """
    doer = authorize(session, actor, DEPLOY_DEFINITION)
    version, created = services.definitions.deploy(
        session,
        bpmn,
        _forms(services, forms),
        note=note,
        actor=doer.username,
        now=services.runtime.clock(),
        filename=filename,
        files=files,
    )
    if created:
        audit.record(
            session,
            "definition_deployed",
            actor=doer.username,
            subject=f"{version.process_id} v{version.version}",
            at=services.runtime.clock(),
            note=note or None,
        )
    return version, created


def deploy_bundle(
    session: Session, services: Services, bundle: Bundle, *, actor: str, note: str = ""
) -> tuple[DefinitionVersion, bool]:
    """Deploy a bundle (a folder, a zip, several files) as one version: its main BPMN file, the
    processes it calls, its DMN tables and its forms.

    Raises:
        PermissionDenied, DefinitionError, ConflictError: as `deploy_definition`.
        BundleError: the bundle has no BPMN file.
    """
    if not bundle.main:
        raise BundleError("the files hold no BPMN diagram (.bpmn)")
    return deploy_definition(
        session,
        services,
        bundle.main_xml,
        bundle.forms,
        actor=actor,
        note=note,
        filename=bundle.main,
        files={**bundle.others(), **bundle.dmn},
    )


def deploy_folder(
    session: Session, services: Services, path: str | Path, *, actor: str, note: str = ""
) -> tuple[DefinitionVersion, bool]:
    """Deploy a folder as one version (``baton definitions deploy DIR``; see `deploy_bundle`).

    Raises:
        BundleError: unreadable files, or no BPMN file; and as `deploy_definition`.
    """
    return deploy_bundle(session, services, read_folder(path), actor=actor, note=note)


def version_zip(
    session: Session, services: Services, process_id: str, version: int, *, actor: str
) -> tuple[str, bytes]:
    """A version's files as a zip (main BPMN, called processes, DMN tables, ``forms/``), the way
    `deploy_bundle` takes it back; returns (file name, bytes).

    Raises:
        NotFoundError: no such version.
    """
    row = definition_version(session, services, process_id, version, actor=actor)
    folder = f"{process_id}-v{version}"
    bpmn = {f"{process_id}.bpmn": row.bpmn_xml}
    bpmn.update({k: v for k, v in (row.files or {}).items() if not k.lower().endswith(".dmn")})
    dmn = {k: v for k, v in (row.files or {}).items() if k.lower().endswith(".dmn")}
    return f"{folder}.zip", write_zip(bpmn, dmn, row.forms, folder=folder)


def deploy_file(
    session: Session, services: Services, path: str | Path, *, actor: str, note: str = ""
) -> tuple[DefinitionVersion, bool]:
    """Deploy one BPMN file as `actor` (an ops lead), with the forms folder beside it.

    Returns:
        The version, and whether it is new (identical content returns the existing one).

    Raises:
        PermissionDenied, DefinitionError, ConflictError: as `deploy_definition`.
    """
    bpmn = Path(path)
    forms = read_forms_dir(bpmn.parent / "forms")
    return deploy_definition(
        session, services, bpmn.read_bytes(), forms, actor=actor, note=note, filename=bpmn.name
    )


def install_definitions(
    session: Session, services: Services, *, note: str = ""
) -> list[tuple[DefinitionVersion, bool]]:
    """Deploy every ``*.bpmn`` of the definitions folder, as the operator installing Baton.

    No user is named: this is part of setting up a store (``baton init-db``, the demo, test
    and bench set-ups), done by whoever holds the database, like its migrations. People
    deploy through `deploy_definition` and `deploy_file`, as ops leads.
    """
    folder = services.definitions_dir
    forms = read_forms_dir(folder / "forms")
    return [
        services.definitions.deploy(
            session, p.read_bytes(), forms, note=note, filename=p.name
        )
        for p in sorted(folder.glob("*.bpmn"))
    ]


def editor_forms(session: Session, services: Services, process_id: str, *, actor: str) -> dict[str, Any]:
    """The forms the editor starts from: the forms folder, overlaid by the latest version's own.

    A version keeps the forms it was deployed with (perhaps edited in the editor), so editing it
    again starts from those; a form it does not reference yet comes from the folder.

    Raises:
        PermissionDenied: the actor is not an ops lead.
    """
    authorize(session, actor, VALIDATE_DEFINITION)
    forms: dict[str, Any] = {}
    for name, text in read_forms_dir(services.definitions_dir / "forms").items():
        try:
            forms[name] = json.loads(text)
        except ValueError:
            continue  # a broken file in the folder: the lint names it if a task uses it
    try:
        latest = services.definitions.latest(session, process_id)
    except NotFoundError:
        return forms
    return {**forms, **dict(latest.forms)}


def editor_files(session: Session, services: Services, process_id: str, *, actor: str) -> dict[str, str]:
    """The other files of the latest version's bundle (called processes, DMN tables), which the
    editor sends back with validate and deploy; {} for a new or single-file process.

    Raises:
        PermissionDenied: the actor is not an ops lead.
    """
    authorize(session, actor, VALIDATE_DEFINITION)
    try:
        return dict(services.definitions.latest(session, process_id).files or {})
    except NotFoundError:
        return {}


def check_form(
    session: Session, schema: Mapping[str, Any], *, actor: str, approval: bool = False
) -> list[SchemaProblem]:
    """The problems of a form schema being edited (see `workflows.definitions.forms`).

    Raises:
        PermissionDenied: the actor is not an ops lead.
    """
    authorize(session, actor, VALIDATE_DEFINITION)
    return schema_problems(schema, approval=approval)


@dataclass(frozen=True)
class Comparison:
    """Two versions of a process and what changed from the older to the newer."""

    old: DefinitionVersion
    new: DefinitionVersion
    diff: DefinitionDiff


def compare_versions(
    session: Session,
    services: Services,
    process_id: str,
    old: int | None = None,
    new: int | None = None,
    *,
    actor: str,
) -> Comparison:
    """Compare two versions of a process (by default the latest with the one before it).

    Anyone who may read definitions may compare them: the page shows nothing the version pages
    do not.

    Raises:
        NotFoundError: no such process or version, or only one version to compare.
    """
    rows = definition_versions(session, services, process_id, actor=actor)  # newest first
    by_number = {row.version: row for row in rows}
    if old is None and new is None:
        if len(rows) < 2:
            raise NotFoundError(f"{process_id} has a single version: nothing to compare yet")
        new, old = rows[0].version, rows[1].version
    elif new is None:
        new = rows[0].version
    elif old is None:
        old = max((v for v in by_number if v < new), default=new)
    assert old is not None and new is not None
    for number in (old, new):
        if number not in by_number:
            raise NotFoundError(f"{process_id} has no version {number}")
    a, b = by_number[old], by_number[new]
    return Comparison(a, b, diff_definitions(a.bpmn_xml, b.bpmn_xml, a.forms, b.forms))
