"""Definition files as ops leads bring them: several files, a zip or a folder, in any encoding.

`open_files` is what the editor's "Open file…" calls: the server, not the browser, decodes
the files (by BOM or XML declaration), so names such as "Rückruf" arrive intact whatever
tool wrote them.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy.orm import Session

from engine.bundles import Bundle, read_bundle
from workflows.people.permissions import VALIDATE_DEFINITION, authorize


def open_files(
    session: Session, files: Iterable[tuple[str, bytes]], *, actor: str, main: str | None = None
) -> Bundle:
    """Decode uploaded definition files (BPMN, DMN, forms; or a zip of them) for the editor.

    Raises:
        PermissionDenied: the actor is not an ops lead.
        BundleError: a file cannot be read (its name and why).
    """
    authorize(session, actor, VALIDATE_DEFINITION)
    return read_bundle(files, main=main)
