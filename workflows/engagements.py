"""Engagement use cases: deploy the agency's definitions, start, work and inspect engagements.

Every function takes the unit of work (a session) first and the services second.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple, cast

from sqlalchemy import Table, bindparam, select
from sqlalchemy.orm import Session

from engine.definitions import read_forms_dir
from engine.errors import NotFoundError, TaskNotReadyError
from engine.fastsql import FastStatement
from engine.models import DefinitionVersion, Event, HumanTask, WorkflowInstance
from engine.runtime import StepResult

from .models import Engagement
from .services import Services


@dataclass
class EngagementView:
    """An engagement with its instance, version, open tasks and history."""

    engagement: Engagement
    instance: WorkflowInstance
    definition: DefinitionVersion
    open_tasks: list[HumanTask]
    history: list[Event]

    @property
    def stages(self) -> list[str]:
        """The stage(s) the engagement is in now."""
        return list(self.instance.active_stages or [])


def deploy_file(
    session: Session, services: Services, path: str | Path, *, note: str = "", actor: str | None = None
) -> tuple[DefinitionVersion, bool]:
    """Deploy one BPMN file with the forms of the definitions folder beside it.

    Returns:
        The version, and whether it is new (identical content returns the existing one).
    """
    bpmn = Path(path)
    forms = read_forms_dir(bpmn.parent / "forms")
    return services.definitions.deploy(
        session, bpmn.read_bytes(), forms, note=note, actor=actor, filename=bpmn.name
    )


def deploy_all(
    session: Session, services: Services, *, note: str = "", actor: str | None = None
) -> list[tuple[DefinitionVersion, bool]]:
    """Deploy every ``*.bpmn`` of the definitions folder."""
    return [
        deploy_file(session, services, p, note=note, actor=actor)
        for p in sorted(services.definitions_dir.glob("*.bpmn"))
    ]


def start_engagement(
    session: Session,
    services: Services,
    *,
    client: str,
    name: str,
    process_id: str = "engagement",
    options: Mapping[str, Any] | None = None,
    actor: str | None = None,
) -> Engagement:
    """Start an engagement on the latest deployed version of `process_id`.

    Raises:
        ValueError: client or name is blank.
        NotFoundError: the definition is not deployed.
    """
    client, name = client.strip(), name.strip()
    if not client or not name:
        raise ValueError("an engagement needs a client and a name")
    opts = dict(options or {})
    start_data = {"options": opts, "client": client, "engagement_name": name}
    result = services.runtime.start(session, process_id, start_data, actor=actor)
    engagement = Engagement(
        instance_id=result.instance_id,
        client=client,
        name=name,
        process_id=process_id,
        options=opts,
        created_by=actor,
        created_at=services.runtime.clock(),
    )
    session.add(engagement)
    session.flush()
    return engagement


def get_engagement(session: Session, engagement_id: int) -> Engagement:
    """An engagement by id (raises NotFoundError)."""
    engagement = session.get(Engagement, engagement_id)
    if engagement is None:
        raise NotFoundError(f"no engagement {engagement_id}")
    return engagement


def find_open_task(session: Session, engagement: Engagement, task_ref: str) -> HumanTask:
    """An open task of an engagement by task id, or by BPMN id when that is unambiguous.

    Raises:
        NotFoundError: no task matches, or a BPMN id matches several open tasks.
        TaskNotReadyError: the task exists but was already completed or withdrawn.
    """
    by_id = session.scalar(
        select(HumanTask).where(
            HumanTask.instance_id == engagement.instance_id, HumanTask.task_id == task_ref
        )
    )
    if by_id is not None:
        if by_id.state != "ready":
            who = f" by {by_id.completed_by}" if by_id.completed_by else ""
            raise TaskNotReadyError(f"task {task_ref} ({by_id.bpmn_id}) was already {by_id.state}{who}")
        return by_id
    rows = list(
        session.scalars(
            select(HumanTask).where(
                HumanTask.instance_id == engagement.instance_id,
                HumanTask.state == "ready",
                HumanTask.bpmn_id == task_ref,
            )
        )
    )
    if not rows:
        raise NotFoundError(f"engagement {engagement.id} has no open task '{task_ref}'")
    if len(rows) > 1:
        raise NotFoundError(f"'{task_ref}' matches {len(rows)} open tasks; use the task id")
    return rows[0]


_HUMAN = cast(Table, HumanTask.__table__)
_ENGAGEMENT = cast(Table, Engagement.__table__)
# one indexed query resolves an engagement's task by task id or by open BPMN id
_LOOKUP_TASK = FastStatement(
    select(
        _ENGAGEMENT.c.instance_id, _HUMAN.c.task_id, _HUMAN.c.bpmn_id, _HUMAN.c.state, _HUMAN.c.completed_by
    )
    .select_from(
        _ENGAGEMENT.outerjoin(
            _HUMAN,
            (_HUMAN.c.instance_id == _ENGAGEMENT.c.instance_id)
            & (
                (_HUMAN.c.task_id == bindparam("ref"))
                | ((_HUMAN.c.bpmn_id == bindparam("ref")) & (_HUMAN.c.state == "ready"))
            ),
        )
    )
    .where(_ENGAGEMENT.c.id == bindparam("engagement_id"))
)


class _TaskRef(NamedTuple):
    instance_id: int
    task_id: str | None
    bpmn_id: str | None
    state: str | None
    completed_by: str | None


def complete_task(
    session: Session,
    services: Services,
    engagement_id: int,
    task_ref: str,
    data: Mapping[str, Any],
    *,
    actor: str | None = None,
    expected_revision: int | None = None,
) -> StepResult:
    """Complete an open task of an engagement with form data.

    Args:
        session: the unit of work.
        services: Baton's services.
        engagement_id: the engagement.
        task_ref: the task id, or the BPMN id of a single open task.
        data: the form data.
        actor: who completes it.
        expected_revision: optimistic check against the instance revision.

    The decision recorded in the event log is the value of the form's ``*_decision``
    field, when it has one.

    Raises:
        NotFoundError, TaskNotReadyError, ConflictError, FormValidationError,
        WorkflowExecutionError.
    """
    rows = [
        _TaskRef(*r)
        for r in _LOOKUP_TASK.fetchall(
            session.connection(), {"engagement_id": engagement_id, "ref": task_ref}
        )
    ]
    if not rows:
        raise NotFoundError(f"no engagement {engagement_id}")
    matches = [r for r in rows if r.task_id is not None]
    if not matches:
        raise NotFoundError(f"engagement {engagement_id} has no open task '{task_ref}'")
    if len(matches) > 1:
        raise NotFoundError(f"'{task_ref}' matches {len(matches)} open tasks; use the task id")
    task = matches[0]
    assert task.task_id is not None  # filtered above
    if task.state != "ready":
        who = f" by {task.completed_by}" if task.completed_by else ""
        raise TaskNotReadyError(f"task {task_ref} ({task.bpmn_id}) was already {task.state}{who}")
    decision = next((str(v) for k, v in data.items() if k.endswith("_decision")), None)
    return services.runtime.complete(
        session,
        task.instance_id,
        task.task_id,
        data,
        actor=actor,
        expected_revision=expected_revision,
        decision=decision,
    )


def cancel_engagement(
    session: Session, services: Services, engagement_id: int, *, actor: str | None = None, reason: str = ""
) -> StepResult:
    """Cancel a running engagement: its open tasks are withdrawn and the reason logged.

    Raises:
        NotFoundError: no such engagement.
        ConflictError: the engagement is not running.
        ValueError: no reason given.
    """
    if not reason.strip():
        raise ValueError("say why the engagement is cancelled")
    engagement = get_engagement(session, engagement_id)
    return services.runtime.cancel(session, engagement.instance_id, actor=actor, reason=reason.strip())


def view_engagement(session: Session, services: Services, engagement_id: int) -> EngagementView:
    """Everything the engagement page and `baton show` display (no workflow is loaded)."""
    engagement = get_engagement(session, engagement_id)
    instance = session.get(WorkflowInstance, engagement.instance_id)
    assert instance is not None  # the foreign key guarantees it
    definition = services.definitions.get(session, instance.definition_id)  # the row: note, deployer...
    return EngagementView(
        engagement=engagement,
        instance=instance,
        definition=definition,
        open_tasks=services.runtime.ready_tasks(session, instance.id),
        history=services.runtime.history(session, instance.id),
    )


def list_open_tasks(
    session: Session, *, lane: str | None = None, engagement_id: int | None = None, limit: int = 200
) -> list[tuple[HumanTask, Engagement]]:
    """Open tasks with their engagements, soonest due first (an indexed projection query)."""
    stmt = (
        select(HumanTask, Engagement)
        .join(Engagement, Engagement.instance_id == HumanTask.instance_id)
        .where(HumanTask.state == "ready")
        .order_by(HumanTask.due_at, HumanTask.id)
        .limit(limit)
    )
    if lane is not None:
        stmt = stmt.where(HumanTask.lane == lane)
    if engagement_id is not None:
        stmt = stmt.where(Engagement.id == engagement_id)
    return [(t, e) for t, e in session.execute(stmt)]


def list_engagements(session: Session, *, limit: int = 200) -> list[tuple[Engagement, WorkflowInstance]]:
    """Engagements with their instance rows, newest first."""
    stmt = (
        select(Engagement, WorkflowInstance)
        .join(WorkflowInstance, WorkflowInstance.id == Engagement.instance_id)
        .order_by(Engagement.id.desc())
        .limit(limit)
    )
    return [(e, i) for e, i in session.execute(stmt)]
