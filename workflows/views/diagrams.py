"""Diagrams: an engagement's definition with the state of its elements, and editing definitions.

The engagement diagram is read from the projections only (`human_task`, the event log and the
instance row): no workflow is loaded to draw it. Editing goes through the definition registry,
so an uploaded or edited BPMN document is parsed by `engine.xmlsafe` and linted with the same
rules as `baton definitions deploy`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from engine.definitions import read_forms_dir
from engine.errors import NotFoundError
from engine.models import DefinitionVersion, Event, HumanTask, WorkflowInstance
from workflows.agency import ACCOUNT_MANAGER, AM_LANE, PM_LANE, PROJECT_MANAGER, ROLES, STAGES
from workflows.engagements.lifecycle import get_engagement
from workflows.models import Engagement
from workflows.services import Services

# a process id becomes an XML id: a letter or underscore, then letters, digits, _ . -
PROCESS_ID = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,199}$")


@dataclass(frozen=True)
class OpenStep:
    """An open human task as the diagram labels it."""

    bpmn_id: str
    title: str
    holder: str | None  # who claimed it, else its assignee; None: anyone in the lane
    due_at: datetime | None
    sla_state: str | None
    task_id: str | None = None  # the open task, for a link to its page

    def as_json(self) -> dict[str, Any]:
        """A JSON-ready dict (times in ISO 8601)."""
        return {
            "bpmn_id": self.bpmn_id,
            "title": self.title,
            "holder": self.holder,
            "due_at": self.due_at.isoformat() if self.due_at else None,
            "sla_state": self.sla_state,
            "task_id": self.task_id,
        }


@dataclass
class EngagementDiagram:
    """An engagement's BPMN with the BPMN ids of its elements by state.

    An element that ran before and is open again (a brief sent back) is only `active`.
    `overdue` and `at_risk` are subsets of `active`.
    """

    engagement_id: int
    process_id: str
    version: int
    status: str
    xml: str
    completed: list[str] = field(default_factory=list)
    active: list[str] = field(default_factory=list)
    at_risk: list[str] = field(default_factory=list)
    overdue: list[str] = field(default_factory=list)
    open_steps: list[OpenStep] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        """A JSON-ready dict for the page's viewer."""
        return {
            "engagement_id": self.engagement_id,
            "process_id": self.process_id,
            "version": self.version,
            "status": self.status,
            "xml": self.xml,
            "completed": self.completed,
            "active": self.active,
            "at_risk": self.at_risk,
            "overdue": self.overdue,
            "open_steps": [s.as_json() for s in self.open_steps],
        }


def diagram_state(session: Session, services: Services, engagement_id: int) -> EngagementDiagram:
    """The engagement's definition XML and which of its elements are done, open, at risk or overdue.

    Done: human tasks completed, timers that fired, and the end event the engagement reached.
    Gateways and script tasks leave no trace in the projections and are not marked.

    Raises:
        NotFoundError: no such engagement.
    """
    engagement = get_engagement(session, engagement_id)
    instance = session.get(WorkflowInstance, engagement.instance_id)
    assert instance is not None  # the foreign key guarantees it
    definition = services.definitions.get(session, instance.definition_id)
    tasks = session.execute(
        select(
            HumanTask.bpmn_id,
            HumanTask.title,
            HumanTask.state,
            HumanTask.sla_state,
            HumanTask.assignee,
            HumanTask.claimed_by,
            HumanTask.due_at,
            HumanTask.task_id,
        )
        .where(HumanTask.instance_id == instance.id)
        .order_by(HumanTask.id)
    ).all()
    fired = session.scalars(
        select(Event.bpmn_id)
        .where(Event.instance_id == instance.id, Event.kind == "timer_fired", Event.bpmn_id.is_not(None))
        .distinct()
    ).all()
    open_rows = [t for t in tasks if t.state == "ready"]
    active = _unique(t.bpmn_id for t in open_rows)
    done = _unique(
        [
            *(t.bpmn_id for t in tasks if t.state == "completed"),
            *(b for b in fired if b is not None),
            *([instance.end_event] if instance.end_event else []),
        ]
    )
    return EngagementDiagram(
        engagement_id=engagement.id,
        process_id=definition.process_id,
        version=definition.version,
        status=instance.status,
        xml=definition.bpmn_xml,
        completed=[b for b in done if b not in active],
        active=active,
        at_risk=_unique(t.bpmn_id for t in open_rows if t.sla_state == "at_risk"),
        overdue=_unique(t.bpmn_id for t in open_rows if t.sla_state == "breached"),
        open_steps=[
            OpenStep(t.bpmn_id, t.title, t.claimed_by or t.assignee, t.due_at, t.sla_state, t.task_id)
            for t in open_rows
        ],
    )


def _unique(ids: Any) -> list[str]:
    return list(dict.fromkeys(ids))


# -- definitions and their versions --------------------------------------------------------


@dataclass(frozen=True)
class VersionSummary:
    """One deployed version with how many engagements run on it."""

    process_id: str
    version: int
    name: str
    note: str
    deployed_by: str | None
    deployed_at: datetime
    engagements: int  # every engagement started on this version
    running: int  # those still running


def list_versions(session: Session, process_id: str | None = None) -> list[VersionSummary]:
    """Every deployed version, newest first per process, with its engagement counts."""
    running = func.count(case((WorkflowInstance.status == "running", Engagement.id)))
    stmt = (
        select(
            DefinitionVersion.process_id,
            DefinitionVersion.version,
            DefinitionVersion.name,
            DefinitionVersion.note,
            DefinitionVersion.deployed_by,
            DefinitionVersion.deployed_at,
            func.count(Engagement.id),
            running,
        )
        .outerjoin(WorkflowInstance, WorkflowInstance.definition_id == DefinitionVersion.id)
        .outerjoin(Engagement, Engagement.instance_id == WorkflowInstance.id)
        .group_by(DefinitionVersion.id)
        .order_by(DefinitionVersion.process_id, DefinitionVersion.version.desc())
    )
    if process_id is not None:
        stmt = stmt.where(DefinitionVersion.process_id == process_id)
    return [VersionSummary(*row) for row in session.execute(stmt)]


def get_version(session: Session, process_id: str, version: int) -> DefinitionVersion:
    """A deployed version by process id and number.

    Raises:
        NotFoundError: no such version.
    """
    row = session.scalar(
        select(DefinitionVersion).where(
            DefinitionVersion.process_id == process_id, DefinitionVersion.version == version
        )
    )
    if row is None:
        raise NotFoundError(f"no version {version} of definition '{process_id}'")
    return row


def engagements_on(session: Session, definition_id: int) -> list[tuple[Engagement, WorkflowInstance]]:
    """The engagements started on a version, newest first."""
    stmt = (
        select(Engagement, WorkflowInstance)
        .join(WorkflowInstance, WorkflowInstance.id == Engagement.instance_id)
        .where(WorkflowInstance.definition_id == definition_id)
        .order_by(Engagement.id.desc())
    )
    return [(e, i) for e, i in session.execute(stmt)]


@dataclass(frozen=True)
class EditorSource:
    """What the editor opens: the latest version's XML, or a blank process."""

    process_id: str
    xml: str
    version: int | None  # None: not deployed yet


def editor_source(session: Session, services: Services, process_id: str) -> EditorSource:
    """The latest version of `process_id`, or a blank process of that id when none is deployed.

    Raises:
        ValueError: `process_id` cannot be a BPMN id.
    """
    check_process_id(process_id)
    try:
        latest = services.definitions.latest(session, process_id)
    except NotFoundError:
        return EditorSource(process_id, blank_definition(process_id), None)
    return EditorSource(process_id, latest.bpmn_xml, latest.version)


def check_process_id(process_id: str) -> None:
    """Refuse a process id that is not a valid BPMN (XML) id.

    Raises:
        ValueError: with the rule it breaks.
    """
    if not PROCESS_ID.match(process_id):
        raise ValueError(
            f"'{process_id}' is not a valid process id: start with a letter or _, then letters, "
            "digits, _ . - (at most 200)"
        )


def blank_definition(process_id: str, name: str | None = None) -> str:
    """A new process: the two standard lanes, a start event joined to an end event."""
    check_process_id(process_id)
    pid = escape(process_id)
    title = quoteattr(name or process_id.replace("_", " ").capitalize())
    am, pm = quoteattr(AM_LANE), quoteattr(PM_LANE)
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" \
xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI" xmlns:dc="http://www.omg.org/spec/DD/20100524/DC" \
xmlns:di="http://www.omg.org/spec/DD/20100524/DI" \
xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core" id="definitions_{pid}" \
targetNamespace="http://baton.agency/bpmn/{pid}" exporter="baton" exporterVersion="1">
  <bpmn:collaboration id="collaboration_{pid}">
    <bpmn:participant id="participant_{pid}" name={title} processRef="{pid}" />
  </bpmn:collaboration>
  <bpmn:process id="{pid}" name={title} isExecutable="true">
    <bpmn:laneSet id="laneset_{pid}">
      <bpmn:lane id="lane_am" name={am}>
        <bpmn:extensionElements>
          <spiffworkflow:properties>
            <spiffworkflow:property name="role" value="{ACCOUNT_MANAGER}" />
          </spiffworkflow:properties>
        </bpmn:extensionElements>
        <bpmn:flowNodeRef>start</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>end</bpmn:flowNodeRef>
      </bpmn:lane>
      <bpmn:lane id="lane_pm" name={pm}>
        <bpmn:extensionElements>
          <spiffworkflow:properties>
            <spiffworkflow:property name="role" value="{PROJECT_MANAGER}" />
          </spiffworkflow:properties>
        </bpmn:extensionElements>
      </bpmn:lane>
    </bpmn:laneSet>
    <bpmn:startEvent id="start" name="Start"><bpmn:outgoing>flow_start_end</bpmn:outgoing></bpmn:startEvent>
    <bpmn:endEvent id="end" name="Done"><bpmn:incoming>flow_start_end</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="flow_start_end" sourceRef="start" targetRef="end" />
  </bpmn:process>
  <bpmndi:BPMNDiagram id="diagram_{pid}">
    <bpmndi:BPMNPlane id="plane_{pid}" bpmnElement="collaboration_{pid}">
      <bpmndi:BPMNShape id="participant_{pid}_di" bpmnElement="participant_{pid}" isHorizontal="true">
        <dc:Bounds x="120" y="60" width="900" height="500" />
      </bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="lane_am_di" bpmnElement="lane_am" isHorizontal="true">
        <dc:Bounds x="150" y="60" width="870" height="250" />
      </bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="lane_pm_di" bpmnElement="lane_pm" isHorizontal="true">
        <dc:Bounds x="150" y="310" width="870" height="250" />
      </bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="start_di" bpmnElement="start">
        <dc:Bounds x="222" y="167" width="36" height="36" />
      </bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="end_di" bpmnElement="end">
        <dc:Bounds x="902" y="167" width="36" height="36" />
      </bpmndi:BPMNShape>
      <bpmndi:BPMNEdge id="flow_start_end_di" bpmnElement="flow_start_end">
        <di:waypoint x="258" y="185" />
        <di:waypoint x="902" y="185" />
      </bpmndi:BPMNEdge>
    </bpmndi:BPMNPlane>
  </bpmndi:BPMNDiagram>
</bpmn:definitions>
"""


def editor_vocabulary(services: Services) -> dict[str, list[str]]:
    """What the editor's side panel offers: the stages, the roles, and the forms of the folder."""
    return {"stages": list(STAGES), "roles": list(ROLES), "forms": sorted(_forms(services))}


def _forms(services: Services) -> dict[str, str]:
    # the folder's forms: what the side panel offers until the editor has loaded the version's own
    # (`catalog.editor_forms`), which it edits and sends with validate and deploy
    return read_forms_dir(services.definitions_dir / "forms")
