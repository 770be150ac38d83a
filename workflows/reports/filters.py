"""What a report's filters may name, for the pages' pickers, and the check that they name
something: an unknown process, version or client is an error, not an empty report.

Clients match whatever their case (``globex`` finds Globex), as in the inbox's search.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.models import DefinitionVersion
from workflows.models import Engagement
from workflows.reports.process import ReportFilter


class UnknownFilterError(ValueError):
    """A filter names no process, version or client the store has."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class FilterChoices:
    """What the pickers offer."""

    processes: list[str]
    versions: list[tuple[int, str, int]]  # (id, process id, version number), newest first per process
    clients: list[str]


def filter_choices(session: Session) -> FilterChoices:
    """Every deployed process and version, and every client with an engagement."""
    versions = [
        (int(i), str(p), int(v))
        for i, p, v in session.execute(
            select(DefinitionVersion.id, DefinitionVersion.process_id, DefinitionVersion.version).order_by(
                DefinitionVersion.process_id, DefinitionVersion.version.desc()
            )
        )
    ]
    clients = sorted(session.scalars(select(Engagement.client).distinct()), key=str.lower)
    return FilterChoices(sorted({p for _i, p, _v in versions}), versions, clients)


def check_filters(session: Session, filters: ReportFilter) -> None:
    """Raise if a filter names nothing the store has.

    Raises:
        UnknownFilterError: no such process (``definition``), version (``version_id``) or
            client (``client``, matched whatever its case).
    """
    if filters.process_id is not None and not session.scalar(
        select(func.count()).where(DefinitionVersion.process_id == filters.process_id)
    ):
        raise UnknownFilterError("definition", f"no process '{filters.process_id}' is deployed")
    if filters.definition_id is not None:
        row = session.get(DefinitionVersion, filters.definition_id)
        if row is None:
            raise UnknownFilterError("version_id", f"no deployed version has the id {filters.definition_id}")
        if filters.process_id is not None and row.process_id != filters.process_id:
            raise UnknownFilterError(
                "version_id",
                f"version id {filters.definition_id} is of '{row.process_id}', not '{filters.process_id}'",
            )
    if filters.client is not None and not session.scalar(
        select(func.count()).where(func.lower(Engagement.client) == filters.client.lower())
    ):
        raise UnknownFilterError("client", f"no engagement has the client '{filters.client}'")
