"""Engagement use cases: start, cancel, change the team, and the view of one engagement.

Each use case takes the unit of work (a session) first and the services second, names the
acting user, and checks their right to act inside (`workflows.people.permissions`); the pages,
the API and the CLI call these same functions. An optional ``expected_version`` makes an edit
conditional on the version the caller read (`workflows.engagements.versions`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from engine.definitions import element_id
from engine.errors import NotFoundError
from engine.models import DefinitionVersion, Event, HumanTask, WorkflowInstance
from engine.runtime import StepResult
from workflows.engagements.approvals import Decision, approval_steps, decisions_from
from workflows.engagements.options import check_options
from workflows.engagements.versions import check_version
from workflows.models import Engagement
from workflows.people import audit
from workflows.people.permissions import CANCEL_ENGAGEMENT, CHANGE_TEAM, START_ENGAGEMENT, authorize
from workflows.people.teams import staff, team_members, team_of
from workflows.services import Services
from workflows.time.clocks import ClockSplit, clock_split


@dataclass
class EngagementView:
    """An engagement with its instance, version, open tasks and history."""

    engagement: Engagement
    instance: WorkflowInstance
    definition: DefinitionVersion
    open_tasks: list[HumanTask]
    history: list[Event]
    team: dict[str, str] = field(default_factory=dict)  # role -> username
    approval_steps: set[str] = field(default_factory=set)  # BPMN ids of the approval steps
    time: ClockSplit | None = None  # business hours so far: the agency's and the client's
    step_names: dict[str, str] = field(default_factory=dict)  # BPMN id -> the name in the diagram

    def step_name(self, bpmn_id: str | None) -> str:
        """What people call a step: its name in the diagram (its BPMN id when it has none)."""
        return self.step_names.get(bpmn_id or "", bpmn_id or "")

    @property
    def stages(self) -> list[str]:
        """The stage(s) the engagement is in now."""
        return list(self.instance.active_stages or [])

    @property
    def decisions(self) -> list[Decision]:
        """Every recorded decision (sign-offs, approvals, QC, client feedback), oldest first."""
        return decisions_from(self.history, self.approval_steps)

    @property
    def approvals(self) -> list[Decision]:
        """The approval history: decisions taken at the definition's approval steps."""
        return [d for d in self.decisions if d.approval]


def start_engagement(
    session: Session,
    services: Services,
    *,
    actor: str,
    client: str,
    name: str,
    process_id: str = "engagement",
    options: Mapping[str, Any] | None = None,
    account_manager: str | None = None,
    project_manager: str | None = None,
    resource_manager: str | None = None,
) -> Engagement:
    """Start an engagement on the latest deployed version of `process_id`, with its team.

    Each ready task goes to the team member holding its lane's role. A role left empty can
    be filled later (`change_team`); meanwhile its tasks wait in their lane for any member of
    the role.

    Args:
        session: the unit of work.
        services: Baton's services.
        actor: who starts it (an account manager, an ops lead or an admin).
        client: the client's name.
        name: the engagement's name.
        process_id: the definition to run.
        options: the definition's options, checked against the schema it declares
            (`workflows.engagements.options`; see definitions/README.md).
        account_manager: username of the engagement's AM (active, holding the role).
        project_manager: username of its PM.
        resource_manager: username of its resource manager, if it has one.

    Raises:
        PermissionDenied: the actor is unknown, inactive, or may not start engagements, or may
            not set one of the options (the approval policy: ops leads and leadership).
        FormValidationError: an unknown option or a value its schema refuses.
        PayloadTooLargeError: the options are over 16 KiB of JSON.
        ValueError: client or name is blank; a team member is inactive or lacks the role.
        NotFoundError: the definition is not deployed; a team member does not exist.
    """
    doer = authorize(session, actor, START_ENGAGEMENT)
    client, name = client.strip(), name.strip()
    if not client or not name:
        raise ValueError("an engagement needs a client and a name")
    members = team_members(
        session,
        account_manager=account_manager,
        project_manager=project_manager,
        resource_manager=resource_manager,
    )
    registry = services.runtime.definitions
    version = registry.info(session, registry.latest(session, process_id).id)
    opts = check_options(registry.options_schema(version), options or {}, doer=doer)
    start_data = {"options": opts, "client": client, "engagement_name": name}
    result = services.runtime.start(
        session, process_id, start_data, actor=doer.username, definition_id=version.id
    )
    engagement = Engagement(
        instance_id=result.instance_id,
        client=client,
        name=name,
        process_id=process_id,
        options=opts,
        created_by=doer.username,
        created_at=services.runtime.clock(),
    )
    session.add(engagement)
    session.flush()
    if members:
        staff(session, services, engagement, members, actor=doer.username)
    return engagement


def get_engagement(session: Session, engagement_id: int) -> Engagement:
    """An engagement by id (raises NotFoundError)."""
    engagement = session.get(Engagement, engagement_id)
    if engagement is None:
        raise NotFoundError(f"no engagement {engagement_id}")
    return engagement


def cancel_engagement(
    session: Session,
    services: Services,
    engagement_id: int,
    *,
    actor: str,
    reason: str,
    expected_version: str | None = None,
) -> StepResult:
    """Cancel a running engagement (ops leads and admins): its open tasks are withdrawn.

    Raises:
        PermissionDenied: the actor may not cancel engagements.
        NotFoundError: no such engagement.
        StaleVersion: the engagement moved on from `expected_version`.
        ConflictError: the engagement is not running.
        ValueError: no reason given.
    """
    doer = authorize(session, actor, CANCEL_ENGAGEMENT)
    if not reason.strip():
        raise ValueError("say why the engagement is cancelled")
    engagement = get_engagement(session, engagement_id)
    check_version(session, engagement_id, expected_version)
    audit.record(
        session,
        "engagement_cancelled",
        actor=doer.username,
        subject=f"engagement {engagement_id}",
        at=services.runtime.clock(),
        reason=reason.strip(),
    )
    return services.runtime.cancel(
        session, engagement.instance_id, actor=doer.username, reason=reason.strip()
    )


def change_team(
    session: Session,
    services: Services,
    engagement_id: int,
    *,
    actor: str,
    account_manager: str | None = None,
    project_manager: str | None = None,
    resource_manager: str | None = None,
    reason: str | None = None,
    expected_version: str | None = None,
) -> dict[str, tuple[str | None, str]]:
    """Change who is on an engagement's team, mid-flight (ops leads and admins).

    Open tasks of the changed roles' lanes follow (see `workflows.people.teams.staff`); the
    history's ``team_changed`` event lists the changes.

    Returns:
        role -> (previous username, new username), for the roles that changed.

    Raises:
        PermissionDenied: the actor may not change teams.
        NotFoundError: no such engagement or user.
        StaleVersion: the engagement moved on from `expected_version`.
        ValueError: nobody named, or someone named is inactive or lacks the role.
    """
    doer = authorize(session, actor, CHANGE_TEAM)
    engagement = get_engagement(session, engagement_id)
    check_version(session, engagement_id, expected_version)
    members = team_members(
        session,
        account_manager=account_manager,
        project_manager=project_manager,
        resource_manager=resource_manager,
    )
    if not members:
        raise ValueError("name at least one team member to change")
    changes = staff(session, services, engagement, members, actor=doer.username, reason=reason)
    if changes:
        audit.record(
            session,
            "team_changed",
            actor=doer.username,
            subject=f"engagement {engagement_id}",
            at=services.runtime.clock(),
            changes={
                role.replace("_", " "): f"{old or 'nobody'} -> {new}" for role, (old, new) in changes.items()
            },
            reason=(reason or "").strip() or None,
        )
    return changes


def view_engagement(session: Session, services: Services, engagement_id: int) -> EngagementView:
    """Everything the engagement page and `baton show` display (no workflow is loaded)."""
    engagement = get_engagement(session, engagement_id)
    instance = session.get(WorkflowInstance, engagement.instance_id)
    assert instance is not None  # the foreign key guarantees it
    definition = services.definitions.get(session, instance.definition_id)  # the row: note, deployer...
    task_specs = _task_specs(services.definitions.spec_for(definition))
    return EngagementView(
        engagement=engagement,
        instance=instance,
        definition=definition,
        open_tasks=services.runtime.ready_tasks(session, instance.id),
        history=services.runtime.history(session, instance.id),
        team=team_of(session, engagement.id),
        approval_steps=approval_steps(task_specs),
        time=clock_split(
            session,
            services.calendar,
            instance.id,
            instance.started_at,
            instance.ended_at or services.runtime.clock(),
        ),
        step_names={element_id(ts): ts.bpmn_name for ts in task_specs if getattr(ts, "bpmn_name", None)},
    )


def _task_specs(specs: tuple[Any, dict[str, Any]]) -> list[Any]:
    spec, subprocesses = specs
    return [ts for s in (spec, *subprocesses.values()) for ts in s.task_specs.values()]
