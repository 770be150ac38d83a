"""Process definitions as people see them: list, versions, XML, validation and deployment.

Anyone active may read definitions; only ops leads validate and deploy them (see
`workflows.access`). Forms travel with a deployment; when none are given, the forms folder
beside the standard definitions is used (as `baton definitions deploy` does).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import Session

from engine.definitions import read_forms_dir
from engine.errors import LintIssue, NotFoundError
from engine.models import DefinitionVersion

from .access import DEPLOY_DEFINITION, READ, VALIDATE_DEFINITION, authorize
from .services import Services


def _forms(services: Services, forms: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return forms if forms is not None else read_forms_dir(services.definitions_dir / "forms")


def list_definitions(session: Session, services: Services, *, actor: str) -> list[DefinitionVersion]:
    """The latest version of every deployed process, by process id."""
    authorize(session, actor, READ)
    latest: dict[str, DefinitionVersion] = {}
    for row in services.definitions.list_versions(session):  # newest first per process
        latest.setdefault(row.process_id, row)
    return [latest[k] for k in sorted(latest)]


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
    bpmn: str,
    forms: Mapping[str, Any] | None = None,
    *,
    actor: str,
    filename: str = "definition.bpmn",
) -> list[LintIssue]:
    """Check a BPMN document (and its forms) without deploying it; returns every problem found.

    Raises:
        PermissionDenied: the actor is not an ops lead.
    """
    authorize(session, actor, VALIDATE_DEFINITION)
    return services.definitions.validate(bpmn, _forms(services, forms), filename=filename)


def deploy_definition(
    session: Session,
    services: Services,
    bpmn: str,
    forms: Mapping[str, Any] | None = None,
    *,
    actor: str,
    note: str = "",
    filename: str = "definition.bpmn",
) -> tuple[DefinitionVersion, bool]:
    """Deploy a new immutable version (identical content returns the existing one).

    Returns:
        The version, and whether this call created it.

    Raises:
        PermissionDenied: the actor is not an ops lead.
        DefinitionError: the definition is refused (every problem listed); nothing is stored.
        ConflictError: another deployment of the process raced this one.
    """
    doer = authorize(session, actor, DEPLOY_DEFINITION)
    return services.definitions.deploy(
        session,
        bpmn,
        _forms(services, forms),
        note=note,
        actor=doer.username,
        now=services.runtime.clock(),
        filename=filename,
    )
