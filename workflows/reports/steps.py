"""Step names for reports: the BPMN id a report groups by, as the diagrams name the step."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.models import DefinitionVersion
from workflows.reports.heatmap import human_tasks_of


def step_names(session: Session) -> dict[str, str]:
    """BPMN id -> the step's name, from every deployed version (the newest name wins)."""
    names: dict[str, str] = {}
    for xml in session.scalars(select(DefinitionVersion.bpmn_xml).order_by(DefinitionVersion.id)):
        names.update(human_tasks_of(xml))
    return names
